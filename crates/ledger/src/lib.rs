//! The chain of vkm's security managers (Lei et al. Fig. 2(b)): validation, fork choice,
//! reorganisation, orphans, persistence in `redb`, and queries.
//!
//! - [`validate()`](validate): the pipeline; only it creates a [`ValidatedBlock`].
//! - The narrow traits the ledger validates with: member signatures
//!   ([`SignatureCheck`]) and per-kind transaction rules ([`TransactionRules`]), provided by
//!   the key-transfer and negotiation crates, so the ledger depends on neither.
//! - The [`Ledger`]: most cumulative work wins (the lower tip hash on ties); every
//!   accepted block is committed in one write transaction.
//! - The [`Registry`]: registered members as registry transactions leave them.
//! - [`repair`]: redb's page checksums checked on a copy, and a fresh store rebuilt
//!   from the blocks a damaged one still holds.
//!
//! ```
//! use std::sync::Arc;
//! use vkm_block::{Block, BlockHeader, RegistryTx, Timestamp, Transaction};
//! use vkm_ledger::{Ledger, RuleSet, SignatureCheck};
//!
//! struct NoSignatures;
//! impl SignatureCheck for NoSignatures {
//!     fn verify(&self, _: &vkm_block::Member, _: &[u8], _: &vkm_block::CompactSignature) -> bool { false }
//! }
//!
//! let mut genesis = Block {
//!     header: BlockHeader { version: BlockHeader::VERSION, difficulty_bits: 0, ..Default::default() },
//!     miner: vkm_block::MemberId(0),
//!     miner_signature: Default::default(),
//!     transactions: vec![Transaction::Registry(RegistryTx::default())],
//! };
//! genesis.header.merkle_root = genesis.compute_merkle_root();
//! let dir = std::env::temp_dir().join(format!("vkm-ledger-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let rules = RuleSet { signatures: Arc::new(NoSignatures), kinds: vec![] };
//! let ledger = Ledger::open(dir.join("chain.redb"), &genesis, rules)?;
//! assert_eq!(ledger.height(), 0);
//! assert_eq!(ledger.tip(), genesis.block_hash());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod ledger;
mod registry;
pub mod repair;
mod rules;
mod store;
mod validate;

pub use ledger::{
    Accepted, ChainSummary, ChainUpdate, Ledger, LedgerError, MAX_ORPHANS, TxLocation,
};
pub use registry::Registry;
pub use rules::{RuleError, SignatureCheck, TransactionRules, TxContext};
pub use validate::{
    BlockError, Context, MAX_FUTURE_MS, RuleSet, ValidatedBlock, check_context_free, check_spend,
    is_unspendable, registry_authorized, validate,
};
