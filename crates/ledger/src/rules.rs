//! What the ledger asks of the crates that know the cryptography and the transaction
//! kinds: narrow traits, so the ledger depends on neither.

use vkm_block::{CompactSignature, Member, Transaction, TxKind, TxOut};

use crate::registry::Registry;

/// Verifies a registered member's signature (miner signatures, registry authorizations).
/// `vkm-transfer` implements it with per-key precomputed tables.
pub trait SignatureCheck: Send + Sync {
    /// Whether `signature` over `preimage` is valid under `member`'s signing key.
    fn verify(&self, member: &Member, preimage: &[u8], signature: &CompactSignature) -> bool;
}

/// Why a transaction breaks its kind's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(pub String);

/// A transaction with the chain state its rules need.
#[derive(Debug, Clone, Copy)]
pub struct TxContext<'a> {
    /// The transaction.
    pub transaction: &'a Transaction,
    /// For a value transaction, the outputs its inputs spend, in input order (the ledger
    /// has already checked that they exist, are unspent and cover the outputs); empty for
    /// other kinds.
    pub spent_outputs: &'a [TxOut],
}

/// The rules of one transaction kind, checked against the registry in force before the
/// block. `vkm-transfer` provides them for key transfers, `vkm-coins` for value
/// transactions (their scripts).
pub trait TransactionRules: Send + Sync {
    /// The kind these rules govern.
    fn kind(&self) -> TxKind;

    /// Checks each of `txs` (all of [`Self::kind`]), in order; may check in parallel.
    fn check_batch(&self, txs: &[TxContext<'_>], registry: &Registry)
    -> Vec<Result<(), RuleError>>;
}
