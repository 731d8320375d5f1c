//! Double-SHA256 proof of work for vkm's permissioned chain (Lei et al. III.B.4).
//!
//! - [`Difficulty`]: leading zero bits of the block hash, and how the paper's setting maps
//!   onto it.
//! - [`Miner`]: Algorithm 1. A fresh random transaction order per round, the merkle root
//!   recomputed, a nonce search using the SHA-256 midstate and `sha2`'s compression
//!   function (SHA-NI when the CPU has it), split over threads, abortable when a peer's
//!   proof arrives, deterministic under a seed.
//! - [`verify_proof`]: Algorithm 2, with a typed [`ProofError`].
//! - [`PowHeader`]: the narrow view of a header the nonce search needs.
//!
//! ```
//! use std::num::NonZeroUsize;
//! use std::sync::atomic::AtomicBool;
//! use rand::SeedableRng;
//! use vkm_block::{Block, BlockHeader, CompactSignature, MemberId};
//! use vkm_pow::{Miner, MiningOutcome, verify_proof};
//!
//! let mut block = Block {
//!     header: BlockHeader { version: BlockHeader::VERSION, difficulty_bits: 8, ..Default::default() },
//!     miner: MemberId(1),
//!     miner_signature: CompactSignature([0; 64]),
//!     transactions: vec![],
//! };
//! let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//! let outcome = Miner::new(NonZeroUsize::MIN).mine(&mut block, &mut rng, &AtomicBool::new(false));
//! assert!(matches!(outcome, MiningOutcome::Mined(_)));
//! assert!(verify_proof(&block).is_ok());
//! ```

pub mod difficulty;
pub mod header;
pub mod miner;
pub mod proof;
pub mod search;
mod sha_ni;

pub use difficulty::{Difficulty, leading_zero_bits};
pub use header::PowHeader;
pub use miner::{Candidate, Miner, MiningOutcome, MiningStats};
pub use proof::{ProofError, verify_proof};
pub use search::{NonceTemplate, SearchOutcome, naive_scan, search};
