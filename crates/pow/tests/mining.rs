//! Algorithm 1 and 2 together: the midstate search agrees with a plain double SHA-256,
//! mined blocks prove, and any change to a mined block breaks the proof.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::num::NonZeroUsize;
use std::sync::atomic::AtomicBool;

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{
    Block, BlockHash, BlockHeader, Ciphertext, CompactSignature, KeyTransferTx, MemberId,
    Timestamp, Transaction, dhash,
};
use vkm_pow::{
    Difficulty, Miner, MiningOutcome, NonceTemplate, ProofError, SearchOutcome, naive_scan, search,
    verify_proof,
};

fn transfer(seq: u64, fill: u8) -> Transaction {
    Transaction::KeyTransfer(KeyTransferTx {
        sequence: seq,
        source: MemberId(1),
        destination: MemberId(2),
        timestamp: Timestamp(1_700_000_000_000 + seq),
        ciphertext: Ciphertext::new(vec![fill; 75]).unwrap(),
        signature: CompactSignature([fill; 64]),
    })
}

fn block(txs: usize, bits: u8) -> Block {
    Block {
        header: BlockHeader {
            version: BlockHeader::VERSION,
            prev_block: BlockHash(dhash(b"parent")),
            timestamp: Timestamp(1_700_000_000_000),
            difficulty_bits: bits,
            ..Default::default()
        },
        miner: MemberId(1),
        miner_signature: CompactSignature([0; 64]),
        transactions: (0..txs as u64).map(|i| transfer(i, i as u8)).collect(),
    }
}

fn mine(block: &mut Block, seed: u64, threads: usize) -> MiningOutcome {
    let mut rng = StdRng::seed_from_u64(seed);
    Miner::new(NonZeroUsize::new(threads).unwrap()).mine(block, &mut rng, &AtomicBool::new(false))
}

#[test]
fn midstate_hash_equals_double_sha256_for_every_tail_shape() {
    for len in 0..200 {
        let prefix: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let template = NonceTemplate::from_prefix(&prefix, Difficulty::new(0));
        for nonce in [0u64, 1, 0xdead_beef, u64::MAX] {
            let mut preimage = prefix.clone();
            preimage.extend_from_slice(&nonce.to_le_bytes());
            assert_eq!(
                template.hash(nonce),
                dhash(&preimage),
                "len={len} nonce={nonce}"
            );
        }
    }
}

