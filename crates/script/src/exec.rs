//! The interpreter: Bitcoin's legacy (pre-segwit) `EvalScript` and `VerifyScript`, with
//! their limits and error names, plus OP_EXPONENT.

use ripemd::Ripemd160;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::ScriptError;
use crate::exponent;
use crate::num;
use crate::opcode::{self, op::*};

/// Largest script, bytes.
pub const MAX_SCRIPT_BYTES: usize = 10_000;
/// Largest stack element, bytes.
pub const MAX_ELEMENT_BYTES: usize = 520;
/// Most non-push operations per script (OP_EXPONENT counts its cost).
pub const MAX_OPS: usize = 201;
/// Most items on the main and alternate stacks together.
pub const MAX_STACK_ITEMS: usize = 1000;
/// Most public keys in a CHECKMULTISIG.
pub const MAX_MULTISIG_KEYS: i64 = 20;

/// The stack: items are byte strings, the top is last.
pub type Stack = Vec<Vec<u8>>;

/// Checks signatures for CHECKSIG and CHECKMULTISIG: the seam between the interpreter and
/// what is signed (a transaction's signature hash).
pub trait SignatureChecker {
    /// Whether `signature` by `public_key` is valid for this spend, given the script code
    /// (the executing script from the last OP_CODESEPARATOR on).
    fn check_signature(&self, signature: &[u8], public_key: &[u8], script_code: &[u8]) -> bool;
}

/// A checker with no transaction: every signature fails (cleanly).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSignatures;

impl SignatureChecker for NoSignatures {
    fn check_signature(&self, _: &[u8], _: &[u8], _: &[u8]) -> bool {
        false
    }
}

/// Verification flags (Bitcoin's; vkm implements P2SH).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// Evaluate pay-to-script-hash (BIP 16).
    pub p2sh: bool,
}

fn truth(value: bool) -> Vec<u8> {
    if value { vec![1] } else { Vec::new() }
}

/// One parsed operation: the opcode and, for pushes, the data.
pub(crate) fn next_op<'a>(
    script: &'a [u8],
    pc: &mut usize,
) -> Result<(u8, Option<&'a [u8]>), ScriptError> {
    let code = script[*pc];
    *pc += 1;
    let len = match code {
        0x01..=0x4b => code as usize,
        OP_PUSHDATA1 => {
            let b = script.get(*pc).ok_or(ScriptError::BadOpcode)?;
            *pc += 1;
            *b as usize
        }
        OP_PUSHDATA2 => {
            let b = script.get(*pc..*pc + 2).ok_or(ScriptError::BadOpcode)?;
            *pc += 2;
            u16::from_le_bytes([b[0], b[1]]) as usize
        }
        OP_PUSHDATA4 => {
            let b = script.get(*pc..*pc + 4).ok_or(ScriptError::BadOpcode)?;
            *pc += 4;
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        }
        OP_0 => return Ok((code, Some(&[]))),
        _ => return Ok((code, None)),
    };
    let end = pc.checked_add(len).ok_or(ScriptError::BadOpcode)?;
    let data = script.get(*pc..end).ok_or(ScriptError::BadOpcode)?;
    *pc = end;
    Ok((code, Some(data)))
}

/// Whether the script contains only pushes (Bitcoin's `IsPushOnly`: opcodes up to OP_16).
pub fn is_push_only(script: &[u8]) -> bool {
    let mut pc = 0;
    while pc < script.len() {
        match next_op(script, &mut pc) {
            Ok((code, _)) if code <= OP_16 => {}
            _ => return false,
        }
    }
    true
}

/// Whether the script is the pay-to-script-hash pattern `HASH160 <20 bytes> EQUAL`.
pub fn is_p2sh(script: &[u8]) -> bool {
    script.len() == 23 && script[0] == OP_HASH160 && script[1] == 0x14 && script[22] == OP_EQUAL
}

fn pop(stack: &mut Stack) -> Result<Vec<u8>, ScriptError> {
    stack.pop().ok_or(ScriptError::InvalidStackOperation)
}

