//! Crossing requests: what the source security manager accepts and what it refuses.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{CompactSignature, Encode, MemberId, RegistryAction, RegistryTx, Timestamp};
use vkm_transfer::certificate::CertificateError;
use vkm_transfer::crossing::{CrossingRequest, Freshness, ReplayGuard, RequestError, RsuId};
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::scenario::Scenario;

const NOW: Timestamp = Timestamp(1_700_000_000_000);
const HOUR: u64 = 3_600_000;

fn world() -> (Scenario, StdRng) {
    let mut rng = StdRng::seed_from_u64(5);
    (
        Scenario::new(2, 1, EncryptionScheme::Ieee1609P256, &mut rng),
        rng,
    )
}

#[test]
fn a_signed_fresh_request_passes_once() {
    let (s, mut rng) = world();
    let pseudonym = s.pseudonym(0, NOW, HOUR, &mut rng).unwrap();
    let request = CrossingRequest::sign(&pseudonym, MemberId(2), RsuId(7), NOW);
    assert_eq!(request.encoded_len(), 270);
    let later = Timestamp(NOW.0 + 300);
    request
        .check(&s.directory, RsuId(7), later, Freshness::default())
        .unwrap();
    let mut guard = ReplayGuard::new(Freshness::default());
    guard.record(&request).unwrap();
    assert_eq!(guard.record(&request), Err(RequestError::Replayed));
    // Forgotten once stale, when it would be refused as stale anyway.
    guard.forget_before(Timestamp(NOW.0 + 60_000));
    assert!(guard.is_empty());
}

#[test]
fn forged_stale_misrouted_and_future_requests_are_refused() {
    let (s, mut rng) = world();
    let owner = s.pseudonym(0, NOW, HOUR, &mut rng).unwrap();
    let thief = s.pseudonym(0, NOW, HOUR, &mut rng).unwrap();
    let fresh = Freshness::default();

    // Someone who knows the owner's materials but not its key.
    let mut forged = CrossingRequest::sign(&thief, MemberId(2), RsuId(1), NOW);
    forged.materials = owner.materials.clone();
    forged.signature = CrossingRequest::sign(&thief, MemberId(2), RsuId(1), NOW).signature;
    assert_eq!(
        forged.check(&s.directory, RsuId(1), NOW, fresh),
        Err(RequestError::BadSignature)
    );
    // A changed destination breaks the signature.
    let mut redirected = CrossingRequest::sign(&owner, MemberId(2), RsuId(1), NOW);
    redirected.destination = MemberId(1);
    assert_eq!(
        redirected.check(&s.directory, RsuId(1), NOW, fresh),
        Err(RequestError::BadSignature)
    );
    let request = CrossingRequest::sign(&owner, MemberId(2), RsuId(1), NOW);
    assert!(matches!(
        request.check(&s.directory, RsuId(1), Timestamp(NOW.0 + 10_001), fresh),
        Err(RequestError::Stale { .. })
    ));
    let ahead = CrossingRequest::sign(&owner, MemberId(2), RsuId(1), Timestamp(NOW.0 + 2_000));
    assert!(matches!(
        ahead.check(&s.directory, RsuId(1), Timestamp(NOW.0 + 999), fresh),
        Err(RequestError::FromTheFuture { .. })
    ));
    ahead
        .check(&s.directory, RsuId(1), Timestamp(NOW.0 + 1_000), fresh)
        .unwrap();
    assert_eq!(
        request.check(&s.directory, RsuId(2), NOW, fresh),
        Err(RequestError::WrongRsu {
            signed_for: RsuId(1),
            arrived_via: RsuId(2)
        })
    );
    let mut zero = request.clone();
    zero.signature = CompactSignature::default();
    assert_eq!(
        zero.check(&s.directory, RsuId(1), NOW, fresh),
        Err(RequestError::BadSignature)
    );
}

#[test]
fn revoked_and_expired_pseudonyms_are_refused() {
    let (s, mut rng) = world();
    let pseudonym = s.pseudonym(0, NOW, HOUR, &mut rng).unwrap();
    let late = Timestamp(NOW.0 + HOUR);
    let request = CrossingRequest::sign(&pseudonym, MemberId(2), RsuId(1), late);
    assert_eq!(
        request.check(&s.directory, RsuId(1), late, Freshness::default()),
        Err(RequestError::Certificate(CertificateError::Expired(late)))
    );
    let mut directory = s.directory.clone();
    directory
        .apply(&RegistryTx {
            timestamp: NOW,
            actions: vec![RegistryAction::RevokeCertificate(
                pseudonym.materials.certificate.id(),
            )],
            authorization: None,
        })
        .unwrap();
    let request = CrossingRequest::sign(&pseudonym, MemberId(2), RsuId(1), NOW);
    assert_eq!(
        request.check(&directory, RsuId(1), NOW, Freshness::default()),
        Err(RequestError::Certificate(CertificateError::Revoked))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn requests_round_trip_and_bytes_never_panic(
        seed in any::<u64>(),
        rsu in any::<u32>(),
        at in any::<u64>(),
        cut in 0usize..270,
        noise in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let s = Scenario::new(1, 1, EncryptionScheme::Ieee1609P256, &mut rng);
        let pseudonym = s.pseudonym(0, NOW, HOUR, &mut rng).unwrap();
        let request = CrossingRequest::sign(&pseudonym, MemberId(1), RsuId(rsu), Timestamp(at));
        let bytes = request.to_bytes();
        prop_assert_eq!(vkm_block::deserialize::<CrossingRequest>(&bytes).unwrap(), request);
        prop_assert!(vkm_block::deserialize::<CrossingRequest>(&bytes[..cut]).is_err());
        let _ = vkm_block::deserialize::<CrossingRequest>(&noise);
    }
}

/// On the wire a request is IEEE 1609.2 signed data carrying the pseudonym certificate:
/// `vkm-its` verifies it by the 1609.2 rules alone, and reads the payload and time.
#[test]
fn a_request_is_ieee1609_signed_data() {
    let (s, mut rng) = world();
    let pseudonym = s.pseudonym(0, NOW, HOUR, &mut rng).unwrap();
    let request = CrossingRequest::sign(&pseudonym, MemberId(2), RsuId(7), NOW);
    let data = request.signed_data().unwrap();
    let signer = data.verify(None).unwrap();
    assert_eq!(&signer, pseudonym.materials.certificate.ticket());
    assert_eq!(data.psid(), Some(vkm_its::PSID_VKM_KEY_TRANSFER));
    assert_eq!(data.payload(), Some(&[2, 0, 0, 0, 7, 0, 0, 0][..]));
    assert_eq!(
        data.generation_time_us(),
        Some((NOW.0 - vkm_its::EPOCH_UNIX_S * 1000) * 1000)
    );
    // The vkm encoding is the signed data behind a length.
    assert_eq!(&request.to_bytes()[4..], data.to_oer());
}
