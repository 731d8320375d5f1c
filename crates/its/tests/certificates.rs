//! vkm's own certificates: issue, encode, decode, verify chains and refuse bad ones.

use p256::ecdsa::SigningKey;
use proptest::prelude::*;
use vkm_its::{
    Certificate, CertificateError, CertificateRequest, ChainError, ChainPolicy, DecodeError,
    EciesRecipient, EncryptedData, HashedId8, Issuer, PSID_VKM_KEY_TRANSFER, Psid, SignedData,
    Time32, Validity, verify_chain,
};

const START: Time32 = Time32(700_000_000);
const YEAR: u64 = 365 * 86_400;

fn key(byte: u8) -> SigningKey {
    SigningKey::from_slice(&[byte; 32]).expect("a valid scalar")
}

struct Pki {
    root_key: SigningKey,
    root: Certificate,
    cm_key: SigningKey,
    cm: Certificate,
    vehicle_key: SigningKey,
    ticket: Certificate,
}

fn authority(name: &str, key: &SigningKey) -> CertificateRequest {
    CertificateRequest {
        name: Some(name.into()),
        validity: Validity {
            start: START,
            duration_s: YEAR,
        },
        app_permissions: vec![PSID_VKM_KEY_TRANSFER],
        issue: Some(1),
        verification_key: *key.verifying_key(),
        encryption_key: None,
    }
}

fn ticket_request(key: &SigningKey, duration_s: u64) -> CertificateRequest {
    CertificateRequest {
        name: None,
        validity: Validity {
            start: START,
            duration_s,
        },
        app_permissions: vec![PSID_VKM_KEY_TRANSFER],
        issue: None,
        verification_key: *key.verifying_key(),
        encryption_key: Some(key.verifying_key().into()),
    }
}

fn pki() -> Pki {
    let root_key = key(1);
    let root = Certificate::root(
        &root_key,
        "vkm test root",
        Validity {
            start: START,
            duration_s: 2 * YEAR,
        },
    )
    .expect("root");
    let cm_key = key(2);
    let cm = root
        .issue(&root_key, &authority("central manager 1", &cm_key))
        .expect("cm");
    let vehicle_key = key(3);
    let ticket = cm
        .issue(&cm_key, &ticket_request(&vehicle_key, 7 * 86_400))
        .expect("ticket");
    Pki {
        root_key,
        root,
        cm_key,
        cm,
        vehicle_key,
        ticket,
    }
}

fn policy_at(at: Time32) -> ChainPolicy<'static> {
    ChainPolicy {
        at,
        psid: Some(PSID_VKM_KEY_TRANSFER),
        revoked: &|_| false,
    }
}

#[test]
fn a_ticket_chains_to_its_root() {
    let p = pki();
    assert_eq!(
        p.ticket.issuer(),
        Issuer::Digest(vkm_its::HashAlgorithm::Sha256, p.cm.hashed_id8().unwrap())
    );
    assert_eq!(p.ticket.id(), "none");
    assert_eq!(p.cm.id(), "central manager 1");
    assert_eq!(p.ticket.app_permissions(), vec![PSID_VKM_KEY_TRANSFER]);
    assert_eq!(
        p.ticket.p256_encryption_key().unwrap(),
        p256::PublicKey::from(p.vehicle_key.verifying_key())
    );
    verify_chain(
        &[p.ticket.clone(), p.cm.clone(), p.root.clone()],
        &policy_at(Time32(START.0 + 60)),
    )
    .expect("valid chain");
    // A CA certificate alone chains too.
    verify_chain(
        &[p.cm.clone(), p.root.clone()],
        &policy_at(Time32(START.0 + 60)),
    )
    .expect("valid chain");
    // The ETSI authorization ticket is small.
    assert!(
        p.ticket.to_oer().len() <= 180,
        "{}",
        p.ticket.to_oer().len()
    );
}

