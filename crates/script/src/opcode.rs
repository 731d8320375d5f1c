//! Opcodes: Bitcoin's legacy script, with OP_EXPONENT at Bitcoin's OP_NOP4 (0xb3).

/// Opcode bytes, named as in Bitcoin Core.
#[allow(missing_docs)]
pub mod op {
    pub const OP_0: u8 = 0x00;
    pub const OP_PUSHDATA1: u8 = 0x4c;
    pub const OP_PUSHDATA2: u8 = 0x4d;
    pub const OP_PUSHDATA4: u8 = 0x4e;
    pub const OP_1NEGATE: u8 = 0x4f;
    pub const OP_RESERVED: u8 = 0x50;
    pub const OP_1: u8 = 0x51;
    pub const OP_16: u8 = 0x60;
    pub const OP_NOP: u8 = 0x61;
    pub const OP_VER: u8 = 0x62;
    pub const OP_IF: u8 = 0x63;
    pub const OP_NOTIF: u8 = 0x64;
    pub const OP_VERIF: u8 = 0x65;
    pub const OP_VERNOTIF: u8 = 0x66;
    pub const OP_ELSE: u8 = 0x67;
    pub const OP_ENDIF: u8 = 0x68;
    pub const OP_VERIFY: u8 = 0x69;
    pub const OP_RETURN: u8 = 0x6a;
    pub const OP_TOALTSTACK: u8 = 0x6b;
    pub const OP_FROMALTSTACK: u8 = 0x6c;
    pub const OP_2DROP: u8 = 0x6d;
    pub const OP_2DUP: u8 = 0x6e;
    pub const OP_3DUP: u8 = 0x6f;
    pub const OP_2OVER: u8 = 0x70;
    pub const OP_2ROT: u8 = 0x71;
    pub const OP_2SWAP: u8 = 0x72;
    pub const OP_IFDUP: u8 = 0x73;
    pub const OP_DEPTH: u8 = 0x74;
    pub const OP_DROP: u8 = 0x75;
    pub const OP_DUP: u8 = 0x76;
    pub const OP_NIP: u8 = 0x77;
    pub const OP_OVER: u8 = 0x78;
    pub const OP_PICK: u8 = 0x79;
    pub const OP_ROLL: u8 = 0x7a;
    pub const OP_ROT: u8 = 0x7b;
    pub const OP_SWAP: u8 = 0x7c;
    pub const OP_TUCK: u8 = 0x7d;
    pub const OP_CAT: u8 = 0x7e;
    pub const OP_SUBSTR: u8 = 0x7f;
    pub const OP_LEFT: u8 = 0x80;
    pub const OP_RIGHT: u8 = 0x81;
    pub const OP_SIZE: u8 = 0x82;
    pub const OP_INVERT: u8 = 0x83;
    pub const OP_AND: u8 = 0x84;
    pub const OP_OR: u8 = 0x85;
    pub const OP_XOR: u8 = 0x86;
    pub const OP_EQUAL: u8 = 0x87;
    pub const OP_EQUALVERIFY: u8 = 0x88;
    pub const OP_RESERVED1: u8 = 0x89;
    pub const OP_RESERVED2: u8 = 0x8a;
    pub const OP_1ADD: u8 = 0x8b;
    pub const OP_1SUB: u8 = 0x8c;
    pub const OP_2MUL: u8 = 0x8d;
    pub const OP_2DIV: u8 = 0x8e;
    pub const OP_NEGATE: u8 = 0x8f;
    pub const OP_ABS: u8 = 0x90;
    pub const OP_NOT: u8 = 0x91;
    pub const OP_0NOTEQUAL: u8 = 0x92;
    pub const OP_ADD: u8 = 0x93;
    pub const OP_SUB: u8 = 0x94;
    pub const OP_MUL: u8 = 0x95;
    pub const OP_DIV: u8 = 0x96;
    pub const OP_MOD: u8 = 0x97;
    pub const OP_LSHIFT: u8 = 0x98;
    pub const OP_RSHIFT: u8 = 0x99;
    pub const OP_BOOLAND: u8 = 0x9a;
    pub const OP_BOOLOR: u8 = 0x9b;
    pub const OP_NUMEQUAL: u8 = 0x9c;
    pub const OP_NUMEQUALVERIFY: u8 = 0x9d;
    pub const OP_NUMNOTEQUAL: u8 = 0x9e;
    pub const OP_LESSTHAN: u8 = 0x9f;
    pub const OP_GREATERTHAN: u8 = 0xa0;
    pub const OP_LESSTHANOREQUAL: u8 = 0xa1;
    pub const OP_GREATERTHANOREQUAL: u8 = 0xa2;
    pub const OP_MIN: u8 = 0xa3;
    pub const OP_MAX: u8 = 0xa4;
    pub const OP_WITHIN: u8 = 0xa5;
    pub const OP_RIPEMD160: u8 = 0xa6;
    pub const OP_SHA1: u8 = 0xa7;
    pub const OP_SHA256: u8 = 0xa8;
    pub const OP_HASH160: u8 = 0xa9;
    pub const OP_HASH256: u8 = 0xaa;
    pub const OP_CODESEPARATOR: u8 = 0xab;
    pub const OP_CHECKSIG: u8 = 0xac;
    pub const OP_CHECKSIGVERIFY: u8 = 0xad;
    pub const OP_CHECKMULTISIG: u8 = 0xae;
    pub const OP_CHECKMULTISIGVERIFY: u8 = 0xaf;
    pub const OP_NOP1: u8 = 0xb0;
    pub const OP_CHECKLOCKTIMEVERIFY: u8 = 0xb1;
    pub const OP_CHECKSEQUENCEVERIFY: u8 = 0xb2;
    /// Bitcoin's OP_NOP4, taken for modular exponentiation (Chen et al. 4.3).
    pub const OP_EXPONENT: u8 = 0xb3;
    pub const OP_NOP5: u8 = 0xb4;
    pub const OP_NOP10: u8 = 0xb9;
}