fn need(stack: &Stack, n: usize) -> Result<(), ScriptError> {
    if stack.len() < n {
        Err(ScriptError::InvalidStackOperation)
    } else {
        Ok(())
    }
}

/// The item `depth` from the top (1 is the top).
fn at(stack: &Stack, depth: usize) -> Result<&Vec<u8>, ScriptError> {
    stack
        .len()
        .checked_sub(depth)
        .and_then(|i| stack.get(i))
        .ok_or(ScriptError::InvalidStackOperation)
}

fn pop_num(stack: &mut Stack) -> Result<i64, ScriptError> {
    let top = pop(stack)?;
    num::decode(&top, 4)
}

/// The expensive work scripts did, summed over every script run: what the budgets of a
/// transaction and of a block are counted in (as Bitcoin bounds signature operations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// OP_EXPONENT's work: the sum of [`exponent::cost`] over the exponentiations run.
    pub exponent_units: u64,
    /// Signature checks: one per CHECKSIG, one per key of a CHECKMULTISIG.
    pub signature_checks: u64,
}

impl Cost {
    /// Both costs added.
    pub fn plus(self, other: Self) -> Self {
        Self {
            exponent_units: self.exponent_units.saturating_add(other.exponent_units),
            signature_checks: self.signature_checks.saturating_add(other.signature_checks),
        }
    }
}

/// Runs one script on `stack` (Bitcoin's `EvalScript`).
pub fn eval(
    script: &[u8],
    stack: &mut Stack,
    checker: &dyn SignatureChecker,
) -> Result<(), ScriptError> {
    eval_with(script, stack, checker, &mut Cost::default())
}

