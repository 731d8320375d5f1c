//! The ledger's rules for value transactions: every input's unlocking script satisfies
//! the locking script of the output it spends, in the script interpreter with P2SH.
//!
//! The ledger itself checks the coin accounting (inputs exist and are unspent, no double
//! spend, outputs do not exceed inputs); these rules add the scripts, which need
//! cryptography the ledger does not know.

use vkm_block::{Transaction, TxKind};
use vkm_ledger::{Registry, RuleError, TransactionRules, TxContext};
use vkm_script::{Cost, Flags, ScriptError, TransactionChecker, verify_with};

/// Most OP_EXPONENT work units ([`vkm_script::exponent::cost`]) the scripts of one
/// transaction may spend: one script's whole operation budget.
pub const MAX_TX_EXPONENT_UNITS: u64 = 201;

/// Most OP_EXPONENT work units the value transactions of one block may spend together
/// (about 1.2 s of exponentiation on one core here at worst; see `docs/deviations.md`).
pub const MAX_BLOCK_EXPONENT_UNITS: u64 = 500;

/// Most signature checks the value transactions of one block may do together (Bitcoin's
/// block limit of signature operations).
pub const MAX_BLOCK_SIGNATURE_CHECKS: u64 = 20_000;

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
    /// The transaction's scripts do more exponentiation than a transaction may.
    #[error(
        "scripts spend {units} exponentiation units, more than the {MAX_TX_EXPONENT_UNITS} a transaction may"
    )]
    TransactionBudget {
        /// Units its scripts spent (up to the failing one).
        units: u64,
    },
    /// With this transaction, the block's value transactions exceed a block's budget.
    #[error(
        "the block's scripts exceed its budget ({exponent_units} exponentiation units of {MAX_BLOCK_EXPONENT_UNITS}, {signature_checks} signature checks of {MAX_BLOCK_SIGNATURE_CHECKS})"
    )]
    BlockBudget {
        /// Exponentiation units up to and including this transaction.
        exponent_units: u64,
        /// Signature checks up to and including this transaction.
        signature_checks: u64,
    },
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

/// Checks every input's scripts of one transaction against the outputs it spends, within
/// a transaction's budget ([`MAX_TX_EXPONENT_UNITS`]).
pub fn check_scripts(context: &TxContext<'_>) -> Result<(), RuleError> {
    script_cost(context).map(|_| ())
}

/// [`check_scripts`], returning what the scripts cost (for a block's budget).
pub fn script_cost(context: &TxContext<'_>) -> Result<Cost, RuleError> {
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
    let mut cost = Cost::default();
    for (index, (input, spent)) in tx.inputs.iter().zip(context.spent_outputs).enumerate() {
        let checker = TransactionChecker { tx, index };
        let verified = verify_with(
            input.unlocking_script.as_bytes(),
            spent.locking_script.as_bytes(),
            Flags { p2sh: true },
            &checker,
            &mut cost,
        );
        if cost.exponent_units > MAX_TX_EXPONENT_UNITS {
            return Err(RuleError::new(ValueRuleError::TransactionBudget {
                units: cost.exponent_units,
            }));
        }
        verified.map_err(|error| RuleError::new(ValueRuleError::Script { index, error }))?;
    }
    Ok(cost)
}

/// The block's budget over per-transaction costs, in block order: the first transaction
/// that takes the total past a budget is refused (and with it the block).
fn within_block_budget(verdicts: Vec<Result<Cost, RuleError>>) -> Vec<Result<(), RuleError>> {
    let mut total = Cost::default();
    verdicts
        .into_iter()
        .map(|verdict| {
            let cost = verdict?;
            total = total.plus(cost);
            if total.exponent_units > MAX_BLOCK_EXPONENT_UNITS
                || total.signature_checks > MAX_BLOCK_SIGNATURE_CHECKS
            {
                return Err(RuleError::new(ValueRuleError::BlockBudget {
                    exponent_units: total.exponent_units,
                    signature_checks: total.signature_checks,
                }));
            }
            Ok(())
        })
        .collect()
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
            return within_block_budget(txs.iter().map(script_cost).collect());
        }
        let chunk = txs.len().div_ceil(self.threads);
        let costs: Vec<Result<Cost, RuleError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = txs
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(script_cost).collect::<Vec<_>>()))
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
        });
        within_block_budget(costs)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use vkm_block::{OutPoint, ScriptBytes, Transaction, TxIn, TxOut, Txid, ValueTx};
    use vkm_script::asm::push_data;
    use vkm_script::opcode::op::{OP_1, OP_3DUP, OP_DROP, OP_EXPONENT};

    use super::*;

    /// A locking script that runs fifty 1024-bit exponentiations (2 units each: 100 of
    /// a transaction's 201) and succeeds.
    fn exponent_lock() -> TxOut {
        let mut script = Vec::new();
        let mut modulus = vec![0xff; 128];
        modulus[127] = 0xfd; // odd
        push_data(&mut script, &[0x07; 128]);
        push_data(&mut script, &[0xab; 128]);
        push_data(&mut script, &modulus);
        for _ in 0..50 {
            script.extend([OP_3DUP, OP_EXPONENT, OP_DROP]);
        }
        script.push(OP_1);
        TxOut {
            amount: vkm_block::Amount(1),
            locking_script: ScriptBytes::new(script).unwrap(),
        }
    }

    /// A transaction spending `inputs` such outputs.
    fn spend(inputs: usize, salt: u8) -> (Transaction, Vec<TxOut>) {
        let tx = ValueTx {
            inputs: (0..inputs)
                .map(|i| TxIn {
                    previous_output: OutPoint {
                        txid: Txid([salt; 32]),
                        vout: i as u32,
                    },
                    unlocking_script: ScriptBytes::default(),
                })
                .collect(),
            outputs: vec![],
            lock_time: 0,
        };
        (Transaction::Value(tx), vec![exponent_lock(); inputs])
    }

    fn cause(e: &RuleError) -> ValueRuleError {
        e.cause::<ValueRuleError>().cloned().unwrap()
    }

    #[test]
    fn a_transaction_may_not_spend_more_than_its_exponentiation_budget() {
        let (tx, spent) = spend(2, 1);
        let context = TxContext {
            transaction: &tx,
            spent_outputs: &spent,
        };
        assert_eq!(script_cost(&context).unwrap().exponent_units, 200);
        let (tx, spent) = spend(3, 1);
        let context = TxContext {
            transaction: &tx,
            spent_outputs: &spent,
        };
        // Refused at the third input, before it is the last: 300 > 201.
        assert_eq!(
            cause(&check_scripts(&context).unwrap_err()),
            ValueRuleError::TransactionBudget { units: 300 }
        );
    }

    #[test]
    fn a_block_may_not_spend_more_than_its_budget_whatever_the_threads() {
        // Six transactions of 100 units: the sixth takes the block past 500.
        let spends: Vec<(Transaction, Vec<TxOut>)> = (0..6).map(|i| spend(1, i)).collect();
        let contexts: Vec<TxContext<'_>> = spends
            .iter()
            .map(|(tx, spent)| TxContext {
                transaction: tx,
                spent_outputs: spent,
            })
            .collect();
        for threads in [1, 3] {
            let verdicts = ValueRules::new(threads).check_batch(&contexts, &Registry::default());
            assert!(verdicts[..5].iter().all(Result::is_ok), "{threads}");
            assert_eq!(
                cause(verdicts[5].as_ref().unwrap_err()),
                ValueRuleError::BlockBudget {
                    exponent_units: 600,
                    signature_checks: 0
                }
            );
        }
    }
}
