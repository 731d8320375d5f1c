//! vkm: blockchain-based key management and key negotiation for vehicular networks.
//!
//! This facade re-exports the workspace crates, so one dependency brings them all; each
//! crate can also be used on its own.
//!
//! - [`block`] (`vkm-block`): block and transaction formats, codec, merkle tree.
//! - [`pow`] (`vkm-pow`): double-SHA256 proof of work, Algorithms 1 and 2 of Lei et al.
//! - [`transfer`] (`vkm-transfer`): key transfer between security domains: ECIES sealing,
//!   ECDSA signing and fast verification, the blockchain and traditional structures.
//! - [`its`] (`vkm-its`): IEEE 1609.2 / ETSI TS 103 097 certificates, chains, signed and
//!   encrypted data (COER, over `rasn-its`).
//! - [`period`] (`vkm-period`): collection-period optimisation (Eqs. 1-6, Algorithm 3).
//! - [`ledger`] (`vkm-ledger`): the chain: validation, fork choice, persistence, queries.
//! - [`script`] (`vkm-script`): Bitcoin script with OP_EXPONENT, for value transactions.
//! - [`rekey`] (`vkm-rekey`): group rekeying inside a domain (flat and LKH).
//! - [`node`] (`vkm-node`): the security manager and relay state machines (sans-IO).
//! - [`runtime`] (`vkm-runtime`): the world set-up and the one application of their
//!   actions for every driver; the in-process network and the local chain.
//! - [`coins`] (`vkm-coins`): addresses, P2PKH wallet, the UTXO script rules.
//! - [`negotiate`] (`vkm-negotiate`): Diffie-Hellman key negotiation through the chain
//!   (Chen et al.): groups, the value/static/dynamic channels, confirmation, session keys.
//! - [`sim`] (`vkm-sim`): discrete-event simulation of the key transfer (measured or
//!   modelled costs), scenarios, SUMO import, metrics.
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
pub use vkm_coins as coins;
pub use vkm_its as its;
pub use vkm_ledger as ledger;
pub use vkm_negotiate as negotiate;
pub use vkm_node as node;
pub use vkm_period as period;
pub use vkm_pow as pow;
pub use vkm_rekey as rekey;
pub use vkm_runtime as runtime;
pub use vkm_script as script;
pub use vkm_sim as sim;
pub use vkm_transfer as transfer;
