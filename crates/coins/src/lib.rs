#![doc = include_str!("../README.md")]
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