use op::*;

/// Names for the assembly form, in Bitcoin Core's spelling (without `OP_`).
const NAMES: &[(u8, &str)] = &[
    (OP_0, "0"),
    (OP_PUSHDATA1, "PUSHDATA1"),
    (OP_PUSHDATA2, "PUSHDATA2"),
    (OP_PUSHDATA4, "PUSHDATA4"),
    (OP_1NEGATE, "1NEGATE"),
    (OP_RESERVED, "RESERVED"),
    (OP_NOP, "NOP"),
    (OP_VER, "VER"),
    (OP_IF, "IF"),
    (OP_NOTIF, "NOTIF"),
    (OP_VERIF, "VERIF"),
    (OP_VERNOTIF, "VERNOTIF"),
    (OP_ELSE, "ELSE"),
    (OP_ENDIF, "ENDIF"),
    (OP_VERIFY, "VERIFY"),
    (OP_RETURN, "RETURN"),
    (OP_TOALTSTACK, "TOALTSTACK"),
    (OP_FROMALTSTACK, "FROMALTSTACK"),
    (OP_2DROP, "2DROP"),
    (OP_2DUP, "2DUP"),
    (OP_3DUP, "3DUP"),
    (OP_2OVER, "2OVER"),
    (OP_2ROT, "2ROT"),
    (OP_2SWAP, "2SWAP"),
    (OP_IFDUP, "IFDUP"),
    (OP_DEPTH, "DEPTH"),
    (OP_DROP, "DROP"),
    (OP_DUP, "DUP"),
    (OP_NIP, "NIP"),
    (OP_OVER, "OVER"),
    (OP_PICK, "PICK"),
    (OP_ROLL, "ROLL"),
    (OP_ROT, "ROT"),
    (OP_SWAP, "SWAP"),
    (OP_TUCK, "TUCK"),
    (OP_CAT, "CAT"),
    (OP_SUBSTR, "SUBSTR"),
    (OP_LEFT, "LEFT"),
    (OP_RIGHT, "RIGHT"),
    (OP_SIZE, "SIZE"),
    (OP_INVERT, "INVERT"),
    (OP_AND, "AND"),
    (OP_OR, "OR"),
    (OP_XOR, "XOR"),
    (OP_EQUAL, "EQUAL"),
    (OP_EQUALVERIFY, "EQUALVERIFY"),
    (OP_RESERVED1, "RESERVED1"),
    (OP_RESERVED2, "RESERVED2"),
    (OP_1ADD, "1ADD"),
    (OP_1SUB, "1SUB"),
    (OP_2MUL, "2MUL"),
    (OP_2DIV, "2DIV"),
    (OP_NEGATE, "NEGATE"),
    (OP_ABS, "ABS"),
    (OP_NOT, "NOT"),
    (OP_0NOTEQUAL, "0NOTEQUAL"),
    (OP_ADD, "ADD"),
    (OP_SUB, "SUB"),
    (OP_MUL, "MUL"),
    (OP_DIV, "DIV"),
    (OP_MOD, "MOD"),
    (OP_LSHIFT, "LSHIFT"),
    (OP_RSHIFT, "RSHIFT"),
    (OP_BOOLAND, "BOOLAND"),
    (OP_BOOLOR, "BOOLOR"),
    (OP_NUMEQUAL, "NUMEQUAL"),
    (OP_NUMEQUALVERIFY, "NUMEQUALVERIFY"),
    (OP_NUMNOTEQUAL, "NUMNOTEQUAL"),
    (OP_LESSTHAN, "LESSTHAN"),
    (OP_GREATERTHAN, "GREATERTHAN"),
    (OP_LESSTHANOREQUAL, "LESSTHANOREQUAL"),
    (OP_GREATERTHANOREQUAL, "GREATERTHANOREQUAL"),
    (OP_MIN, "MIN"),
    (OP_MAX, "MAX"),
    (OP_WITHIN, "WITHIN"),
    (OP_RIPEMD160, "RIPEMD160"),
    (OP_SHA1, "SHA1"),
    (OP_SHA256, "SHA256"),
    (OP_HASH160, "HASH160"),
    (OP_HASH256, "HASH256"),
    (OP_CODESEPARATOR, "CODESEPARATOR"),
    (OP_CHECKSIG, "CHECKSIG"),
    (OP_CHECKSIGVERIFY, "CHECKSIGVERIFY"),
    (OP_CHECKMULTISIG, "CHECKMULTISIG"),
    (OP_CHECKMULTISIGVERIFY, "CHECKMULTISIGVERIFY"),
    (OP_NOP1, "NOP1"),
    (OP_CHECKLOCKTIMEVERIFY, "CHECKLOCKTIMEVERIFY"),
    (OP_CHECKSEQUENCEVERIFY, "CHECKSEQUENCEVERIFY"),
    (OP_EXPONENT, "EXPONENT"),
    (0xb4, "NOP5"),
    (0xb5, "NOP6"),
    (0xb6, "NOP7"),
    (0xb7, "NOP8"),
    (0xb8, "NOP9"),
    (0xb9, "NOP10"),
];

