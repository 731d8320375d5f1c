//! Transactions waiting for a block (key transfers and value transactions), in arrival
//! order, bounded; no two pending value transactions spend the same output, and no two
//! pending key transfers share a source and sequence number (a block holding both would be
//! invalid).

use std::collections::{BTreeMap, HashMap};

use vkm_block::{MemberId, OutPoint, Transaction, Txid};

/// Most transactions a mempool holds; more are refused until a block takes some.
pub const MAX_MEMPOOL: usize = 50_000;

/// Pending transactions.
#[derive(Debug, Default)]
pub struct Mempool {
    order: BTreeMap<u64, Txid>,
    entries: HashMap<Txid, (u64, Transaction)>,
    spending: HashMap<OutPoint, Txid>,
    sequences: HashMap<(MemberId, u64), Txid>,
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

    /// Up to `limit` transactions, oldest first.
    pub fn take_candidates(&self, limit: usize) -> Vec<Transaction> {
        self.order
            .values()
            .take(limit)
            .filter_map(|txid| self.entries.get(txid))
            .map(|(_, tx)| tx.clone())
            .collect()
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
}
