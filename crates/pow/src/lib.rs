#![doc = include_str!("../README.md")]
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
