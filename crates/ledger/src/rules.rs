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

/// Why a transaction breaks its kind's rules: the rule crate's own error, kept as the
/// source (downcast it with [`RuleError::cause`]).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{source}")]
pub struct RuleError {
    source: std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>,
}

impl RuleError {
    /// A rule error caused by `error`.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            source: std::sync::Arc::new(error),
        }
    }

    /// The cause as the rule crate's error type `E`, if it is one.
    pub fn cause<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.source.downcast_ref::<E>()
    }
}

/// Two rule errors are equal when they say the same.
impl PartialEq for RuleError {
    fn eq(&self, other: &Self) -> bool {
        self.source.to_string() == other.source.to_string()
    }
}

impl Eq for RuleError {}

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