#[test]
fn search_finds_the_smallest_nonce_whatever_the_threads() {
    let header = block(3, 12).header;
    let template = NonceTemplate::new(&header);
    let prefix = header.to_bytes()[..BlockHeader::NONCE_OFFSET].to_vec();
    let (naive, _) = naive_scan(&prefix, Difficulty::new(12), 0..1 << 20);
    let naive = naive.expect("a 12-bit nonce within 2^20 tries");
    for threads in 1..=4 {
        let outcome = search(
            &template,
            0..1 << 20,
            NonZeroUsize::new(threads).unwrap(),
            &AtomicBool::new(false),
        );
        match outcome {
            SearchOutcome::Found { nonce, hashes } => {
                assert_eq!(nonce, naive, "threads={threads}");
                assert!(hashes > nonce);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn sha_ni_and_portable_paths_find_the_same_nonces() {
    for seed in 0..40u64 {
        let mut header = block(2, 11).header;
        header.timestamp = Timestamp(seed);
        let fast = NonceTemplate::new(&header);
        let portable = fast.clone().portable();
        assert!(!portable.uses_sha_ni());
        // Odd and even starts and lengths exercise the pairing and the leftover nonce.
        for range in [0..1 << 16, 1..(1 << 16) + 1, 3..4, 5..5] {
            assert_eq!(
                fast.scan(range.clone()),
                portable.scan(range.clone()),
                "seed {seed} {range:?}"
            );
        }
    }
}

#[test]
fn search_reports_exhaustion_and_abort() {
    let template = NonceTemplate::new(&block(1, 64).header);
    let one = NonZeroUsize::MIN;
    assert_eq!(
        search(&template, 0..1000, one, &AtomicBool::new(false)),
        SearchOutcome::Exhausted { hashes: 1000 }
    );
    assert!(matches!(
        search(&template, 0..1000, one, &AtomicBool::new(true)),
        SearchOutcome::Aborted { .. }
    ));
}

#[test]
fn aborted_mining_leaves_the_block_alone() {
    let mut b = block(5, 200);
    let before = b.clone();
    let mut rng = StdRng::seed_from_u64(1);
    let outcome = Miner::default().mine(&mut b, &mut rng, &AtomicBool::new(true));
    assert!(matches!(outcome, MiningOutcome::Aborted(_)));
    assert_eq!(b, before);
}

#[test]
fn mining_is_deterministic_under_a_seed() {
    let (mut a, mut b) = (block(20, 10), block(20, 10));
    mine(&mut a, 42, 1);
    mine(&mut b, 42, 2);
    assert_eq!(a, b);
    let mut c = block(20, 10);
    mine(&mut c, 43, 1);
    assert_ne!(
        a.transactions, c.transactions,
        "another seed, another order"
    );
}

#[test]
fn short_rounds_reshuffle_and_still_prove() {
    let mut b = block(8, 14);
    let mut rng = StdRng::seed_from_u64(3);
    let miner = Miner::default().with_nonces_per_round(256);
    let outcome = miner.mine(&mut b, &mut rng, &AtomicBool::new(false));
    let MiningOutcome::Mined(stats) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(stats.rounds > 1, "{stats:?}");
    assert!(
        b.header.nonce >= (stats.rounds - 1) * 256,
        "round k searches its own range"
    );
    verify_proof(&b).unwrap();
}

#[test]
fn proof_names_the_failed_check() {
    let mut b = block(4, 8);
    mine(&mut b, 9, 1);
    let mut tampered = b.clone();
    tampered.transactions.swap(0, 1);
    assert!(matches!(
        verify_proof(&tampered),
        Err(ProofError::MerkleRootMismatch { .. })
    ));
    let mut harder = b.clone();
    harder.header.difficulty_bits = 255;
    assert!(matches!(
        verify_proof(&harder),
        Err(ProofError::InsufficientWork { required: 255, .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn mined_blocks_prove_and_any_change_breaks_them(
        txs in 0usize..12,
        seed in any::<u64>(),
        pick in any::<prop::sample::Index>(),
        flip in any::<u8>(),
    ) {
        // 10 bits: even then any single change passes by chance with probability 2^-10, so
        // the changes below also move the merkle root, which is checked exactly.
        let mut b = block(txs, 10);
        prop_assert!(matches!(mine(&mut b, seed, 1), MiningOutcome::Mined(_)));
        prop_assert!(verify_proof(&b).is_ok());

        if txs > 0 {
            // Change one transaction.
            let mut changed = b.clone();
            let i = pick.index(txs);
            if let Transaction::KeyTransfer(tx) = &mut changed.transactions[i] {
                tx.sequence ^= u64::from(flip) + 1;
            }
            prop_assert!(
                matches!(verify_proof(&changed), Err(ProofError::MerkleRootMismatch { .. })),
                "changed transaction"
            );
        }
        if txs > 1 {
            // Change the order.
            let mut reordered = b.clone();
            let i = pick.index(txs);
            reordered.transactions.swap(i, (i + 1) % txs);
            prop_assert!(verify_proof(&reordered).is_err(), "changed order");
        }
        // Change the nonce: the hash changes; it fails unless the new hash meets the
        // target too, which the smallest-nonce search lets us rule out for smaller nonces.
        let mut renonced = b.clone();
        if b.header.nonce > 0 {
            renonced.header.nonce = b.header.nonce - 1 - u64::from(flip) % b.header.nonce.min(256);
            prop_assert!(
                matches!(verify_proof(&renonced), Err(ProofError::InsufficientWork { .. })),
                "changed nonce"
            );
        }
    }
}
