//! Mining, Algorithm 1 of Lei et al. (III.B.4).

use core::num::NonZeroUsize;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rand::Rng;
use rand::seq::SliceRandom;
use vkm_block::merkle::{leaf_hash, root_of_leaves};
use vkm_block::{Block, MerkleRoot, Transaction};

use crate::search::{NonceTemplate, SearchOutcome, search};

/// A block's payload prepared for repeated reordering: the merkle leaf of every
/// transaction is computed once, and each round only permutes the leaves.
#[derive(Debug, Clone)]
pub struct Candidate {
    leaves: Vec<[u8; 32]>,
    order: Vec<usize>,
    ordered: Vec<[u8; 32]>,
}

impl Candidate {
    /// Prepares `transactions` (hashing each once).
    pub fn new(transactions: &[Transaction]) -> Self {
        let leaves: Vec<[u8; 32]> = transactions
            .iter()
            .map(|tx| leaf_hash(&tx.txid()))
            .collect();
        Self {
            order: (0..leaves.len()).collect(),
            ordered: leaves.clone(),
            leaves,
        }
    }

    /// Draws a fresh uniformly random order (Fisher-Yates) and returns its merkle root:
    /// steps 3 and 4 of Algorithm 1.
    pub fn reshuffle<R: Rng + ?Sized>(&mut self, rng: &mut R) -> MerkleRoot {
        self.order.shuffle(rng);
        for (slot, &i) in self.ordered.iter_mut().zip(&self.order) {
            *slot = self.leaves[i];
        }
        root_of_leaves(&self.ordered)
    }

    /// The current order: position `k` of the block holds original transaction
    /// `order()[k]`.
    pub fn order(&self) -> &[usize] {
        &self.order
    }
}

/// What a mining run cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MiningStats {
    /// Rounds run (transaction orders tried).
    pub rounds: u64,
    /// Hashes computed over all threads.
    pub hashes: u64,
    /// Wall-clock time spent.
    pub elapsed: Duration,
}

/// How a mining run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MiningOutcome {
    /// The block now holds a valid order, merkle root and nonce.
    Mined(MiningStats),
    /// A peer's proof arrived first; the block's transactions are unchanged.
    Aborted(MiningStats),
}

impl MiningOutcome {
    /// The statistics, however the run ended.
    pub fn stats(&self) -> MiningStats {
        match *self {
            Self::Mined(stats) | Self::Aborted(stats) => stats,
        }
    }
}

/// Runs Algorithm 1: each round draws a fresh random order of the transactions,
/// recomputes the merkle root and searches a range of nonces; it stops with nothing as
/// soon as the abort signal says a peer's proof arrived.
///
/// Deterministic under a seeded RNG: the same block, RNG state and round size give the
/// same order and nonce, whatever the number of threads.
#[derive(Debug, Clone, Copy)]
pub struct Miner {
    threads: NonZeroUsize,
    nonces_per_round: u64,
}

impl Default for Miner {
    fn default() -> Self {
        Self::new(NonZeroUsize::MIN)
    }
}

impl Miner {
    /// Nonces searched per transaction order by default: 2^32, as many as Bitcoin's
    /// 32-bit nonce field allows before the payload must change.
    pub const DEFAULT_NONCES_PER_ROUND: u64 = 1 << 32;

    /// A miner searching on `threads` threads.
    pub fn new(threads: NonZeroUsize) -> Self {
        Self {
            threads,
            nonces_per_round: Self::DEFAULT_NONCES_PER_ROUND,
        }
    }

    /// Sets how many nonces a round searches before drawing a new order (at least 1).
    pub fn with_nonces_per_round(mut self, nonces: u64) -> Self {
        self.nonces_per_round = nonces.max(1);
        self
    }

    /// Number of threads the nonce search uses.
    pub fn threads(&self) -> NonZeroUsize {
        self.threads
    }

    /// Mines `block`: on success its transactions are in the winning order and its header
    /// holds the merkle root and nonce. The header's version, parent, timestamp and
    /// difficulty are the caller's and are not changed.
    ///
    /// Round `k` searches nonces `[k * R, (k + 1) * R)` for round size `R`, so even a
    /// payload with a single order never repeats work.
    pub fn mine<R: Rng + ?Sized>(
        &self,
        block: &mut Block,
        rng: &mut R,
        abort: &AtomicBool,
    ) -> MiningOutcome {
        let started = Instant::now();
        let mut candidate = Candidate::new(&block.transactions);
        let mut header = block.header;
        let mut stats = MiningStats {
            rounds: 0,
            hashes: 0,
            elapsed: Duration::ZERO,
        };
        let mut first = 0u64;
        loop {
            header.merkle_root = candidate.reshuffle(rng);
            let template = NonceTemplate::new(&header);
            let nonces = first..first.saturating_add(self.nonces_per_round);
            // The next round starts where this one ends; past the end of the nonce space
            // it starts over (only a target no hash meets gets there, and only an abort
            // ends such a run).
            first = first.checked_add(self.nonces_per_round).unwrap_or(0);
            stats.rounds += 1;
            let outcome = search(&template, nonces, self.threads, abort);
            stats.hashes += outcome.hashes();
            stats.elapsed = started.elapsed();
            match outcome {
                SearchOutcome::Found { nonce, .. } => {
                    header.nonce = nonce;
                    block.header = header;
                    apply_order(&mut block.transactions, candidate.order());
                    return MiningOutcome::Mined(stats);
                }
                SearchOutcome::Aborted { .. } => return MiningOutcome::Aborted(stats),
                SearchOutcome::Exhausted { .. } => {}
            }
        }
    }
}

/// Puts `transactions` in `order` (position `k` takes original element `order[k]`).
fn apply_order(transactions: &mut Vec<Transaction>, order: &[usize]) {
    let mut slots: Vec<Option<Transaction>> =
        std::mem::take(transactions).into_iter().map(Some).collect();
    *transactions = order
        .iter()
        .filter_map(|&i| slots.get_mut(i).and_then(Option::take))
        .collect();
}
