//! Synthetic workloads for benchmarks, examples, tests and `vkm mine` (feature
//! `synthetic`).
//!
//! The transactions have the real format but random bytes where the sealed identity
//! materials and the signature go: they exercise encoding, hashing and mining, not
//! cryptography (the key-transfer crate makes real ones).

use rand::{Rng, RngExt};

use crate::{
    Block, BlockHash, BlockHeader, Ciphertext, CompactSignature, KeyTransferTx, MemberId,
    Timestamp, Transaction,
};

/// Size of the synthetic sealed identity materials: the 75-byte cipher block of Lei et
/// al.'s evaluation (section IV.A).
pub const CIPHERTEXT_BYTES: usize = 75;

/// Security domains the synthetic transfers move between: the 3x3 grid of section IV.A.
pub const DOMAINS: u32 = 9;

/// `count` key transfers between random distinct domains, stamped within the second
/// before `now`, with sequence numbers `0..count`.
pub fn key_transfers<R: Rng + ?Sized>(
    rng: &mut R,
    count: usize,
    now: Timestamp,
) -> Vec<Transaction> {
    (0..count as u64)
        .map(|sequence| {
            let source = rng.random_range(1..=DOMAINS);
            let destination = (source + rng.random_range(0..DOMAINS - 1)) % DOMAINS + 1;
            let mut ciphertext = vec![0u8; CIPHERTEXT_BYTES];
            rng.fill_bytes(&mut ciphertext);
            let mut signature = [0u8; 64];
            rng.fill_bytes(&mut signature);
            Transaction::KeyTransfer(KeyTransferTx {
                sequence,
                source: MemberId(source),
                destination: MemberId(destination),
                timestamp: Timestamp(now.0.saturating_sub(1000) + sequence % 1000),
                ciphertext: Ciphertext::new(ciphertext).unwrap_or_default(),
                signature: CompactSignature(signature),
            })
        })
        .collect()
}

/// An unmined block of `count` synthetic key transfers at `difficulty_bits`, whose header
/// has the merkle root of the transactions in their current order.
pub fn block<R: Rng + ?Sized>(
    rng: &mut R,
    count: usize,
    difficulty_bits: u8,
    now: Timestamp,
) -> Block {
    let mut block = Block {
        header: BlockHeader {
            version: BlockHeader::VERSION,
            prev_block: BlockHash::ZERO,
            timestamp: now,
            difficulty_bits,
            ..BlockHeader::default()
        },
        miner: MemberId(1),
        miner_signature: CompactSignature::default(),
        transactions: key_transfers(rng, count, now),
    };
    block.header.merkle_root = block.compute_merkle_root();
    block
}
