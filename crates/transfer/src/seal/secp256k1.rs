//! The `ecies` crate's scheme on secp256k1 (HKDF-SHA256, AES-256-GCM), for users who want
//! it; a security manager using it holds a secp256k1 encryption key.
//!
//! The `ecies` crate has no associated data, so `p1` is bound by sealing
//! `SHA-256(p1) || plaintext` and comparing the digest, in constant time, on opening: a
//! ciphertext opened under another `p1` fails like any other. The crate draws its
//! ephemeral key from the operating system, so the `rng` argument is not used.

use k256::elliptic_curve::sec1::ToSec1Point;
use k256::{PublicKey, SecretKey};
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{MalformedCiphertext, OpenError, SealError, Sealer};

/// Bytes the `ecies` crate adds: a 65-byte uncompressed ephemeral key, a 16-byte nonce
/// and a 16-byte GCM tag (its default configuration).
pub const OVERHEAD_BYTES: usize = 65 + 16 + 16;

/// The `ecies`-crate backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct EciesSecp256k1;

impl Sealer for EciesSecp256k1 {
    type PublicKey = PublicKey;
    type SecretKey = SecretKey;

    fn seal<R: CryptoRng + ?Sized>(
        &self,
        recipient: &PublicKey,
        p1: &[u8],
        plaintext: &[u8],
        _rng: &mut R,
    ) -> Result<Vec<u8>, SealError> {
        let mut bound = Zeroizing::new(Vec::with_capacity(32 + plaintext.len()));
        bound.extend_from_slice(&Sha256::digest(p1));
        bound.extend_from_slice(plaintext);
        let key = recipient.to_sec1_point(false);
        ecies::encrypt(key.as_bytes(), &bound).map_err(|_| SealError::BadRecipientKey)
    }

    fn open(
        &self,
        recipient: &SecretKey,
        p1: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        if sealed.len() < OVERHEAD_BYTES + 32 {
            return Err(MalformedCiphertext {
                what: "sealed message",
                reason: "shorter than the fixed parts",
            }
            .into());
        }
        if sealed[0] != 4 || k256::PublicKey::from_sec1_bytes(&sealed[..65]).is_err() {
            return Err(MalformedCiphertext {
                what: "ephemeral public key",
                reason: "not an uncompressed point on secp256k1",
            }
            .into());
        }
        let secret = Zeroizing::new(recipient.to_bytes());
        let opened =
            Zeroizing::new(ecies::decrypt(&secret[..], sealed).map_err(|_| OpenError::Failed)?);
        let (digest, plaintext) = opened.split_at(32);
        if !bool::from(digest.ct_eq(&Sha256::digest(p1)[..])) {
            return Err(OpenError::Failed);
        }
        Ok(Zeroizing::new(plaintext.to_vec()))
    }
}