#[test]
fn a_forged_link_is_refused() {
    let p = pki();
    // A ticket issued by a key that is not the CM's, naming the CM as issuer.
    let rogue = key(9);
    let mut forged = p.ticket.to_oer().to_vec();
    let honest = p.ticket.to_oer();
    let other =
        p.cm.issue(&p.cm_key, &ticket_request(&rogue, 7 * 86_400))
            .expect("ticket");
    // Same structure, other key: swap the signature of the honest ticket in.
    let sig_len = 66;
    forged[honest.len() - sig_len..].copy_from_slice(&other.to_oer()[honest.len() - sig_len..]);
    let forged = Certificate::from_oer(&forged).expect("decodes");
    let err = verify_chain(&[forged, p.cm, p.root], &policy_at(Time32(START.0 + 60)));
    assert!(
        matches!(
            err,
            Err(ChainError::Signature {
                depth: 0,
                error: CertificateError::BadSignature
            })
        ),
        "{err:?}"
    );
}

#[test]
fn a_certificate_from_another_authority_is_refused() {
    let p = pki();
    let other_key = key(4);
    let other_cm = p
        .root
        .issue(&p.root_key, &authority("central manager 2", &other_key))
        .expect("cm");
    let err = verify_chain(
        &[p.ticket, other_cm, p.root],
        &policy_at(Time32(START.0 + 60)),
    )
    .expect_err("wrong issuer");
    assert_eq!(err.reason(), "issuer_mismatch");
}

#[test]
fn an_expired_certificate_is_refused() {
    let p = pki();
    let after = Time32(START.0 + 7 * 86_400);
    let err =
        verify_chain(&[p.ticket.clone(), p.cm, p.root], &policy_at(after)).expect_err("expired");
    assert!(
        matches!(err, ChainError::Expired { depth: 0, .. }),
        "{err:?}"
    );
    assert_eq!(err.reason(), "expired");
    let before = Time32(START.0 - 1);
    assert!(!p.ticket.validity().contains(before));
}

#[test]
fn a_missing_permission_is_refused() {
    let p = pki();
    let policy = ChainPolicy {
        at: Time32(START.0 + 60),
        psid: Some(Psid(36)),
        revoked: &|_| false,
    };
    let err = verify_chain(&[p.ticket, p.cm, p.root], &policy).expect_err("no CAM permission");
    assert_eq!(err, ChainError::MissingPermission(36));
}

