//! The pure-Rust backend: RustCrypto's `p256` (constant-time arithmetic; RFC 6979
//! nonces).

use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::{NonZeroScalar, PublicKey, SecretKey};
use zeroize::Zeroizing;

/// The backend's name, as benchmarks and `vkm bench crypto` report it.
pub const NAME: &str = "rust-crypto";

/// A secret scalar prepared for ECDH (zeroized on drop).
#[derive(Clone)]
pub struct EcdhSecret {
    secret: SecretKey,
}

impl core::fmt::Debug for EcdhSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("EcdhSecret(..)")
    }
}

impl EcdhSecret {
    /// Prepares `secret` (never `None` here; the type is shared with AWS-LC's backend).
    pub fn new(secret: &NonZeroScalar) -> Option<Self> {
        Some(Self {
            secret: SecretKey::from(*secret),
        })
    }

    /// `x(secret * peer)`, the ECDH shared secret (`None` never here).
    pub fn agree(&self, peer: &EcdhPeer) -> Option<Zeroizing<[u8; 32]>> {
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.0.as_affine());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(shared.raw_secret_bytes());
        Some(out)
    }

    /// `secret * G`.
    pub fn public_key(&self) -> Option<PublicKey> {
        Some(self.secret.public_key())
    }
}

/// A received P-256 point: on the curve and not the identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcdhPeer(PublicKey);

impl EcdhPeer {
    /// Parses SEC1 bytes (compressed or not); `None` for anything else.
    pub fn parse(sec1: &[u8]) -> Option<Self> {
        PublicKey::from_sec1_bytes(sec1).ok().map(Self)
    }

    /// A public key already known to be valid.
    pub fn from_public(key: &PublicKey) -> Option<Self> {
        Some(Self(*key))
    }
}

/// ECDSA P-256 signing of digests with RFC 6979 nonces (deterministic).
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
}

impl core::fmt::Debug for Signer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    /// Prepares `key` (never `None` here).
    pub fn new(key: &SigningKey) -> Option<Self> {
        Some(Self { key: key.clone() })
    }

    /// Signs a 32-byte digest (`s` not normalised).
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Option<Signature> {
        self.key.sign_prehash(digest).ok()
    }
}

/// Whether `signature` (`r || s`, any `s`) verifies over `digest` under `key`.
pub fn verify_digest(key: &VerifyingKey, digest: &[u8; 32], signature: &[u8; 64]) -> bool {
    Signature::from_slice(signature)
        .is_ok_and(|signature| key.verify_prehash(digest, &signature).is_ok())
}
