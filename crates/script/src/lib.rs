#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod asm;
mod error;
pub mod exec;
pub mod exponent;
pub mod num;
pub mod opcode;
mod sighash;

pub use error::ScriptError;
pub use exec::{
    Cost, Flags, NoSignatures, SignatureChecker, Stack, eval, eval_with, verify, verify_with,
};
pub use sighash::{SIGHASH_ALL, SIGHASH_TAG, TransactionChecker, sign_input, signature_hash};