/// The assembly name of an opcode (without `OP_`), if it has one. `OP_1`..`OP_16` print
/// as numbers; bytes without a name print as `0x..`.
pub fn name(opcode: u8) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(code, _)| *code == opcode)
        .map(|(_, name)| *name)
}

/// The opcode for an assembly name, with or without `OP_`. `NOP2`/`NOP3` are accepted for
/// CHECKLOCKTIMEVERIFY/CHECKSEQUENCEVERIFY, and `NOP4` for EXPONENT (its byte).
pub fn from_name(text: &str) -> Option<u8> {
    let bare = text.strip_prefix("OP_").unwrap_or(text);
    match bare {
        "FALSE" => return Some(OP_0),
        "TRUE" => return Some(OP_1),
        "NOP2" => return Some(OP_CHECKLOCKTIMEVERIFY),
        "NOP3" => return Some(OP_CHECKSEQUENCEVERIFY),
        "NOP4" => return Some(OP_EXPONENT),
        _ => {}
    }
    NAMES
        .iter()
        .find(|(_, name)| *name == bare)
        .map(|(code, _)| *code)
}

/// Whether an opcode is disabled (fails even in an unexecuted branch), as in Bitcoin.
pub fn is_disabled(opcode: u8) -> bool {
    matches!(
        opcode,
        OP_CAT
            | OP_SUBSTR
            | OP_LEFT
            | OP_RIGHT
            | OP_INVERT
            | OP_AND
            | OP_OR
            | OP_XOR
            | OP_2MUL
            | OP_2DIV
            | OP_MUL
            | OP_DIV
            | OP_MOD
            | OP_LSHIFT
            | OP_RSHIFT
    )
}
