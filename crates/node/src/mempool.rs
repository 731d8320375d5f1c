//! Key transfers waiting for a block, in arrival order, bounded.

use std::collections::{BTreeMap, HashMap};

use vkm_block::{KeyTransferTx, Transaction, Txid};

/// Most transfers a mempool holds; more are refused until a block takes some.
pub const MAX_MEMPOOL: usize = 50_000;

/// Pending key transfers.
#[derive(Debug, Default)]
pub struct Mempool {
    order: BTreeMap<u64, Txid>,
    entries: HashMap<Txid, (u64, KeyTransferTx)>,
    next: u64,
}

impl Mempool {
    /// Adds a transfer; `false` if it is already here or the pool is full.
    pub fn insert(&mut self, txid: Txid, tx: KeyTransferTx) -> bool {
        if self.entries.contains_key(&txid) || self.entries.len() >= MAX_MEMPOOL {
            return false;
        }
        self.order.insert(self.next, txid);
        self.entries.insert(txid, (self.next, tx));
        self.next += 1;
        true
    }

    /// Removes a transfer (taken by a block).
    pub fn remove(&mut self, txid: &Txid) {
        if let Some((slot, _)) = self.entries.remove(txid) {
            self.order.remove(&slot);
        }
    }

    /// Whether a transfer is pending.
    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    /// Pending transfers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Up to `limit` transfers, oldest first, as block transactions.
    pub fn take_candidates(&self, limit: usize) -> Vec<Transaction> {
        self.order
            .values()
            .take(limit)
            .filter_map(|txid| self.entries.get(txid))
            .map(|(_, tx)| Transaction::KeyTransfer(tx.clone()))
            .collect()
    }
}
