//! The two structures end to end, and everything that must be refused.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::collections::HashSet;

use p256::ecdsa::SigningKey;
use p256::elliptic_curve::Generate;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{KeyTransferTx, MemberId, Timestamp};
use vkm_transfer::certificate::{CertificateError, PseudonymCertificate};
use vkm_transfer::directory::Directory;
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::scenario::Scenario;
use vkm_transfer::signature::sign;
use vkm_transfer::traditional::{RelayedTransfer, deliver, originate, relay};
use vkm_transfer::transfer::{
    TransferError, admit, build_key_transfer, check_key_transfer, check_key_transfers,
};

const NOW: Timestamp = Timestamp(1_700_000_000_000);
const HOUR: u64 = 3_600_000;

fn world(scheme: EncryptionScheme) -> (Scenario, StdRng) {
    let mut rng = StdRng::seed_from_u64(17);
    (Scenario::new(3, 2, scheme, &mut rng), rng)
}

fn transfer(s: &Scenario, rng: &mut StdRng, from: u32, to: u32, seq: u64) -> KeyTransferTx {
    let vehicle = s.vehicle(0, NOW, HOUR, rng).unwrap();
    let dest = s.directory.member(MemberId(to)).unwrap();
    build_key_transfer(
        s.keys(MemberId(from)).unwrap(),
        MemberId(from),
        seq,
        dest,
        NOW,
        &vehicle,
        rng,
    )
    .unwrap()
}

#[test]
fn blockchain_structure_delivers_with_both_backends() {
    for &scheme in EncryptionScheme::AVAILABLE {
        let (s, mut rng) = world(scheme);
        let vehicle = s.vehicle(0, NOW, HOUR, &mut rng).unwrap();
        let dest = s.directory.member(MemberId(3)).unwrap();
        let tx = build_key_transfer(
            s.keys(MemberId(1)).unwrap(),
            MemberId(1),
            0,
            dest,
            NOW,
            &vehicle,
            &mut rng,
        )
        .unwrap();
        let seen = HashSet::new();
        check_key_transfer(&tx, &s.directory, &seen).unwrap();
        let admitted = admit(
            &tx,
            s.keys(MemberId(3)).unwrap(),
            MemberId(3),
            &s.directory,
            NOW,
        )
        .unwrap();
        assert_eq!(admitted.materials, vehicle);
        assert_eq!(admitted.from, MemberId(1));
    }
}

#[test]
fn unregistered_signer_is_refused() {
    let (s, mut rng) = world(EncryptionScheme::Ieee1609P256);
    let mut tx = transfer(&s, &mut rng, 1, 3, 0);
    let outsider = SigningKey::generate_from_rng(&mut rng);
    tx.signature = sign(&outsider, &tx.signing_preimage());
    assert_eq!(
        check_key_transfer(&tx, &s.directory, &HashSet::new()),
        Err(TransferError::BadSignature)
    );
    tx.source = MemberId(999);
    assert_eq!(
        check_key_transfer(&tx, &s.directory, &HashSet::new()),
        Err(TransferError::UnknownSender(MemberId(999)))
    );
}

#[test]
fn replay_is_refused() {
    let (s, mut rng) = world(EncryptionScheme::Ieee1609P256);
    let tx = transfer(&s, &mut rng, 1, 3, 41);
    let mut seen = HashSet::new();
    check_key_transfer(&tx, &s.directory, &seen).unwrap();
    seen.insert((tx.source, tx.sequence));
    assert_eq!(
        check_key_transfer(&tx, &s.directory, &seen),
        Err(TransferError::Replayed {
            sender: MemberId(1),
            sequence: 41
        })
    );
}

#[test]
fn changed_fields_break_the_signature() {
    let (s, mut rng) = world(EncryptionScheme::Ieee1609P256);
    let tx = transfer(&s, &mut rng, 1, 3, 0);
    let seen = HashSet::new();
    let changes: [fn(&mut KeyTransferTx); 4] = [
        |t| t.destination = MemberId(4),
        |t| t.sequence += 1,
        |t| t.timestamp.0 += 1,
        |t| t.source = MemberId(2),
    ];
    for change in changes {
        let mut changed = tx.clone();
        change(&mut changed);
        assert_eq!(
            check_key_transfer(&changed, &s.directory, &seen),
            Err(TransferError::BadSignature)
        );
    }
}

