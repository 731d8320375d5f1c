//! A party's coins: its key and address, the outputs it can spend, coin selection, and
//! signed P2PKH spends with change.

use std::collections::BTreeMap;

use p256::ecdsa::{SigningKey, VerifyingKey};
use rand::CryptoRng;
use vkm_block::{Amount, OutPoint, ScriptBytes, Transaction, TxIn, TxOut, Txid, ValueTx};
use vkm_script::sign_input;

use crate::address::{Address, public_key_bytes};

/// Why a spend cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The wallet's coins do not cover the payments.
    #[error("insufficient funds: need {needed}, have {available}")]
    InsufficientFunds {
        /// What the payments need.
        needed: Amount,
        /// What the wallet holds.
        available: Amount,
    },
    /// The payments' sum overflows.
    #[error("payment amounts overflow")]
    Overflow,
    /// A script is longer than a transaction allows.
    #[error("script too long")]
    ScriptTooLong,
    /// The free coins do not cover the payments, but spends of this wallet are pending:
    /// their change may, once they are mined. Try again after the next block.
    #[error("coins pending: {pending} spends not yet mined hold the rest")]
    CoinsPending {
        /// Spends built and not yet seen mined.
        pending: usize,
    },
}

/// A key that owns coins, and the unspent outputs it knows it owns.
///
/// The wallet learns its coins by observing transactions ([`Wallet::observe`]): outputs
/// paid to its address are added, outputs spent by anyone are removed. Building a spend
/// takes the coins it uses out of the free coins at once and keeps them as *pending*
/// under the spend's id, so two spends (of any number of negotiations at once) never use
/// the same coin; the change comes back as a free coin when the spend is seen mined, and
/// a spend given up ([`Wallet::release`]) returns its coins.
pub struct Wallet {
    key: SigningKey,
    address: Address,
    coins: BTreeMap<OutPoint, TxOut>,
    pending: BTreeMap<Txid, Vec<(OutPoint, TxOut)>>,
}

