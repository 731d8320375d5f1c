//! The ledger's rules for value transactions: every input's unlocking script satisfies
//! the locking script of the output it spends, in the script interpreter with P2SH.
//!
//! The ledger itself checks the coin accounting (inputs exist and are unspent, no double
//! spend, outputs do not exceed inputs); these rules add the scripts, which need
//! cryptography the ledger does not know.

use vkm_block::{Transaction, TxKind};
use vkm_ledger::{Registry, RuleError, TransactionRules, TxContext};
use vkm_script::{Flags, TransactionChecker, verify};

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
        return Err(RuleError(format!(
            "not a value transaction: {:?}",
            context.transaction.kind()
        )));
    };
    if context.spent_outputs.len() != tx.inputs.len() {
        return Err(RuleError(format!(
            "{} inputs but {} spent outputs",
            tx.inputs.len(),
            context.spent_outputs.len()
        )));
    }
    for (index, (input, spent)) in tx.inputs.iter().zip(context.spent_outputs).enumerate() {
        let checker = TransactionChecker { tx, index };
        verify(
            input.unlocking_script.as_bytes(),
            spent.locking_script.as_bytes(),
            Flags { p2sh: true },
            &checker,
        )
        .map_err(|e| RuleError(format!("input {index}: script fails: {e}")))?;
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
                        vec![Err(RuleError("script check panicked".into())); chunk]
                    })
                })
                .take(txs.len())
                .collect()
        })
    }
}
