//! Coins for vkm's value transactions (Chen et al. 2019 move Diffie-Hellman shares with
//! them): P-256 addresses and P2PKH scripts, a [`Wallet`] that selects coins and signs
//! spends with change, and [`ValueRules`], the script half of the ledger's UTXO rules
//! (the ledger keeps the UTXO set and checks the accounting itself).
//!
//! - [`Address`] (HASH160 of a compressed P-256 key), P2PKH scripts.
//! - [`Wallet`], [`genesis_allocation`].
//! - [`ValueRules`] for the ledger's `TransactionRules` seam.
//!
//! ```
//! use vkm_block::{Amount, OutPoint, Transaction, TxOut};
//! use vkm_coins::{Wallet, check_scripts};
//! use vkm_ledger::TxContext;
//!
//! let mut rng = rand::rng();
//! let mut alice = Wallet::generate(&mut rng);
//! let bob = Wallet::generate(&mut rng);
//! let coin = TxOut { amount: Amount(5 * Amount::COIN), locking_script: alice.locking_script() };
//! alice.add_coin(OutPoint::default(), coin.clone());
//! let pay = TxOut { amount: Amount(Amount::COIN), locking_script: bob.locking_script() };
//! let tx = alice.build_spend(vec![pay], &[])?;
//! assert_eq!(tx.outputs[1].amount, Amount(4 * Amount::COIN)); // change
//! let tx = Transaction::Value(tx);
//! check_scripts(&TxContext { transaction: &tx, spent_outputs: &[coin] })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod address;
mod rules;
mod wallet;

pub use address::{Address, hash160, public_key_bytes};
pub use rules::{
    MAX_BLOCK_EXPONENT_UNITS, MAX_BLOCK_SIGNATURE_CHECKS, MAX_TX_EXPONENT_UNITS, ValueRuleError,
    ValueRules, check_scripts, script_cost,
};
pub use wallet::{Wallet, WalletError, genesis_allocation, value_txid};
