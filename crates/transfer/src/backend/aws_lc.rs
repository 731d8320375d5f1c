//! The AWS-LC backend (`aws-lc-rs`): constant-time P-256 in C and assembly, random
//! nonces for signing. Key material is cleansed by AWS-LC when a key is freed.

use aws_lc_rs::agreement::{ECDH_P256, ParsedPublicKey, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair,
};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{NonZeroScalar, PublicKey};
use zeroize::Zeroizing;

/// The backend's name, as benchmarks and `vkm bench crypto` report it.
pub const NAME: &str = "aws-lc";

/// A secret scalar prepared for ECDH (building it computes and checks `secret * G`).
pub struct EcdhSecret {
    key: PrivateKey,
}

impl core::fmt::Debug for EcdhSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("EcdhSecret(..)")
    }
}

impl EcdhSecret {
    /// Prepares `secret` (`None` only if AWS-LC refuses a valid scalar).
    pub fn new(secret: &NonZeroScalar) -> Option<Self> {
        let scalar = Zeroizing::new(<[u8; 32]>::from(secret.to_bytes()));
        PrivateKey::from_private_key(&ECDH_P256, scalar.as_slice())
            .ok()
            .map(|key| Self { key })
    }

    /// `x(secret * peer)`, the ECDH shared secret.
    pub fn agree(&self, peer: &EcdhPeer) -> Option<Zeroizing<[u8; 32]>> {
        let mut out = Zeroizing::new([0u8; 32]);
        aws_lc_rs::agreement::agree(&self.key, peer.0.clone(), (), |x| {
            if x.len() != 32 {
                return Err(());
            }
            out.copy_from_slice(x);
            Ok(())
        })
        .ok()?;
        Some(out)
    }

    /// `secret * G`.
    pub fn public_key(&self) -> Option<PublicKey> {
        let point = self.key.compute_public_key().ok()?;
        PublicKey::from_sec1_bytes(point.as_ref()).ok()
    }
}

/// A received P-256 point, parsed by AWS-LC: on the curve and not the identity.
#[derive(Clone)]
pub struct EcdhPeer(ParsedPublicKey);

impl core::fmt::Debug for EcdhPeer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("EcdhPeer").field(&self.0.as_ref()).finish()
    }
}

impl EcdhPeer {
    /// Parses SEC1 bytes (compressed or not); `None` for anything else.
    pub fn parse(sec1: &[u8]) -> Option<Self> {
        ParsedPublicKey::try_from(&UnparsedPublicKey::new(&ECDH_P256, sec1))
            .ok()
            .map(Self)
    }

    /// A public key already known to be valid (`None` only if AWS-LC refuses it).
    pub fn from_public(key: &PublicKey) -> Option<Self> {
        Self::parse(key.to_sec1_point(false).as_bytes())
    }
}

/// ECDSA P-256 signing of digests with random nonces (what OpenSSL does).
pub struct Signer {
    pair: EcdsaKeyPair,
}

impl core::fmt::Debug for Signer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    /// Prepares `key` (`None` only if AWS-LC refuses a valid P-256 key).
    pub fn new(key: &SigningKey) -> Option<Self> {
        use p256::pkcs8::EncodePrivateKey;
        // A `SecretDocument`: zeroized on drop.
        let der = key.to_pkcs8_der().ok()?;
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_bytes()).ok()?;
        Some(Self { pair })
    }

    /// Signs a 32-byte digest (`s` not normalised).
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Option<Signature> {
        let digest =
            aws_lc_rs::digest::Digest::import_less_safe(digest, &aws_lc_rs::digest::SHA256).ok()?;
        let signed = self.pair.sign_digest(&digest).ok()?;
        Signature::from_slice(signed.as_ref()).ok()
    }
}

/// Whether `signature` (`r || s`, any `s`) verifies over `digest` under `key`.
pub fn verify_digest(key: &VerifyingKey, digest: &[u8; 32], signature: &[u8; 64]) -> bool {
    let Ok(digest) =
        aws_lc_rs::digest::Digest::import_less_safe(digest, &aws_lc_rs::digest::SHA256)
    else {
        return false;
    };
    let point = key.to_sec1_point(false);
    aws_lc_rs::signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point.as_bytes())
        .verify_digest(&digest, signature)
        .is_ok()
}
