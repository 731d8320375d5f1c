//! A Bitcoin-compatible script interpreter with OP_EXPONENT (Chen et al. 4.2-4.3), for
//! vkm's value transactions.
//!
//! - [`exec`]: Bitcoin's legacy `EvalScript` and `VerifyScript` (pushes, flow control,
//!   stack and arithmetic operations with Bitcoin's number rules, hashes, CHECKSIG and
//!   CHECKMULTISIG through a [`SignatureChecker`], P2SH, disabled opcodes, Bitcoin's limits),
//!   with Bitcoin Core's error names ([`ScriptError`]); held to Bitcoin Core's own test
//!   cases in `tests/bitcoin_core.rs`.
//! - [`exponent`]: OP_EXPONENT at 0xb3 (Bitcoin's OP_NOP4): `base^exponent mod modulus`,
//!   odd modulus above one, operands of at most 512 bytes, charged to the operation budget
//!   in proportion to the work.
//! - [`signature_hash`], [`sign_input`]: ECDSA P-256 signatures over vkm's signature hash of a value transaction.
//! - [`asm`]: Bitcoin's short assembly text, parsed and printed.
//!
//! ```
//! use vkm_script::{Flags, NoSignatures, asm, verify};
//!
//! // 2^11 mod 23 = 1, checked on the chain.
//! let unlocking = asm::parse("2 11")?;
//! let locking = asm::parse("23 EXPONENT 1 EQUAL")?;
//! let stack = verify(&unlocking, &locking, Flags::default(), &NoSignatures)?;
//! assert_eq!(stack, vec![vec![1]]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