/// [`eval`], adding the work done to `cost` (also when the script fails).
pub fn eval_with(
    script: &[u8],
    stack: &mut Stack,
    checker: &dyn SignatureChecker,
    cost: &mut Cost,
) -> Result<(), ScriptError> {
    if script.len() > MAX_SCRIPT_BYTES {
        return Err(ScriptError::ScriptSize);
    }
    let mut alt: Stack = Vec::new();
    let mut exec: Vec<bool> = Vec::new();
    let mut ops = 0usize;
    let mut code_start = 0usize;
    let mut pc = 0usize;
    while pc < script.len() {
        let executing = exec.iter().all(|e| *e);
        let (code, push) = next_op(script, &mut pc)?;
        if push.is_some_and(|d| d.len() > MAX_ELEMENT_BYTES) {
            return Err(ScriptError::PushSize);
        }
        if code > OP_16 {
            ops += 1;
            if ops > MAX_OPS {
                return Err(ScriptError::OpCount);
            }
        }
        if opcode::is_disabled(code) {
            return Err(ScriptError::DisabledOpcode);
        }
        if let Some(data) = push {
            if executing {
                stack.push(data.to_vec());
            }
        } else if executing || (OP_IF..=OP_ENDIF).contains(&code) {
            match code {
                OP_1NEGATE | OP_1..=OP_16 => {
                    stack.push(num::encode(i64::from(code) - i64::from(OP_1 - 1)))
                }
                OP_NOP
                | OP_NOP1
                | OP_CHECKLOCKTIMEVERIFY
                | OP_CHECKSEQUENCEVERIFY
                | OP_NOP5..=OP_NOP10 => {}
                OP_IF | OP_NOTIF => {
                    let mut value = false;
                    if executing {
                        // Bitcoin Core's test data names an IF without a condition an
                        // invalid stack operation.
                        let top = pop(stack)?;
                        value = num::as_bool(&top) == (code == OP_IF);
                    }
                    exec.push(value);
                }
                OP_ELSE => {
                    let last = exec.last_mut().ok_or(ScriptError::UnbalancedConditional)?;
                    *last = !*last;
                }
                OP_ENDIF => {
                    exec.pop().ok_or(ScriptError::UnbalancedConditional)?;
                }
                OP_VERIFY => {
                    need(stack, 1)?;
                    if !num::as_bool(at(stack, 1)?) {
                        return Err(ScriptError::Verify);
                    }
                    stack.pop();
                }
                OP_RETURN => return Err(ScriptError::OpReturn),
                OP_TOALTSTACK => alt.push(pop(stack)?),
                OP_FROMALTSTACK => {
                    stack.push(alt.pop().ok_or(ScriptError::InvalidAltstackOperation)?)
                }
                OP_2DROP => {
                    need(stack, 2)?;
                    stack.truncate(stack.len() - 2);
                }
                OP_2DUP | OP_3DUP | OP_2OVER => {
                    let (count, depth) = match code {
                        OP_2DUP => (2, 2),
                        OP_3DUP => (3, 3),
                        _ => (2, 4),
                    };
                    need(stack, depth)?;
                    let start = stack.len() - depth;
                    let copied: Vec<Vec<u8>> = stack[start..start + count].to_vec();
                    stack.extend(copied);
                }
                OP_2ROT => {
                    need(stack, 6)?;
                    let start = stack.len() - 6;
                    let moved: Vec<Vec<u8>> = stack.drain(start..start + 2).collect();
                    stack.extend(moved);
                }
                OP_2SWAP => {
                    need(stack, 4)?;
                    let n = stack.len();
                    stack.swap(n - 4, n - 2);
                    stack.swap(n - 3, n - 1);
                }
                OP_IFDUP => {
                    let top = at(stack, 1)?.clone();
                    if num::as_bool(&top) {
                        stack.push(top);
                    }
                }
                OP_DEPTH => stack.push(num::encode(stack.len() as i64)),
                OP_DROP => {
                    pop(stack)?;
                }
                OP_DUP => stack.push(at(stack, 1)?.clone()),
                OP_NIP => {
                    need(stack, 2)?;
                    let i = stack.len() - 2;
                    stack.remove(i);
                }
                OP_OVER => stack.push(at(stack, 2)?.clone()),
                OP_PICK | OP_ROLL => {
                    need(stack, 2)?;
                    let n = pop_num(stack)?;
                    if n < 0 || n as usize >= stack.len() {
                        return Err(ScriptError::InvalidStackOperation);
                    }
                    let i = stack.len() - 1 - n as usize;
                    let item = if code == OP_ROLL {
                        stack.remove(i)
                    } else {
                        stack[i].clone()
                    };
                    stack.push(item);
                }
                OP_ROT => {
                    need(stack, 3)?;
                    let i = stack.len() - 3;
                    let item = stack.remove(i);
                    stack.push(item);
                }
                OP_SWAP => {
                    need(stack, 2)?;
                    let n = stack.len();
                    stack.swap(n - 2, n - 1);
                }
                OP_TUCK => {
                    need(stack, 2)?;
                    let top = at(stack, 1)?.clone();
                    let i = stack.len() - 2;
                    stack.insert(i, top);
                }
                OP_SIZE => stack.push(num::encode(at(stack, 1)?.len() as i64)),
                OP_EQUAL | OP_EQUALVERIFY => {
                    need(stack, 2)?;
                    let b = pop(stack)?;
                    let a = pop(stack)?;
                    if code == OP_EQUALVERIFY {
                        if a != b {
                            return Err(ScriptError::EqualVerify);
                        }
                    } else {
                        stack.push(truth(a == b));
                    }
                }
                OP_1ADD | OP_1SUB | OP_NEGATE | OP_ABS | OP_NOT | OP_0NOTEQUAL => {
                    need(stack, 1)?;
                    let n = pop_num(stack)?;
                    stack.push(num::encode(match code {
                        OP_1ADD => n + 1,
                        OP_1SUB => n - 1,
                        OP_NEGATE => -n,
                        OP_ABS => n.abs(),
                        OP_NOT => i64::from(n == 0),
                        _ => i64::from(n != 0),
                    }));
                }
                OP_ADD
                | OP_SUB
                | OP_BOOLAND
                | OP_BOOLOR
                | OP_NUMEQUAL
                | OP_NUMEQUALVERIFY
                | OP_NUMNOTEQUAL
                | OP_LESSTHAN
                | OP_GREATERTHAN
                | OP_LESSTHANOREQUAL
                | OP_GREATERTHANOREQUAL
                | OP_MIN
                | OP_MAX => {
                    need(stack, 2)?;
                    let b = num::decode(at(stack, 1)?, 4)?;
                    let a = num::decode(at(stack, 2)?, 4)?;
                    stack.truncate(stack.len() - 2);
                    let result = match code {
                        OP_ADD => a + b,
                        OP_SUB => a - b,
                        OP_BOOLAND => i64::from(a != 0 && b != 0),
                        OP_BOOLOR => i64::from(a != 0 || b != 0),
                        OP_NUMEQUAL | OP_NUMEQUALVERIFY => i64::from(a == b),
                        OP_NUMNOTEQUAL => i64::from(a != b),
                        OP_LESSTHAN => i64::from(a < b),
                        OP_GREATERTHAN => i64::from(a > b),
                        OP_LESSTHANOREQUAL => i64::from(a <= b),
                        OP_GREATERTHANOREQUAL => i64::from(a >= b),
                        OP_MIN => a.min(b),
                        _ => a.max(b),
                    };
                    if code == OP_NUMEQUALVERIFY {
                        if result == 0 {
                            return Err(ScriptError::NumEqualVerify);
                        }
                    } else {
                        stack.push(num::encode(result));
                    }
                }
                OP_WITHIN => {
                    need(stack, 3)?;
                    let max = num::decode(at(stack, 1)?, 4)?;
                    let min = num::decode(at(stack, 2)?, 4)?;
                    let x = num::decode(at(stack, 3)?, 4)?;
                    stack.truncate(stack.len() - 3);
                    stack.push(truth(min <= x && x < max));
                }
                OP_RIPEMD160 | OP_SHA1 | OP_SHA256 | OP_HASH160 | OP_HASH256 => {
                    let data = pop(stack)?;
                    stack.push(match code {
                        OP_RIPEMD160 => Ripemd160::digest(&data).to_vec(),
                        OP_SHA1 => Sha1::digest(&data).to_vec(),
                        OP_SHA256 => Sha256::digest(&data).to_vec(),
                        OP_HASH160 => Ripemd160::digest(Sha256::digest(&data)).to_vec(),
                        _ => Sha256::digest(Sha256::digest(&data)).to_vec(),
                    });
                }
                OP_CODESEPARATOR => code_start = pc,
                OP_CHECKSIG | OP_CHECKSIGVERIFY => {
                    need(stack, 2)?;
                    cost.signature_checks = cost.signature_checks.saturating_add(1);
                    let key = pop(stack)?;
                    let sig = pop(stack)?;
                    let ok = checker.check_signature(&sig, &key, &script[code_start..]);
                    if code == OP_CHECKSIGVERIFY {
                        if !ok {
                            return Err(ScriptError::CheckSigVerify);
                        }
                    } else {
                        stack.push(truth(ok));
                    }
                }
                OP_CHECKMULTISIG | OP_CHECKMULTISIGVERIFY => {
                    let ok = check_multisig(stack, &mut ops, cost, checker, &script[code_start..])?;
                    if code == OP_CHECKMULTISIGVERIFY {
                        if !ok {
                            return Err(ScriptError::CheckSigVerify);
                        }
                    } else {
                        stack.push(truth(ok));
                    }
                }
                OP_EXPONENT => {
                    need(stack, 3)?;
                    let modulus = pop(stack)?;
                    let exponent_bytes = pop(stack)?;
                    let base = pop(stack)?;
                    let units = exponent::cost(&modulus, &exponent_bytes);
                    ops += units - 1;
                    if ops > MAX_OPS {
                        return Err(ScriptError::OpCount);
                    }
                    cost.exponent_units = cost.exponent_units.saturating_add(units as u64);
                    stack.push(exponent::modpow(&base, &exponent_bytes, &modulus)?);
                }
                _ => return Err(ScriptError::BadOpcode),
            }
        }
        if stack.len() + alt.len() > MAX_STACK_ITEMS {
            return Err(ScriptError::StackSize);
        }
    }
    if !exec.is_empty() {
        return Err(ScriptError::UnbalancedConditional);
    }
    Ok(())
}