impl core::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Wallet")
            .field("address", &self.address)
            .field("coins", &self.coins.len())
            .field("balance", &self.balance())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Wallet {
    /// A wallet of `key` with no coins yet.
    pub fn new(key: SigningKey) -> Self {
        let address = Address::of(key.verifying_key());
        Self {
            key,
            address,
            coins: BTreeMap::new(),
            pending: BTreeMap::new(),
        }
    }

    /// A wallet of a fresh key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        use p256::elliptic_curve::Generate;
        Self::new(SigningKey::generate_from_rng(rng))
    }

    /// The signing key (to sign non-P2PKH inputs).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public key.
    pub fn public_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }

    /// The address coins are paid to.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The wallet's P2PKH locking script.
    pub fn locking_script(&self) -> ScriptBytes {
        self.address.p2pkh_script()
    }

    /// Spends built and not yet seen mined.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Gives up the pending spend `txid` (it will not be mined: it timed out and will not
    /// be submitted again): its coins are free again. Returns whether it was pending. If
    /// it is mined after all, [`Wallet::observe`] removes the coins it spent.
    pub fn release(&mut self, txid: &Txid) -> bool {
        let Some(coins) = self.pending.remove(txid) else {
            return false;
        };
        self.coins.extend(coins);
        true
    }

    /// The free coins held (not counting coins of pending spends).
    pub fn balance(&self) -> Amount {
        Amount(self.coins.values().map(|c| c.amount.0).sum())
    }

    /// The coins, by outpoint.
    pub fn coins(&self) -> impl Iterator<Item = (&OutPoint, &TxOut)> {
        self.coins.iter()
    }

    /// Adds a coin the wallet owns (e.g. read from the ledger's UTXO set).
    pub fn add_coin(&mut self, outpoint: OutPoint, output: TxOut) {
        self.coins.insert(outpoint, output);
    }

    /// Learns from a transaction on the chain: forgets spent coins, adds outputs paid to
    /// the wallet's address.
    pub fn observe(&mut self, tx: &Transaction) {
        let Transaction::Value(v) = tx else { return };
        let txid = tx.txid();
        self.pending.remove(&txid);
        for input in &v.inputs {
            self.coins.remove(&input.previous_output);
        }
        // A pending spend whose coins another transaction spent will never be mined.
        if !self.pending.is_empty() {
            self.pending.retain(|_, coins| {
                !coins
                    .iter()
                    .any(|(o, _)| v.inputs.iter().any(|i| i.previous_output == *o))
            });
        }
        let mine = self.locking_script();
        for (vout, out) in v.outputs.iter().enumerate() {
            if out.locking_script == mine {
                self.coins.insert(
                    OutPoint {
                        txid,
                        vout: vout as u32,
                    },
                    out.clone(),
                );
            }
        }
    }

    /// The P2PKH unlocking script of input `index` of `tx` spending one of this wallet's
    /// outputs: `<signature> <public key>`.
    pub fn p2pkh_unlocking(&self, tx: &ValueTx, index: usize) -> ScriptBytes {
        let signature = sign_input(&self.key, tx, index, self.locking_script().as_bytes());
        let mut script = Vec::with_capacity(100);
        vkm_script::asm::push_data(&mut script, &signature);
        vkm_script::asm::push_data(&mut script, &public_key_bytes(self.public_key()));
        ScriptBytes::new(script).unwrap_or_default()
    }

    /// Builds and signs a transaction paying `payments`, after any `extra_inputs` the
    /// caller unlocks itself: selects the wallet's coins (largest first) to cover the
    /// payments less what the extra inputs bring, and returns the change to the wallet's
    /// address. The extra inputs' unlocking scripts are left empty for the caller to fill
    /// (their signatures do not cover unlocking scripts). The coins used leave the wallet.
    pub fn build_spend(
        &mut self,
        payments: Vec<TxOut>,
        extra_inputs: &[(OutPoint, Amount)],
    ) -> Result<ValueTx, WalletError> {
        self.build_spend_with(payments, extra_inputs, |_, _| Ok(()))
    }

    /// [`Wallet::build_spend`], with `unlock` filling the extra inputs' unlocking scripts
    /// (with the wallet's key if it needs it) before the spend is recorded as pending
    /// under its final id.
    pub fn build_spend_with(
        &mut self,
        payments: Vec<TxOut>,
        extra_inputs: &[(OutPoint, Amount)],
        unlock: impl FnOnce(&mut ValueTx, &SigningKey) -> Result<(), WalletError>,
    ) -> Result<ValueTx, WalletError> {
        let needed = payments
            .iter()
            .try_fold(Amount(0), |sum, out| sum.checked_add(out.amount))
            .ok_or(WalletError::Overflow)?;
        let brought = extra_inputs
            .iter()
            .try_fold(Amount(0), |sum, (_, amount)| sum.checked_add(*amount))
            .ok_or(WalletError::Overflow)?;
        let mut candidates: Vec<(OutPoint, Amount)> =
            self.coins.iter().map(|(o, c)| (*o, c.amount)).collect();
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut selected = Vec::new();
        let mut total = brought;
        // Select at least one coin, so every spend has an input the wallet signs.
        for (outpoint, amount) in candidates {
            if total >= needed && !selected.is_empty() {
                break;
            }
            total = total.checked_add(amount).ok_or(WalletError::Overflow)?;
            selected.push(outpoint);
        }
        if total < needed || (selected.is_empty() && extra_inputs.is_empty()) {
            if !self.pending.is_empty() {
                return Err(WalletError::CoinsPending {
                    pending: self.pending.len(),
                });
            }
            return Err(WalletError::InsufficientFunds {
                needed,
                available: self
                    .balance()
                    .checked_add(brought)
                    .unwrap_or(Amount(u64::MAX)),
            });
        }
        let mut outputs = payments;
        let change = Amount(total.0 - needed.0);
        if change.0 > 0 {
            outputs.push(TxOut {
                amount: change,
                locking_script: self.locking_script(),
            });
        }
        let inputs = extra_inputs
            .iter()
            .map(|(o, _)| *o)
            .chain(selected.iter().copied())
            .map(|previous_output| TxIn {
                previous_output,
                unlocking_script: ScriptBytes::default(),
            })
            .collect();
        let mut tx = ValueTx {
            inputs,
            outputs,
            lock_time: 0,
        };
        for index in extra_inputs.len()..tx.inputs.len() {
            tx.inputs[index].unlocking_script = self.p2pkh_unlocking(&tx, index);
        }
        unlock(&mut tx, &self.key)?;
        let taken = selected
            .iter()
            .filter_map(|o| self.coins.remove(o).map(|coin| (*o, coin)))
            .collect();
        self.pending.insert(value_txid(&tx), taken);
        Ok(tx)
    }
}

