//! Script errors, named as Bitcoin Core names them.

use core::fmt;

/// Why a script failed. `Display` prints Bitcoin Core's name (`EVAL_FALSE`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    /// The script ended with false (or nothing) on top.
    EvalFalse,
    /// OP_RETURN was executed.
    OpReturn,
    /// The script is longer than 10,000 bytes.
    ScriptSize,
    /// A push is longer than 520 bytes, or runs past the end of the script.
    PushSize,
    /// More than 201 non-push operations (OP_EXPONENT counts by cost).
    OpCount,
    /// More than 1,000 items on the stacks.
    StackSize,
    /// CHECKMULTISIG with more than 20 signatures or fewer than 0.
    SigCount,
    /// CHECKMULTISIG with more than 20 public keys or fewer than 0.
    PubkeyCount,
    /// VERIFY failed.
    Verify,
    /// EQUALVERIFY failed.
    EqualVerify,
    /// CHECKSIGVERIFY or CHECKMULTISIGVERIFY failed.
    CheckSigVerify,
    /// NUMEQUALVERIFY failed.
    NumEqualVerify,
    /// An undefined or reserved opcode was executed.
    BadOpcode,
    /// A disabled opcode appeared.
    DisabledOpcode,
    /// Too few stack items for an operation.
    InvalidStackOperation,
    /// FROMALTSTACK on an empty alternate stack.
    InvalidAltstackOperation,
    /// IF/ELSE/ENDIF do not match.
    UnbalancedConditional,
    /// A number operand longer than allowed.
    ScriptNum,
    /// A P2SH unlocking script that is not push-only.
    SigPushOnly,
    /// OP_EXPONENT: the modulus is even, 0 or 1.
    ExponentModulus,
    /// OP_EXPONENT: an operand longer than 512 bytes.
    ExponentSize,
}

impl ScriptError {
    /// Bitcoin Core's name for the error (vkm's own for OP_EXPONENT's).
    pub fn name(self) -> &'static str {
        match self {
            Self::EvalFalse => "EVAL_FALSE",
            Self::OpReturn => "OP_RETURN",
            Self::ScriptSize => "SCRIPT_SIZE",
            Self::PushSize => "PUSH_SIZE",
            Self::OpCount => "OP_COUNT",
            Self::StackSize => "STACK_SIZE",
            Self::SigCount => "SIG_COUNT",
            Self::PubkeyCount => "PUBKEY_COUNT",
            Self::Verify => "VERIFY",
            Self::EqualVerify => "EQUALVERIFY",
            Self::CheckSigVerify => "CHECKSIGVERIFY",
            Self::NumEqualVerify => "NUMEQUALVERIFY",
            Self::BadOpcode => "BAD_OPCODE",
            Self::DisabledOpcode => "DISABLED_OPCODE",
            Self::InvalidStackOperation => "INVALID_STACK_OPERATION",
            Self::InvalidAltstackOperation => "INVALID_ALTSTACK_OPERATION",
            Self::UnbalancedConditional => "UNBALANCED_CONDITIONAL",
            Self::ScriptNum => "SCRIPTNUM",
            Self::SigPushOnly => "SIG_PUSHONLY",
            Self::ExponentModulus => "EXPONENT_MODULUS",
            Self::ExponentSize => "EXPONENT_SIZE",
        }
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