#[test]
fn endpoints_must_be_distinct_security_managers() {
    let (s, mut rng) = world(EncryptionScheme::Ieee1609P256);
    let cm = s.domains[0].central_manager.id;
    let mut tx = transfer(&s, &mut rng, 1, 3, 0);
    tx.destination = cm;
    assert_eq!(
        check_key_transfer(&tx, &s.directory, &HashSet::new()),
        Err(TransferError::NotASecurityManager(cm))
    );
    tx.destination = MemberId(1);
    assert_eq!(
        check_key_transfer(&tx, &s.directory, &HashSet::new()),
        Err(TransferError::SameEndpoints(MemberId(1)))
    );
}

#[test]
fn another_security_manager_cannot_open() {
    let (s, mut rng) = world(EncryptionScheme::Ieee1609P256);
    let tx = transfer(&s, &mut rng, 1, 3, 0);
    // SM 4 pretends to be the destination: its key and binding do not open it.
    let mut redirected = tx.clone();
    redirected.destination = MemberId(4);
    assert_eq!(
        admit(
            &redirected,
            s.keys(MemberId(4)).unwrap(),
            MemberId(4),
            &s.directory,
            NOW
        ),
        Err(TransferError::CannotOpen)
    );
    assert_eq!(
        admit(
            &tx,
            s.keys(MemberId(4)).unwrap(),
            MemberId(4),
            &s.directory,
            NOW
        ),
        Err(TransferError::NotForUs(MemberId(3)))
    );
}

#[test]
fn expired_and_forged_certificates_are_refused() {
    let (s, mut rng) = world(EncryptionScheme::Ieee1609P256);
    let tx = transfer(&s, &mut rng, 1, 3, 0);
    let keys = s.keys(MemberId(3)).unwrap();
    let later = Timestamp(NOW.0 + 2 * HOUR);
    assert_eq!(
        admit(&tx, keys, MemberId(3), &s.directory, later),
        Err(TransferError::Certificate(CertificateError::Expired(
            Timestamp(NOW.0 + HOUR)
        )))
    );

    // A certificate claiming the central manager as issuer but signed by someone else.
    let mut vehicle = s.vehicle(0, NOW, HOUR, &mut rng).unwrap();
    let forger = SigningKey::generate_from_rng(&mut rng);
    // The ticket's last 64 bytes are its signature's r and s: put the forger's there.
    let mut forged = vehicle.certificate.ticket().to_oer().to_vec();
    let at = forged.len() - 64;
    forged[at..].copy_from_slice(&sign(&forger, b"any").0);
    vehicle.certificate =
        PseudonymCertificate::from_ticket(vkm_its::Certificate::from_oer(&forged).unwrap())
            .unwrap();
    let dest = s.directory.member(MemberId(3)).unwrap();
    let tx = build_key_transfer(
        s.keys(MemberId(1)).unwrap(),
        MemberId(1),
        1,
        dest,
        NOW,
        &vehicle,
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        admit(&tx, keys, MemberId(3), &s.directory, NOW),
        Err(TransferError::Certificate(CertificateError::BadSignature))
    );
    // A certificate "issued" by a security manager.
    vehicle.certificate = PseudonymCertificate::issue(
        MemberId(2),
        &s.keys(MemberId(2)).unwrap().signing,
        forger.verifying_key(),
        &p256::SecretKey::generate_from_rng(&mut rng).public_key(),
        NOW,
        later,
    );
    let tx = build_key_transfer(
        s.keys(MemberId(1)).unwrap(),
        MemberId(1),
        2,
        dest,
        NOW,
        &vehicle,
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        admit(&tx, keys, MemberId(3), &s.directory, NOW),
        Err(TransferError::Certificate(CertificateError::UnknownIssuer(
            vehicle.certificate.issuer()
        )))
    );
    // It names the authority certificate security manager 2 would have, which the
    // registry does not hold.
    assert_eq!(
        vehicle.certificate.issuer(),
        vkm_transfer::certificate::authority_certificate(
            MemberId(2),
            &s.keys(MemberId(2)).unwrap().signing
        )
        .hashed_id8()
        .unwrap()
    );
}

