//! Both sealing backends: round trips, recipient binding, opaque failures, typed
//! malformations, and no panics on arbitrary bytes.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use p256::elliptic_curve::Generate;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_transfer::seal::ieee1609::Ieee1609Ecies;
#[cfg(feature = "secp256k1")]
use vkm_transfer::seal::secp256k1::EciesSecp256k1;
use vkm_transfer::seal::{OpenError, Sealer};

fn check_backend<S: Sealer>(sealer: &S, a: (&S::PublicKey, &S::SecretKey), b: &S::SecretKey) {
    let mut rng = StdRng::seed_from_u64(9);
    for len in [0usize, 1, 75, 200, 1000] {
        let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let sealed = sealer.seal(a.0, b"entry-a", &plaintext, &mut rng).unwrap();
        assert_eq!(*sealer.open(a.1, b"entry-a", &sealed).unwrap(), plaintext);
        // Another recipient, another binding, a flipped byte: one opaque error.
        assert_eq!(sealer.open(b, b"entry-a", &sealed), Err(OpenError::Failed));
        assert_eq!(
            sealer.open(a.1, b"entry-b", &sealed),
            Err(OpenError::Failed)
        );
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(
            sealer.open(a.1, b"entry-a", &flipped),
            Err(OpenError::Failed)
        );
        // Truncation below the fixed parts is a malformation, not a failure.
        assert!(matches!(
            sealer.open(a.1, b"entry-a", &sealed[..10]),
            Err(OpenError::Malformed(_))
        ));
    }
}

#[test]
fn ieee1609_round_trips_and_refuses() {
    let mut rng = StdRng::seed_from_u64(1);
    let a = p256::SecretKey::generate_from_rng(&mut rng);
    let b = p256::SecretKey::generate_from_rng(&mut rng);
    check_backend(&Ieee1609Ecies, (&a.public_key(), &a), &b);
    // A bad ephemeral point is a malformation.
    let sealed = Ieee1609Ecies
        .seal(&a.public_key(), b"", b"x", &mut rng)
        .unwrap();
    let mut bad = sealed.clone();
    bad[0] = 0x05;
    let result = Ieee1609Ecies.open(&a, b"", &bad);
    assert!(matches!(result, Err(OpenError::Malformed(_))), "{result:?}");
}

#[cfg(feature = "secp256k1")]
#[test]
fn secp256k1_round_trips_and_refuses() {
    let mut rng = StdRng::seed_from_u64(2);
    let a = k256::SecretKey::generate_from_rng(&mut rng);
    let b = k256::SecretKey::generate_from_rng(&mut rng);
    check_backend(&EciesSecp256k1, (&a.public_key(), &a), &b);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut rng = StdRng::seed_from_u64(3);
        let p = p256::SecretKey::generate_from_rng(&mut rng);
        prop_assert!(Ieee1609Ecies.open(&p, b"", &bytes).is_err());
        #[cfg(feature = "secp256k1")]
        {
            let k = k256::SecretKey::generate_from_rng(&mut rng);
            prop_assert!(EciesSecp256k1.open(&k, b"", &bytes).is_err());
        }
    }
}

#[test]
fn a_prepared_opening_key_opens_exactly_what_the_secret_opens() {
    use vkm_transfer::keys::{EncryptionScheme, EncryptionSecret, MemberKeys};
    use vkm_transfer::seal::ieee1609::OpeningKey;
    let mut rng = StdRng::seed_from_u64(12);
    let a = p256::SecretKey::generate_from_rng(&mut rng);
    let b = p256::SecretKey::generate_from_rng(&mut rng);
    let prepared = OpeningKey::new(&a).unwrap();
    for len in [0usize, 1, 200] {
        let plaintext = vec![7u8; len];
        let sealed = Ieee1609Ecies
            .seal(&a.public_key(), b"p1", &plaintext, &mut rng)
            .unwrap();
        assert_eq!(*prepared.open(b"p1", &sealed).unwrap(), plaintext);
        assert_eq!(prepared.open(b"p2", &sealed), Err(OpenError::Failed));
        // Every single-byte change and every truncation: the same answer as the secret.
        for i in 0..sealed.len() {
            for bit in [0x01u8, 0x80] {
                let mut flipped = sealed.clone();
                flipped[i] ^= bit;
                assert_eq!(
                    prepared.open(b"p1", &flipped),
                    Ieee1609Ecies.open(&a, b"p1", &flipped),
                    "byte {i}"
                );
            }
            assert_eq!(
                prepared.open(b"p1", &sealed[..i]),
                Ieee1609Ecies.open(&a, b"p1", &sealed[..i])
            );
        }
        assert!(matches!(
            prepared.open(b"p1", &sealed[..10]),
            Err(OpenError::Malformed(_))
        ));
    }
    // Member keys prepare theirs once, and never open with a replaced secret's.
    let mut keys = MemberKeys::generate(EncryptionScheme::Ieee1609P256, &mut rng);
    let before = *keys.opening_key().unwrap().public_key();
    keys.encryption = EncryptionSecret::P256(b.clone());
    assert!(keys.opening_key().is_none(), "stale preparation refused");
    assert_ne!(before, b.public_key());
    #[cfg(feature = "secp256k1")]
    {
        let secp = MemberKeys::generate(EncryptionScheme::EciesSecp256k1, &mut rng);
        assert!(secp.opening_key().is_none());
    }
}
