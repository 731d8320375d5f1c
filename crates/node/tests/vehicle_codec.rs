//! What vehicles and their managers exchange round-trips through its encoding, and no
//! bytes make a decoder panic.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use p256::ecdsa::SigningKey;
use p256::elliptic_curve::Generate;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{Encode, MemberId, Timestamp, deserialize, serialize};
use vkm_ledger::Registry;
use vkm_node::DomainGroup;
use vkm_node::vehicle::DomainRekey;
use vkm_rekey::Lkh;
use vkm_transfer::central::Pseudonym;
use vkm_transfer::crossing::{PseudonymChange, RsuId};

fn pseudonym(rng: &mut StdRng) -> Pseudonym {
    let issuer = SigningKey::generate_from_rng(rng);
    Pseudonym::issue(MemberId(1001), &issuer, Timestamp(0), Timestamp(1_000), rng)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn domain_rekeys_round_trip(seed in any::<u64>(), joins in 0usize..6, cut in any::<prop::sample::Index>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut group = DomainGroup::new(Lkh::new(4, &mut rng));
        for _ in 0..joins {
            group.join(&pseudonym(&mut rng).materials).unwrap();
        }
        let Some(rekey) = group.rekey(MemberId(1), &Registry::default(), &mut rng) else {
            prop_assert_eq!(joins, 0);
            return Ok(());
        };
        let rekey = rekey.unwrap();
        prop_assert_eq!(rekey.welcomes.len(), joins);
        let bytes = serialize(&rekey);
        prop_assert_eq!(bytes.len(), rekey.encoded_len());
        prop_assert_eq!(deserialize::<DomainRekey>(&bytes).unwrap(), rekey);
        let cut = cut.index(bytes.len());
        prop_assert!(deserialize::<DomainRekey>(&bytes[..cut]).is_err());
    }

    #[test]
    fn pseudonym_changes_round_trip(seed in any::<u64>(), rsu in any::<u32>(), at in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (old, new) = (pseudonym(&mut rng), pseudonym(&mut rng));
        let change = PseudonymChange::sign(&old, &new, RsuId(rsu), Timestamp(at));
        let bytes = serialize(&change);
        prop_assert_eq!(deserialize::<PseudonymChange>(&bytes).unwrap(), change);
        prop_assert!(deserialize::<PseudonymChange>(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = deserialize::<DomainRekey>(&bytes);
        let _ = deserialize::<PseudonymChange>(&bytes);
    }
}