#[test]
fn parallel_checking_matches_sequential() {
    let (s, mut rng) = world(EncryptionScheme::Ieee1609P256);
    let mut txs: Vec<_> = (0..40)
        .map(|i| transfer(&s, &mut rng, 1 + (i % 2) as u32, 3 + (i % 3) as u32, i))
        .collect();
    txs[7].signature.0[5] ^= 1;
    txs[20].destination = MemberId(1);
    let seen: HashSet<(MemberId, u64)> = [(MemberId(2), 11)].into();
    let sequential = check_key_transfers(&txs, &s.directory, &seen, 1);
    assert_eq!(
        check_key_transfers(&txs, &s.directory, &seen, 2),
        sequential
    );
    assert_eq!(
        check_key_transfers(&txs, &s.directory, &seen, 7),
        sequential
    );
    assert_eq!(
        sequential.iter().filter(|r| r.is_err()).count(),
        3,
        "{sequential:?}"
    );
}

#[test]
fn traditional_same_and_cross_domain() {
    let (s, mut rng) = world(EncryptionScheme::Ieee1609P256);
    let vehicle = s.vehicle(0, NOW, HOUR, &mut rng).unwrap();
    let cm_a = s.domains[0].central_manager.id;
    let cm_b = s.domains[1].central_manager.id;

    let to = |destination: u32, sequence| RelayedTransfer {
        destination: MemberId(destination),
        sequence,
        timestamp: NOW,
    };

    // Same domain: SM 1 -> CA-A -> SM 2.
    let m1 = originate(
        s.keys(MemberId(1)).unwrap(),
        MemberId(1),
        to(2, 0),
        &vehicle,
        &s.directory,
        &mut rng,
    )
    .unwrap();
    assert_eq!(m1.receiver, cm_a);
    let m2 = relay(&m1, s.keys(cm_a).unwrap(), cm_a, &s.directory, &mut rng).unwrap();
    assert_eq!(m2.receiver, MemberId(2));
    let admitted = deliver(
        &m2,
        s.keys(MemberId(2)).unwrap(),
        MemberId(2),
        &s.directory,
        NOW,
    )
    .unwrap();
    assert_eq!(admitted.materials, vehicle);

    // Cross domain: SM 1 -> CA-A -> CA-B -> SM 3.
    let m1 = originate(
        s.keys(MemberId(1)).unwrap(),
        MemberId(1),
        to(3, 1),
        &vehicle,
        &s.directory,
        &mut rng,
    )
    .unwrap();
    let m2 = relay(&m1, s.keys(cm_a).unwrap(), cm_a, &s.directory, &mut rng).unwrap();
    assert_eq!(m2.receiver, cm_b);
    let m3 = relay(&m2, s.keys(cm_b).unwrap(), cm_b, &s.directory, &mut rng).unwrap();
    assert_eq!(m3.receiver, MemberId(3));
    assert_eq!(
        deliver(
            &m3,
            s.keys(MemberId(3)).unwrap(),
            MemberId(3),
            &s.directory,
            NOW
        )
        .unwrap()
        .materials,
        vehicle
    );

    // A relay that did not receive the message cannot pass it on; a tampered hop fails.
    assert_eq!(
        relay(&m1, s.keys(cm_b).unwrap(), cm_b, &s.directory, &mut rng),
        Err(TransferError::NotForUs(cm_a))
    );
    let mut tampered = m2.clone();
    tampered.destination = MemberId(4);
    assert_eq!(
        relay(
            &tampered,
            s.keys(cm_b).unwrap(),
            cm_b,
            &s.directory,
            &mut rng
        ),
        Err(TransferError::BadSignature)
    );
}

