//! Managers' messages round-trip through their wire encoding, and no bytes make the
//! decoder panic or allocate beyond its limits.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{
    BlockHash, OutPoint, Timestamp, Transaction, TxIn, TxOut, Txid, ValueTx, deserialize,
    serialize, synthetic,
};
use vkm_node::sm::{MAX_LOCATOR, MAX_SYNC_BLOCKS, Message};
use vkm_node::wire::MAX_MESSAGE_BYTES;
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::scenario::Scenario;

fn message(kind: u8, seed: u64, n: usize) -> Message {
    let mut rng = StdRng::seed_from_u64(seed);
    let now = Timestamp(1_700_000_000_000 + seed % 1000);
    match kind % 7 {
        0 => match synthetic::key_transfers(&mut rng, 1, now).pop().unwrap() {
            Transaction::KeyTransfer(tx) => Message::Transaction(tx),
            _ => unreachable!(),
        },
        1 => Message::Value(ValueTx {
            inputs: (0..n % 4)
                .map(|i| TxIn {
                    previous_output: OutPoint {
                        txid: Txid([i as u8; 32]),
                        vout: i as u32,
                    },
                    ..TxIn::default()
                })
                .collect(),
            outputs: vec![TxOut::default(); n % 3],
            lock_time: seed as u32,
        }),
        2 => Message::Block(synthetic::block(&mut rng, n % 20, 8, now)),
        3 => {
            Message::Registry(Scenario::new(2, 1, EncryptionScheme::Ieee1609P256, &mut rng).genesis)
        }
        4 => Message::Tip {
            height: seed,
            hash: BlockHash([n as u8; 32]),
        },
        5 => Message::GetBlocks {
            locator: (0..n % (MAX_LOCATOR + 1))
                .map(|i| BlockHash([i as u8; 32]))
                .collect(),
        },
        _ => Message::Blocks(
            (0..n % (MAX_SYNC_BLOCKS + 1) % 5)
                .map(|i| synthetic::block(&mut rng, i, 8, now))
                .collect(),
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn messages_round_trip(kind in any::<u8>(), seed in any::<u64>(), n in 0usize..200) {
        let message = message(kind, seed, n);
        let bytes = serialize(&message);
        prop_assert_eq!(bytes.len(), message.encoded_len());
        prop_assert!(bytes.len() <= MAX_MESSAGE_BYTES);
        prop_assert_eq!(deserialize::<Message>(&bytes).unwrap(), message);
    }

    #[test]
    fn truncated_or_changed_bytes_never_panic(kind in any::<u8>(), seed in any::<u64>(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
        let bytes = serialize(&message(kind, seed, 7));
        let cut_at = cut.index(bytes.len());
        prop_assert!(deserialize::<Message>(&bytes[..cut_at]).is_err());
        let mut changed = bytes.clone();
        let i = flip.index(changed.len());
        changed[i] ^= 0x80;
        if let Ok(decoded) = deserialize::<Message>(&changed) {
            prop_assert_eq!(serialize(&decoded), changed);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(decoded) = deserialize::<Message>(&bytes) {
            prop_assert_eq!(serialize(&decoded), bytes);
        }
    }
}
