//! Sealing identity materials to a recipient: one narrow trait, two backends.
//!
//! - [`ieee1609`]: IEEE 1609.2 ECIES on NIST P-256 with AES-128-CCM (the default).
//! - `secp256k1` (feature `secp256k1`): the `ecies` crate (secp256k1, HKDF-SHA256,
//!   AES-256-GCM).
//!
//! Opening fails with one opaque [`OpenError::Failed`] for anything cryptographic (wrong
//! key, tampering, another recipient), and with a precise [`MalformedCiphertext`] only for
//! input that cannot be parsed (wrong lengths, a bad point), which reveals nothing secret.

pub mod ieee1609;
#[cfg(feature = "secp256k1")]
pub mod secp256k1;

use rand::CryptoRng;
use zeroize::Zeroizing;

/// Seals bytes to a recipient's public key; the recipient's secret key opens them.
///
/// `p1` binds a ciphertext to context both sides know (vkm passes the SHA-256 of the
/// recipient's registry entry): opening with another `p1` fails.
pub trait Sealer {
    /// The recipient's public key.
    type PublicKey;
    /// The recipient's secret key.
    type SecretKey;

    /// Encrypts `plaintext` to `recipient`.
    fn seal<R: CryptoRng + ?Sized>(
        &self,
        recipient: &Self::PublicKey,
        p1: &[u8],
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, SealError>;

    /// Decrypts what [`Sealer::seal`] produced for this key and `p1`.
    fn open(
        &self,
        recipient: &Self::SecretKey,
        p1: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, OpenError>;
}

/// Sealing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The plaintext is longer than the backend can encrypt.
    #[error("plaintext of {len} bytes is too long to seal (limit {max})")]
    PlaintextTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The backend refused the recipient key.
    #[error("recipient key refused by the sealing backend")]
    BadRecipientKey,
}

/// A sealed message that cannot be parsed: says what is wrong with the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed ciphertext: {what}: {reason}")]
pub struct MalformedCiphertext {
    /// The part that is wrong.
    pub what: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The bytes are not a sealed message of this backend.
    #[error(transparent)]
    Malformed(#[from] MalformedCiphertext),
    /// The message does not open with this key and context. Deliberately without detail.
    #[error("cannot open the sealed message")]
    Failed,
}
