//! vkm: blockchain-based key management and key negotiation for vehicular networks.
//!
//! This facade re-exports the workspace crates, so one dependency brings them all; each
//! crate can also be used on its own.
//!
//! - [`block`] (`vkm-block`): block and transaction formats, codec, merkle tree.
//! - [`pow`] (`vkm-pow`): double-SHA256 proof of work, Algorithms 1 and 2 of Lei et al.
//! - [`transfer`] (`vkm-transfer`): key transfer between security domains: ECIES sealing,
//!   ECDSA signing and fast verification, the blockchain and traditional structures.
//!
//! ```
//! use vkm::block::BlockHeader;
//! use vkm::pow::Difficulty;
//!
//! let header = BlockHeader { difficulty_bits: 0, ..Default::default() };
//! assert!(Difficulty::new(header.difficulty_bits).is_met_by(&header.block_hash()));
//! ```

#![forbid(unsafe_code)]

pub use vkm_block as block;
pub use vkm_pow as pow;
pub use vkm_transfer as transfer;
