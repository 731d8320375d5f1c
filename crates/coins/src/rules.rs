//! The ledger's rules for value transactions: every input's unlocking script satisfies
//! the locking script of the output it spends, in the script interpreter with P2SH.
//!
//! The ledger itself checks the coin accounting (inputs exist and are unspent, no double
//! spend, outputs do not exceed inputs); these rules add the scripts, which need
//! cryptography the ledger does not know.

use vkm_block::{Transaction, TxKind};
use vkm_ledger::{Registry, RuleError, TransactionRules, TxContext};
use vkm_script::{Flags, ScriptError, TransactionChecker, verify};

/// Why a value transaction's scripts are refused (the cause of the ledger's
/// [`RuleError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueRuleError {
    /// These rules were handed another kind of transaction.
    #[error("not a value transaction: {0:?}")]
    NotValue(TxKind),
    /// The spent outputs do not match the inputs one for one.
    #[error("{inputs} inputs but {spent} spent outputs")]
    SpentOutputs {
        /// Inputs of the transaction.
        inputs: usize,
        /// Spent outputs given.
        spent: usize,
    },
    /// An input's unlocking script does not satisfy the locking script it spends.
    #[error("input {index}: script fails: {error}")]
    Script {
        /// The input.
        index: usize,
        /// Bitcoin Core's name of the failure.
        error: ScriptError,
    },
    /// A checking thread panicked.
    #[error("script check panicked")]
    Panicked,
}

/// Script verification of value transactions, on up to `threads` threads.
#[derive(Debug, Clone, Copy)]
pub struct ValueRules {
    threads: usize,
}

impl ValueRules {
    /// Rules checking a block's value transactions on up to `threads` threads.
    pub fn new(threads: usize) -> Self {
        Self {
            threads: threads.max(1),
        }
    }
}

impl Default for ValueRules {
    fn default() -> Self {
        Self::new(1)
    }
}

/// Checks every input's scripts of one transaction against the outputs it spends.
pub fn check_scripts(context: &TxContext<'_>) -> Result<(), RuleError> {
    let Transaction::Value(tx) = context.transaction else {
        return Err(RuleError::new(ValueRuleError::NotValue(
            context.transaction.kind(),
        )));
    };
    if context.spent_outputs.len() != tx.inputs.len() {
        return Err(RuleError::new(ValueRuleError::SpentOutputs {
            inputs: tx.inputs.len(),
            spent: context.spent_outputs.len(),
        }));
    }
    for (index, (input, spent)) in tx.inputs.iter().zip(context.spent_outputs).enumerate() {
        let checker = TransactionChecker { tx, index };
        verify(
            input.unlocking_script.as_bytes(),
            spent.locking_script.as_bytes(),
            Flags { p2sh: true },
            &checker,
        )
        .map_err(|error| RuleError::new(ValueRuleError::Script { index, error }))?;
    }
    Ok(())
}

impl TransactionRules for ValueRules {
    fn kind(&self) -> TxKind {
        TxKind::Value
    }

    fn check_batch(
        &self,
        txs: &[TxContext<'_>],
        _registry: &Registry,
    ) -> Vec<Result<(), RuleError>> {
        if self.threads == 1 || txs.len() < 2 {
            return txs.iter().map(check_scripts).collect();
        }
        let chunk = txs.len().div_ceil(self.threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = txs
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(check_scripts).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join().unwrap_or_else(|_| {
                        vec![Err(RuleError::new(ValueRuleError::Panicked)); chunk]
                    })
                })
                .take(txs.len())
                .collect()
        })
    }
}
