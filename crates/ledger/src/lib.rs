#![doc = include_str!("../README.md")]
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