/// CHECKMULTISIG as Bitcoin runs it, including the extra item it pops.
fn check_multisig(
    stack: &mut Stack,
    ops: &mut usize,
    cost: &mut Cost,
    checker: &dyn SignatureChecker,
    script_code: &[u8],
) -> Result<bool, ScriptError> {
    need(stack, 1)?;
    let keys = num::decode(at(stack, 1)?, 4)?;
    if !(0..=MAX_MULTISIG_KEYS).contains(&keys) {
        return Err(ScriptError::PubkeyCount);
    }
    *ops += keys as usize;
    if *ops > MAX_OPS {
        return Err(ScriptError::OpCount);
    }
    cost.signature_checks = cost.signature_checks.saturating_add(keys as u64);
    let keys = keys as usize;
    need(stack, 2 + keys)?;
    let sigs = num::decode(at(stack, 2 + keys)?, 4)?;
    if sigs < 0 || sigs as usize > keys {
        return Err(ScriptError::SigCount);
    }
    let sigs = sigs as usize;
    let total = 3 + keys + sigs; // counts, keys, signatures, and the extra item
    need(stack, total)?;
    let base = stack.len() - total;
    let key_items: Vec<Vec<u8>> = stack[base + 1 + sigs + 1..base + 1 + sigs + 1 + keys]
        .iter()
        .rev()
        .cloned()
        .collect();
    let sig_items: Vec<Vec<u8>> = stack[base + 1..base + 1 + sigs]
        .iter()
        .rev()
        .cloned()
        .collect();
    let (mut k, mut s) = (0, 0);
    let mut ok = true;
    while ok && s < sig_items.len() {
        if checker.check_signature(&sig_items[s], &key_items[k], script_code) {
            s += 1;
        }
        k += 1;
        if sig_items.len() - s > key_items.len() - k {
            ok = false;
        }
    }
    stack.truncate(base);
    Ok(ok)
}