/// A transaction without inputs that creates coins: allowed only in genesis, where it
/// allocates the initial coins to addresses.
pub fn genesis_allocation(allocations: &[(Address, Amount)]) -> Transaction {
    Transaction::Value(ValueTx {
        inputs: Vec::new(),
        outputs: allocations
            .iter()
            .map(|(address, amount)| TxOut {
                amount: *amount,
                locking_script: address.p2pkh_script(),
            })
            .collect(),
        lock_time: 0,
    })
}

/// The id of a value transaction.
pub fn value_txid(tx: &ValueTx) -> Txid {
    Transaction::Value(tx.clone()).txid()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn funded(coins: &[u64]) -> Wallet {
        let mut rng = rand::rng();
        let mut wallet = Wallet::generate(&mut rng);
        let genesis = genesis_allocation(
            &coins
                .iter()
                .map(|c| (wallet.address(), Amount(*c)))
                .collect::<Vec<_>>(),
        );
        wallet.observe(&genesis);
        wallet
    }

    fn pay(amount: u64) -> Vec<TxOut> {
        vec![TxOut {
            amount: Amount(amount),
            locking_script: ScriptBytes::default(),
        }]
    }

    #[test]
    fn pending_spends_never_share_a_coin_and_change_comes_back_when_mined() {
        let mut wallet = funded(&[100, 100]);
        let first = wallet.build_spend(pay(10), &[]).expect("first coin");
        let second = wallet.build_spend(pay(10), &[]).expect("second coin");
        assert_ne!(
            first.inputs[0].previous_output,
            second.inputs[0].previous_output
        );
        assert_eq!(wallet.pending(), 2);
        assert_eq!(wallet.balance(), Amount(0));
        // No free coin: the wallet says to wait for its pending spends, not that it is poor.
        assert_eq!(
            wallet.build_spend(pay(10), &[]),
            Err(WalletError::CoinsPending { pending: 2 })
        );
        // The first is mined: its change (90) is free again and pays the third.
        wallet.observe(&Transaction::Value(first));
        assert_eq!((wallet.pending(), wallet.balance()), (1, Amount(90)));
        let third = wallet.build_spend(pay(10), &[]).expect("change reused");
        assert_eq!(wallet.pending(), 2);
        // The second is given up: its coin is free again, and spent by nobody twice.
        assert!(wallet.release(&value_txid(&second)));
        assert!(!wallet.release(&value_txid(&second)));
        assert_eq!(wallet.balance(), Amount(100));
        wallet.observe(&Transaction::Value(third));
        assert_eq!((wallet.pending(), wallet.balance()), (0, Amount(180)));
        // Nothing pending and too little: insufficient funds.
        assert!(matches!(
            wallet.build_spend(pay(1_000), &[]),
            Err(WalletError::InsufficientFunds { .. })
        ));
    }
}
