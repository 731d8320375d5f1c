//! The two P-256 backends give equal results: the same ECDH outputs and public keys, the
//! same points refused, the same verification verdicts, and each verifies the other's
//! signatures. (With the `aws-lc` feature off only the pure-Rust one exists; its own
//! results are then checked by the rest of the suite.)
#![cfg(feature = "aws-lc")]

use p256::ecdsa::SigningKey;
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_transfer::backend::{aws_lc, rust_crypto};

fn scalar(seed: u64) -> p256::NonZeroScalar {
    p256::SecretKey::generate_from_rng(&mut StdRng::seed_from_u64(seed)).to_nonzero_scalar()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn ecdh_and_public_keys_are_equal(a in any::<u64>(), b in any::<u64>(), compressed in any::<bool>()) {
        let peer = p256::PublicKey::from_secret_scalar(&scalar(b));
        let sec1 = peer.to_sec1_point(compressed);
        let aws = aws_lc::EcdhSecret::new(&scalar(a)).unwrap();
        let rust = rust_crypto::EcdhSecret::new(&scalar(a)).unwrap();
        let aws_x = aws.agree(&aws_lc::EcdhPeer::parse(sec1.as_bytes()).unwrap()).unwrap();
        let rust_x = rust.agree(&rust_crypto::EcdhPeer::parse(sec1.as_bytes()).unwrap()).unwrap();
        prop_assert_eq!(*aws_x, *rust_x);
        prop_assert_eq!(aws.public_key(), rust.public_key());
    }

    #[test]
    fn the_same_points_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..70), tag in 0u8..8) {
        let mut bytes = bytes;
        if let Some(first) = bytes.first_mut() {
            *first = tag;
        }
        prop_assert_eq!(
            aws_lc::EcdhPeer::parse(&bytes).is_some(),
            rust_crypto::EcdhPeer::parse(&bytes).is_some()
        );
    }

    #[test]
    fn verdicts_are_equal_and_signatures_cross_verify(seed in any::<u64>(), digest in any::<[u8; 32]>(), flip in 0usize..64) {
        let key = SigningKey::from(scalar(seed));
        let public = key.verifying_key();
        let aws_sig = aws_lc::Signer::new(&key).unwrap().sign_digest(&digest).unwrap();
        let rust_sig = rust_crypto::Signer::new(&key).unwrap().sign_digest(&digest).unwrap();
        for sig in [aws_sig, rust_sig] {
            let bytes: [u8; 64] = sig.to_bytes().into();
            prop_assert!(aws_lc::verify_digest(public, &digest, &bytes));
            prop_assert!(rust_crypto::verify_digest(public, &digest, &bytes));
            let mut altered = bytes;
            altered[flip] ^= 1;
            prop_assert_eq!(
                aws_lc::verify_digest(public, &digest, &altered),
                rust_crypto::verify_digest(public, &digest, &altered)
            );
            let mut other = digest;
            other[flip % 32] ^= 0x80;
            prop_assert!(!aws_lc::verify_digest(public, &other, &bytes));
            prop_assert!(!rust_crypto::verify_digest(public, &other, &bytes));
        }
    }
}

#[test]
fn the_identity_and_off_curve_points_are_refused_by_both() {
    let generator = p256::PublicKey::from_secret_scalar(&scalar(1)).to_sec1_point(false);
    let mut off_curve = generator.as_bytes().to_vec();
    off_curve[64] ^= 1;
    // x = 2^256 - 1 is not a field element.
    let mut x_too_large = [0xffu8; 33];
    x_too_large[0] = 2;
    for bad in [&[0u8][..], &off_curve, &x_too_large, &[]] {
        assert!(aws_lc::EcdhPeer::parse(bad).is_none(), "{bad:?}");
        assert!(rust_crypto::EcdhPeer::parse(bad).is_none(), "{bad:?}");
    }
}