#[test]
fn a_revoked_certificate_is_refused() {
    let p = pki();
    let revoked: HashedId8 = p.cm.hashed_id8().unwrap();
    let is_revoked = move |id: &HashedId8| *id == revoked;
    let policy = ChainPolicy {
        at: Time32(START.0 + 60),
        psid: Some(PSID_VKM_KEY_TRANSFER),
        revoked: &is_revoked,
    };
    let err = verify_chain(&[p.ticket, p.cm, p.root], &policy).expect_err("revoked");
    assert!(
        matches!(err, ChainError::Revoked { depth: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn an_end_entity_cannot_issue_and_issuers_check_what_they_grant() {
    let p = pki();
    let err = p
        .ticket
        .issue(&p.vehicle_key, &ticket_request(&key(5), 60))
        .expect_err("a ticket is no authority");
    assert!(matches!(err, CertificateError::Encode(_)), "{err:?}");
    let err =
        p.cm.issue(&p.root_key, &ticket_request(&key(5), 60))
            .expect_err("wrong key");
    assert_eq!(err, CertificateError::KeyMismatch);
    let err =
        p.cm.issue(&p.cm_key, &ticket_request(&key(5), 2 * YEAR))
            .expect_err("outlives its issuer");
    assert!(matches!(err, CertificateError::Encode(_)), "{err:?}");
}

#[test]
fn hostile_bytes_get_typed_errors() {
    let p = pki();
    let bytes = p.ticket.to_oer();
    assert_eq!(
        Certificate::from_oer(&[]),
        Err(CertificateError::Decode(DecodeError::Empty))
    );
    let long = vec![0u8; vkm_its::MAX_CERTIFICATE_BYTES + 1];
    assert!(matches!(
        Certificate::from_oer(&long),
        Err(CertificateError::Decode(DecodeError::TooLong { .. }))
    ));
    let trailing = [bytes, &[0u8][..]].concat();
    assert_eq!(
        Certificate::from_oer(&trailing),
        Err(CertificateError::Decode(DecodeError::Trailing(1)))
    );
    for cut in 0..bytes.len() {
        assert!(
            Certificate::from_oer(&bytes[..cut]).is_err(),
            "prefix {cut}"
        );
    }
    // A SEQUENCE OF claiming 2^40 elements in a few bytes: an error, not an abort
    // (rasn reserved the claimed count before reading; vendor/rasn bounds it).
    let huge = [0x05u8, 0x01, 0x00, 0x00, 0x00, 0x00, 0x80];
    assert!(rasn::coer::decode::<vkm_its::asn::base_types::SequenceOfPsidSsp>(&huge).is_err());
}

#[test]
fn signed_data_round_trips_and_names_its_signer() {
    let p = pki();
    let signed = SignedData::sign(
        b"hello",
        PSID_VKM_KEY_TRANSFER,
        42,
        &p.ticket,
        &p.vehicle_key,
    )
    .expect("signs");
    let again = SignedData::from_oer(signed.to_oer()).expect("decodes");
    assert_eq!(again.payload(), Some(&b"hello"[..]));
    assert_eq!(again.generation_time_us(), Some(42));
    again.verify(Some(&p.ticket)).expect("verifies");
    assert!(again.verify(Some(&p.cm)).is_err(), "named signer only");
    assert!(
        again.verify(None).is_err(),
        "digest signer needs its certificate"
    );
}

fn arb_validity() -> impl Strategy<Value = Validity> {
    (0u32..u32::MAX / 2, 1u64..(20 * YEAR)).prop_map(|(start, duration_s)| Validity {
        start: Time32(start),
        duration_s,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn issued_certificates_round_trip_and_verify(
        name in proptest::option::of("[ -~]{0,255}"),
        validity in arb_validity(),
        psids in proptest::collection::vec(any::<u64>().prop_map(|v| Psid(v >> 1)), 0..4),
        seed in 1u8..200,
        with_encryption in any::<bool>(),
    ) {
        let subject = key(seed);
        let root_key = key(201);
        let root = Certificate::root(&root_key, "r", Validity { start: Time32(0), duration_s: u64::from(u32::MAX) * 2 }).unwrap();
        let request = CertificateRequest {
            name,
            validity,
            app_permissions: psids.clone(),
            issue: psids.is_empty().then_some(1),
            verification_key: *subject.verifying_key(),
            encryption_key: with_encryption.then(|| subject.verifying_key().into()),
        };
        let cert = root.issue(&root_key, &request).unwrap();
        let decoded = Certificate::from_oer(cert.to_oer()).unwrap();
        prop_assert_eq!(&decoded, &cert);
        prop_assert_eq!(decoded.app_permissions(), psids);
        prop_assert!(decoded.validity().covers(&validity), "{:?} vs {:?}", decoded.validity(), validity);
        prop_assert!(decoded.validity().duration_s - validity.duration_s < 216_000);
        decoded.verify_signature(Some(&root)).unwrap();
        prop_assert_eq!(decoded.p256_verification_key().unwrap(), *subject.verifying_key());
    }

    #[test]
    fn encrypted_data_round_trips(
        recipients in proptest::collection::vec((any::<[u8; 8]>(), any::<[u8; 32]>(), any::<bool>(), any::<[u8; 16]>(), any::<[u8; 16]>()), 1..4),
        nonce in any::<[u8; 12]>(),
        ciphertext in proptest::collection::vec(any::<u8>(), 16..400),
    ) {
        let data = EncryptedData {
            recipients: recipients.iter().map(|(id, x, odd, c, t)| {
                let mut v = [0u8; 33];
                v[0] = if *odd { 3 } else { 2 };
                v[1..].copy_from_slice(x);
                EciesRecipient { kind: if *odd { vkm_its::RecipientKind::Certificate } else { vkm_its::RecipientKind::EncryptionKey }, recipient: HashedId8(*id), v, c: *c, t: *t }
            }).collect(),
            nonce,
            ciphertext,
        };
        let bytes = data.to_oer().unwrap();
        prop_assert_eq!(EncryptedData::from_oer(&bytes).unwrap(), data);
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            prop_assert!(EncryptedData::from_oer(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Certificate::from_oer(&bytes);
        let _ = EncryptedData::from_oer(&bytes);
        let _ = SignedData::from_oer(&bytes);
    }
}
