//! Transactions waiting for a block (key transfers and value transactions), in arrival
//! order, bounded; no two pending value transactions spend the same output, and no two
//! pending key transfers share a source and sequence number (a block holding both would be
//! invalid).

use std::collections::{BTreeMap, HashMap};

use vkm_block::{MemberId, OutPoint, Transaction, Txid};
use vkm_script::exec::Cost;

/// Most transactions a mempool holds; more are refused until a block takes some.
pub const MAX_MEMPOOL: usize = 50_000;

/// Pending transactions.
#[derive(Debug, Default)]
pub struct Mempool {
    order: BTreeMap<u64, Txid>,
    entries: HashMap<Txid, (u64, Transaction)>,
    spending: HashMap<OutPoint, Txid>,
    sequences: HashMap<(MemberId, u64), Txid>,
    /// What the scripts of a pending value transaction cost (checked when it came in).
    costs: HashMap<Txid, Cost>,
    next: u64,
}

/// A key transfer's source and sequence number.
fn sequence(tx: &Transaction) -> Option<(MemberId, u64)> {
    match tx {
        Transaction::KeyTransfer(t) => Some((t.source, t.sequence)),
        _ => None,
    }
}

fn inputs(tx: &Transaction) -> impl Iterator<Item = OutPoint> + '_ {
    let inputs = match tx {
        Transaction::Value(v) => v.inputs.as_slice(),
        _ => &[],
    };
    inputs.iter().map(|i| i.previous_output)
}

impl Mempool {
    /// Adds a transaction; `false` if it is already here, the pool is full, it spends an
    /// output a pending transaction already spends, or it is a key transfer whose source
    /// and sequence number a pending one has.
    pub fn insert(&mut self, txid: Txid, tx: Transaction) -> bool {
        if self.entries.contains_key(&txid)
            || self.entries.len() >= MAX_MEMPOOL
            || inputs(&tx).any(|o| self.spending.contains_key(&o))
            || sequence(&tx).is_some_and(|s| self.sequences.contains_key(&s))
        {
            return false;
        }
        for outpoint in inputs(&tx) {
            self.spending.insert(outpoint, txid);
        }
        if let Some(s) = sequence(&tx) {
            self.sequences.insert(s, txid);
        }
        self.order.insert(self.next, txid);
        self.entries.insert(txid, (self.next, tx));
        self.next += 1;
        true
    }

    /// Removes a transaction (taken by a block).
    pub fn remove(&mut self, txid: &Txid) {
        if let Some((slot, tx)) = self.entries.remove(txid) {
            self.order.remove(&slot);
            for outpoint in inputs(&tx) {
                self.spending.remove(&outpoint);
            }
            if let Some(s) = sequence(&tx) {
                self.sequences.remove(&s);
            }
            self.costs.remove(txid);
        }
    }

    /// Records what the scripts of the pending transaction `txid` cost, so that a block
    /// takes no more than its budget ([`Mempool::take_candidates`]).
    pub fn set_cost(&mut self, txid: Txid, cost: Cost) {
        if self.entries.contains_key(&txid) {
            self.costs.insert(txid, cost);
        }
    }

    /// Removes the pending transactions that spend any output `tx` spends, or that reuse
    /// its source and sequence number (a block took `tx`, so they can never be valid).
    pub fn remove_conflicts(&mut self, tx: &Transaction) {
        let conflicting: Vec<Txid> = inputs(tx)
            .filter_map(|o| self.spending.get(&o).copied())
            .chain(sequence(tx).and_then(|s| self.sequences.get(&s).copied()))
            .collect();
        for txid in conflicting {
            self.remove(&txid);
        }
    }

    /// The pending transaction spending `outpoint`, if any.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spending.get(outpoint).copied()
    }

    /// Whether a transaction is pending.
    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    /// Pending transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Up to `limit` transactions, oldest first, whose scripts together cost no more than
    /// `budget` (a block's): a transaction that would take the total past it waits for a
    /// later block (pending value transactions spend only confirmed outputs, so leaving
    /// one out never breaks another).
    pub fn take_candidates(&self, limit: usize, budget: Cost) -> Vec<Transaction> {
        let mut total = Cost::default();
        let mut taken = Vec::new();
        for txid in self.order.values() {
            if taken.len() >= limit {
                break;
            }
            let Some((_, tx)) = self.entries.get(txid) else {
                continue;
            };
            let with = total.plus(self.costs.get(txid).copied().unwrap_or_default());
            if with.exponent_units > budget.exponent_units
                || with.signature_checks > budget.signature_checks
            {
                continue;
            }
            total = with;
            taken.push(tx.clone());
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vkm_block::{TxIn, ValueTx};

    fn spending(txid_byte: u8, vout: u32) -> Transaction {
        Transaction::Value(ValueTx {
            inputs: vec![TxIn {
                previous_output: OutPoint {
                    txid: Txid([txid_byte; 32]),
                    vout,
                },
                unlocking_script: Default::default(),
            }],
            outputs: Vec::new(),
            lock_time: vout,
        })
    }

    #[test]
    fn refuses_a_second_spend_of_an_output_until_the_first_leaves() {
        let mut pool = Mempool::default();
        let first = spending(1, 0);
        let mut second = spending(1, 0);
        if let Transaction::Value(v) = &mut second {
            v.lock_time = 9;
        }
        assert!(pool.insert(first.txid(), first.clone()));
        assert!(!pool.insert(second.txid(), second.clone()));
        assert_eq!(
            pool.spender(&OutPoint {
                txid: Txid([1; 32]),
                vout: 0
            }),
            Some(first.txid())
        );
        pool.remove_conflicts(&second);
        assert!(pool.is_empty());
        assert!(pool.insert(second.txid(), second));
    }

    #[test]
    fn candidates_stay_within_the_block_budget_and_the_rest_waits() {
        let mut pool = Mempool::default();
        let units = |exponent_units| Cost {
            exponent_units,
            signature_checks: 1,
        };
        let txs: Vec<Transaction> = (0..4).map(|i| spending(i, 0)).collect();
        for (tx, cost) in txs.iter().zip([300, 300, 150, 10]) {
            assert!(pool.insert(tx.txid(), tx.clone()));
            pool.set_cost(tx.txid(), units(cost));
        }
        let budget = units(500);
        let budget = Cost {
            signature_checks: 100,
            ..budget
        };
        // 300 + 300 is over 500: the second waits; the smaller ones after it fit.
        let taken = pool.take_candidates(10, budget);
        assert_eq!(taken, vec![txs[0].clone(), txs[2].clone(), txs[3].clone()]);
        for tx in &taken {
            pool.remove(&tx.txid());
        }
        assert_eq!(pool.take_candidates(10, budget), vec![txs[1].clone()]);
        assert_eq!(pool.take_candidates(0, budget), Vec::<Transaction>::new());
    }
}
