//! Signatures in scripts: ECDSA on P-256 over vkm's signature hash of the spending value
//! transaction.
//!
//! The signature hash of input `i` commits to every input's outpoint, every output
//! (amount and locking script), the lock time, the input index, and the script code
//! (the locking script from its last OP_CODESEPARATOR), under a domain-separation tag:
//! `SHA-256(SHA-256("vkm/value-sighash/v1" || tx with every unlocking script empty except
//! input i's, which holds the script code || i (u32 LE) || sighash type (u8)))`.
//! Only `SIGHASH_ALL` exists. A script signature is 65 bytes: `r || s` (32 bytes each,
//! big-endian, low S) and the sighash type byte; public keys are SEC1 points.

use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::scalar::IsHigh;
use sha2::{Digest, Sha256};
use vkm_block::{Encode, ScriptBytes, ValueTx};

use crate::exec::SignatureChecker;

/// The only signature-hash type: commit to all inputs and outputs.
pub const SIGHASH_ALL: u8 = 1;

/// Domain-separation tag of the signature hash.
pub const SIGHASH_TAG: &[u8] = b"vkm/value-sighash/v1";

/// The signature hash of input `index` of `tx` with `script_code`.
pub fn signature_hash(tx: &ValueTx, index: usize, script_code: &[u8]) -> [u8; 32] {
    let mut stripped = tx.clone();
    for (i, input) in stripped.inputs.iter_mut().enumerate() {
        input.unlocking_script = if i == index {
            ScriptBytes::new(script_code.to_vec()).unwrap_or_default()
        } else {
            ScriptBytes::default()
        };
    }
    let mut hasher = Sha256::new();
    hasher.update(SIGHASH_TAG);
    vkm_block::Transaction::Value(stripped).encode(&mut hasher);
    hasher.update((index as u32).to_le_bytes());
    hasher.update([SIGHASH_ALL]);
    Sha256::digest(hasher.finalize()).into()
}

/// Signs input `index` of `tx` spending an output locked by `script_code`: the 65-byte
/// script signature (low-S `r || s` and `SIGHASH_ALL`).
pub fn sign_input(key: &SigningKey, tx: &ValueTx, index: usize, script_code: &[u8]) -> Vec<u8> {
    let digest = signature_hash(tx, index, script_code);
    let signature: Option<Signature> = key.sign_prehash(&digest).ok();
    let mut out = signature
        .map(|s| s.normalize_s().to_bytes().to_vec())
        .unwrap_or_default();
    out.push(SIGHASH_ALL);
    out
}

/// Checks script signatures against one input of a value transaction.
#[derive(Debug, Clone, Copy)]
pub struct TransactionChecker<'a> {
    /// The spending transaction.
    pub tx: &'a ValueTx,
    /// The input being verified.
    pub index: usize,
}

impl SignatureChecker for TransactionChecker<'_> {
    fn check_signature(&self, signature: &[u8], public_key: &[u8], script_code: &[u8]) -> bool {
        let Some((&SIGHASH_ALL, rs)) = signature.split_last() else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(rs) else {
            return false;
        };
        if bool::from(signature.s().is_high()) {
            return false;
        }
        let Ok(key) = VerifyingKey::from_sec1_bytes(public_key) else {
            return false;
        };
        key.verify_prehash(
            &signature_hash(self.tx, self.index, script_code),
            &signature,
        )
        .is_ok()
    }
}
