//! The fast verifier against `p256`'s reference verifier (plus the low-S rule): on random
//! keys, messages and corrupted signatures they must accept and refuse exactly alike.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use p256::ecdsa::SigningKey;
use proptest::prelude::*;
use vkm_block::CompactSignature;
use vkm_transfer::signature::{
    PendingSignature, RegisteredKey, sign, signing_digest, verify, verify_batch, verify_reference,
};

fn key(bytes: [u8; 32]) -> Option<SigningKey> {
    SigningKey::from_slice(&bytes).ok()
}

/// The group order n of P-256, big-endian.
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

#[derive(Debug, Clone)]
enum Corruption {
    None,
    FlipBit(usize),
    SwapHalves,
    ZeroR,
    ZeroS,
    OrderAsR,
    AllOnes,
    OtherMessage,
    Random([u8; 32], [u8; 32]),
}

fn corruption() -> impl Strategy<Value = Corruption> {
    prop_oneof![
        3 => Just(Corruption::None),
        4 => (0usize..512).prop_map(Corruption::FlipBit),
        1 => Just(Corruption::SwapHalves),
        1 => Just(Corruption::ZeroR),
        1 => Just(Corruption::ZeroS),
        1 => Just(Corruption::OrderAsR),
        1 => Just(Corruption::AllOnes),
        2 => Just(Corruption::OtherMessage),
        2 => (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(r, s)| Corruption::Random(r, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn fast_path_agrees_with_reference(
        secret in any::<[u8; 32]>(),
        message in proptest::collection::vec(any::<u8>(), 0..100),
        corruption in corruption(),
    ) {
        let Some(signer) = key(secret) else { return Ok(()) };
        let fast = RegisteredKey::new(*signer.verifying_key());
        let mut signature = sign(&signer, &message);
        let mut checked = message.clone();
        match corruption {
            Corruption::None => {}
            Corruption::FlipBit(bit) => signature.0[bit / 8] ^= 1 << (bit % 8),
            Corruption::SwapHalves => {
                let (r, s) = signature.0.split_at_mut(32);
                r.swap_with_slice(s);
            }
            Corruption::ZeroR => signature.0[..32].fill(0),
            Corruption::ZeroS => signature.0[32..].fill(0),
            Corruption::OrderAsR => signature.0[..32].copy_from_slice(&ORDER),
            Corruption::AllOnes => signature = CompactSignature([0xff; 64]),
            Corruption::OtherMessage => checked.push(1),
            Corruption::Random(r, s) => {
                signature.0[..32].copy_from_slice(&r);
                signature.0[32..].copy_from_slice(&s);
            }
        }
        let reference = verify_reference(signer.verifying_key(), &checked, &signature);
        prop_assert_eq!(fast.verify(&checked, &signature), reference);
        // AWS-LC, for keys without a table, agrees too (high S, zero, out of range...).
        prop_assert_eq!(verify(signer.verifying_key(), &checked, &signature), reference);
    }

    #[test]
    fn batch_agrees_with_one_by_one(
        secrets in proptest::collection::vec(any::<[u8; 32]>(), 1..4),
        items in proptest::collection::vec((any::<prop::sample::Index>(), any::<u16>(), corruption()), 0..12),
    ) {
        let signers: Vec<SigningKey> = secrets.into_iter().filter_map(key).collect();
        if signers.is_empty() {
            return Ok(());
        }
        let keys: Vec<RegisteredKey> = signers.iter().map(|s| RegisteredKey::new(*s.verifying_key())).collect();
        let mut pending = Vec::new();
        for (pick, message, corruption) in items {
            let i = pick.index(signers.len());
            let message = message.to_le_bytes();
            let mut signature = sign(&signers[i], &message);
            match corruption {
                Corruption::None => {}
                Corruption::FlipBit(bit) => signature.0[bit / 8] ^= 1 << (bit % 8),
                Corruption::ZeroS => signature.0[32..].fill(0),
                Corruption::OtherMessage => signature = sign(&signers[i], b"other"),
                _ => signature = CompactSignature([0xff; 64]),
            }
            pending.push(PendingSignature { key: &keys[i], digest: signing_digest(&message), signature });
        }
        let one_by_one: Vec<_> = pending.iter().map(|p| p.key.verify_digest(&p.digest, &p.signature)).collect();
        prop_assert_eq!(verify_batch(&pending), one_by_one);
    }
}
