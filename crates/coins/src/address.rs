//! Addresses and pay-to-public-key-hash (P2PKH) scripts.

use core::fmt;

use p256::ecdsa::VerifyingKey;
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};
use vkm_block::ScriptBytes;
use vkm_script::opcode::op::{OP_CHECKSIG, OP_DUP, OP_EQUALVERIFY, OP_HASH160};

/// Where coins are paid: HASH160 (RIPEMD-160 of SHA-256) of a compressed SEC1 P-256
/// public key, as in Bitcoin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// The address of a public key.
    pub fn of(key: &VerifyingKey) -> Self {
        Self(hash160(&public_key_bytes(key)))
    }

    /// `OP_DUP OP_HASH160 <address> OP_EQUALVERIFY OP_CHECKSIG`.
    pub fn p2pkh_script(&self) -> ScriptBytes {
        let mut script = Vec::with_capacity(25);
        script.extend_from_slice(&[OP_DUP, OP_HASH160, 20]);
        script.extend_from_slice(&self.0);
        script.extend_from_slice(&[OP_EQUALVERIFY, OP_CHECKSIG]);
        ScriptBytes::new(script).unwrap_or_default()
    }

    /// The address a P2PKH locking script pays, if it is one.
    pub fn from_p2pkh_script(script: &[u8]) -> Option<Self> {
        match script {
            [
                OP_DUP,
                OP_HASH160,
                20,
                hash @ ..,
                OP_EQUALVERIFY,
                OP_CHECKSIG,
            ] if hash.len() == 20 => {
                let mut out = [0u8; 20];
                out.copy_from_slice(hash);
                Some(Self(out))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// RIPEMD-160 of SHA-256, the script's OP_HASH160.
pub fn hash160(data: &[u8]) -> [u8; 20] {
    Ripemd160::digest(Sha256::digest(data)).into()
}

/// A public key as scripts carry it: compressed SEC1 (33 bytes).
pub fn public_key_bytes(key: &VerifyingKey) -> Vec<u8> {
    key.to_sec1_point(true).as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p2pkh_round_trips_and_rejects_other_scripts() {
        let address = Address([7; 20]);
        let script = address.p2pkh_script();
        assert_eq!(script.len(), 25);
        assert_eq!(Address::from_p2pkh_script(script.as_bytes()), Some(address));
        let mut other = script.as_bytes().to_vec();
        other[0] = 0x6a;
        assert_eq!(Address::from_p2pkh_script(&other), None);
        assert_eq!(Address::from_p2pkh_script(&other[..24]), None);
    }

    #[test]
    fn hash160_matches_the_script_interpreter() {
        let data = b"vkm";
        let mut script = Vec::new();
        vkm_script::asm::push_data(&mut script, data);
        script.push(OP_HASH160);
        let mut stack = Vec::new();
        vkm_script::exec::eval(&script, &mut stack, &vkm_script::exec::NoSignatures).unwrap();
        assert_eq!(stack, vec![hash160(data).to_vec()]);
    }
}