/// Runs the unlocking then the locking script (and, with [`Flags::p2sh`], the redeem
/// script of a pay-to-script-hash output); `Ok` with the final stack when the spend is
/// valid (Bitcoin's `VerifyScript`).
pub fn verify(
    unlocking: &[u8],
    locking: &[u8],
    flags: Flags,
    checker: &dyn SignatureChecker,
) -> Result<Stack, ScriptError> {
    verify_with(unlocking, locking, flags, checker, &mut Cost::default())
}

/// [`verify`], adding the work of every script run to `cost`.
pub fn verify_with(
    unlocking: &[u8],
    locking: &[u8],
    flags: Flags,
    checker: &dyn SignatureChecker,
    cost: &mut Cost,
) -> Result<Stack, ScriptError> {
    let mut stack = Stack::new();
    eval_with(unlocking, &mut stack, checker, cost)?;
    let after_unlocking = if flags.p2sh {
        Some(stack.clone())
    } else {
        None
    };
    eval_with(locking, &mut stack, checker, cost)?;
    if !stack.last().is_some_and(|top| num::as_bool(top)) {
        return Err(ScriptError::EvalFalse);
    }
    if let Some(mut stack) = after_unlocking.filter(|_| is_p2sh(locking)) {
        if !is_push_only(unlocking) {
            return Err(ScriptError::SigPushOnly);
        }
        let redeem = pop(&mut stack)?;
        eval_with(&redeem, &mut stack, checker, cost)?;
        if !stack.last().is_some_and(|top| num::as_bool(top)) {
            return Err(ScriptError::EvalFalse);
        }
        return Ok(stack);
    }
    Ok(stack)
}