/// Table I in IEEE 1609.2 structures: the cipher is an `Ieee1609Dot2Data` with
/// `EncryptedData` for the destination's key (read here with rasn-its's own types, not
/// vkm's wrapper), and the opened pseudonym certificate is an authorization ticket that
/// chains, by the 1609.2 rules alone, to the authority certificate the registry holds.
#[test]
fn the_transfer_carries_ieee1609_structures() {
    use vkm_its::asn;
    let (s, mut rng) = world(EncryptionScheme::Ieee1609P256);
    let tx = transfer(&s, &mut rng, 1, 3, 0);
    let data: asn::Ieee1609Dot2Data = rasn::coer::decode(tx.ciphertext.as_bytes()).unwrap();
    assert_eq!(data.protocol_version, 3);
    let asn::Ieee1609Dot2Content::EncryptedData(encrypted) = data.content else {
        panic!("not EncryptedData");
    };
    let [asn::RecipientInfo::RekRecipInfo(recipient)] = encrypted.recipients.0.as_slice() else {
        panic!("one rekRecipInfo recipient");
    };
    let dest = s.directory.member(MemberId(3)).unwrap();
    let vkm_transfer::keys::EncryptionPublic::P256(dest_key) = dest.encryption else {
        panic!("P-256");
    };
    assert_eq!(
        *recipient.recipient_id.0,
        vkm_its::encryption_key_id(&dest_key).0
    );
    assert!(matches!(
        recipient.enc_key,
        asn::EncryptedDataEncryptionKey::EciesNistP256(_)
    ));
    assert!(matches!(
        encrypted.ciphertext,
        asn::SymmetricCiphertext::Aes128ccm(_)
    ));

    let keys = s.keys(MemberId(3)).unwrap();
    let admitted = admit(&tx, keys, MemberId(3), &s.directory, NOW).unwrap();
    let ticket = admitted.materials.certificate.ticket().clone();
    let issuer = s
        .directory
        .central_manager_by_certificate(&admitted.materials.certificate.issuer())
        .unwrap();
    let authority = vkm_its::Certificate::from_oer(&issuer.record.authority_certificate).unwrap();
    assert_eq!(ticket.id(), "none", "TS 103 097 tickets carry no name");
    assert_eq!(
        ticket.app_permissions(),
        vec![vkm_its::PSID_VKM_KEY_TRANSFER]
    );
    let policy = vkm_its::ChainPolicy {
        at: vkm_its::Time32::from_unix_s(NOW.0 / 1000 + 60),
        psid: Some(vkm_its::PSID_VKM_KEY_TRANSFER),
        revoked: &|_| false,
    };
    vkm_its::verify_chain(&[ticket, authority], &policy).unwrap();
}

/// A central manager whose registry entry carries no authority certificate (or one of
/// another key) issues nothing a security manager accepts.
#[test]
fn a_central_manager_without_its_authority_certificate_is_an_unknown_issuer() {
    let (s, _) = world(EncryptionScheme::Ieee1609P256);
    let cm = &s.domains[0].central_manager;
    let mut record = cm.keys.member(
        cm.id,
        vkm_block::Role::CentralManager,
        s.domains[0].name.clone(),
    );
    assert!(!record.authority_certificate.is_empty());
    let other = &s.domains[1].central_manager;
    record.authority_certificate = other
        .keys
        .member(
            other.id,
            vkm_block::Role::CentralManager,
            s.domains[1].name.clone(),
        )
        .authority_certificate;
    let member = vkm_transfer::directory::RegisteredMember::new(record.clone()).unwrap();
    assert!(member.authority.is_none(), "another key's certificate");
    record.authority_certificate.clear();
    let member = vkm_transfer::directory::RegisteredMember::new(record).unwrap();
    assert!(member.authority.is_none());
}

/// Validity windows outside what IEEE 1609.2 time can say (before 2004, after 2140) are
/// cut to the authority's, never a panic.
#[test]
fn pseudonyms_at_the_ends_of_time_are_issued() {
    let (s, mut rng) = world(EncryptionScheme::Ieee1609P256);
    let cm = &s.domains[0].central_manager;
    for (from, until) in [
        (0, 1_000),
        (0, u64::MAX),
        (u64::MAX - 1, u64::MAX),
        (NOW.0, NOW.0),
    ] {
        let p = vkm_transfer::central::Pseudonym::issue(
            cm.id,
            &cm.keys.signing,
            Timestamp(from),
            Timestamp(until),
            &mut rng,
        );
        let c = &p.materials.certificate;
        assert!(c.valid_from() < c.valid_until(), "{from} {until}");
        let decoded: vkm_transfer::IdentityMaterials =
            vkm_block::deserialize(&vkm_block::serialize(&p.materials)).unwrap();
        assert_eq!(decoded, p.materials);
    }
}
