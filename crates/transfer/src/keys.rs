//! A member's key pairs: ECDSA P-256 for signing, and a separate encryption key (key
//! separation), loaded and saved as PKCS#8 PEM.
//!
//! Secret keys zeroize themselves on drop (`p256`, `k256` and `ecdsa` implement it), PEM
//! text is held in `Zeroizing` strings, and `Debug` shows public keys only.

use core::fmt;

use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand::CryptoRng;
use vkm_block::{DomainName, EncryptionKey, Member, MemberId, PublicKeyBytes, Role};
use zeroize::Zeroizing;

/// Which sealing backend an encryption key is for. The secp256k1 one exists with the
/// `secp256k1` feature only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum EncryptionScheme {
    /// IEEE 1609.2 ECIES on NIST P-256 (the default).
    #[default]
    Ieee1609P256,
    /// The `ecies` crate on secp256k1.
    #[cfg(feature = "secp256k1")]
    EciesSecp256k1,
}

impl EncryptionScheme {
    /// The schemes this build has (the secp256k1 one with the `secp256k1` feature).
    pub const AVAILABLE: &'static [Self] = &[
        Self::Ieee1609P256,
        #[cfg(feature = "secp256k1")]
        Self::EciesSecp256k1,
    ];
}

/// A member's secret encryption key.
#[derive(Clone)]
#[non_exhaustive]
pub enum EncryptionSecret {
    /// For IEEE 1609.2 ECIES.
    P256(p256::SecretKey),
    /// For the `ecies` crate.
    #[cfg(feature = "secp256k1")]
    Secp256k1(k256::SecretKey),
}

/// A member's public encryption key, validated (on its curve).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncryptionPublic {
    /// For IEEE 1609.2 ECIES.
    P256(p256::PublicKey),
    /// For the `ecies` crate.
    #[cfg(feature = "secp256k1")]
    Secp256k1(k256::PublicKey),
}

/// A key on the chain cannot be used: not a valid point of its curve, or of a curve this
/// build does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {reason}")]
pub struct InvalidKey {
    /// Which key.
    pub what: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The reason of an [`InvalidKey`] that does not decode to a point.
const NOT_A_POINT: &str = "not a point on its curve";

impl EncryptionSecret {
    /// The P-256 secret, if it is one.
    pub fn as_p256(&self) -> Option<&p256::SecretKey> {
        match self {
            Self::P256(secret) => Some(secret),
            #[cfg(feature = "secp256k1")]
            Self::Secp256k1(_) => None,
        }
    }
}

impl EncryptionPublic {
    /// The form registered on the chain (compressed SEC1 with a scheme tag).
    pub fn to_chain(&self) -> EncryptionKey {
        match self {
            Self::P256(key) => EncryptionKey::P256(p256_public_to_chain(key)),
            #[cfg(feature = "secp256k1")]
            Self::Secp256k1(key) => {
                EncryptionKey::Secp256k1(compressed(key.to_sec1_point(true).as_bytes()))
            }
        }
    }

    /// Parses and validates the chain form.
    pub fn from_chain(key: &EncryptionKey) -> Result<Self, InvalidKey> {
        let invalid = |_| InvalidKey {
            what: "encryption key",
            reason: NOT_A_POINT,
        };
        match key {
            EncryptionKey::P256(bytes) => p256::PublicKey::from_sec1_bytes(&bytes.0)
                .map(Self::P256)
                .map_err(invalid),
            #[cfg(feature = "secp256k1")]
            EncryptionKey::Secp256k1(bytes) => k256::PublicKey::from_sec1_bytes(&bytes.0)
                .map(Self::Secp256k1)
                .map_err(invalid),
            #[cfg(not(feature = "secp256k1"))]
            EncryptionKey::Secp256k1(_) => Err(InvalidKey {
                what: "secp256k1 encryption key",
                reason: "this build has no secp256k1 backend (feature `secp256k1` of vkm-transfer)",
            }),
        }
    }
}

fn compressed(bytes: &[u8]) -> PublicKeyBytes {
    let mut out = [0u8; 33];
    out.copy_from_slice(bytes);
    PublicKeyBytes(out)
}

/// Parses a chain signing key (compressed P-256 point).
pub fn verifying_key_from_chain(bytes: &PublicKeyBytes) -> Result<VerifyingKey, InvalidKey> {
    VerifyingKey::from_sec1_bytes(&bytes.0).map_err(|_| InvalidKey {
        what: "signing key",
        reason: NOT_A_POINT,
    })
}

/// The chain form of a verifying key.
pub fn verifying_key_to_chain(key: &VerifyingKey) -> PublicKeyBytes {
    compressed(key.to_sec1_point(true).as_bytes())
}

/// The compressed form of a P-256 public key (a pseudonym's encryption key).
pub fn p256_public_to_chain(key: &p256::PublicKey) -> PublicKeyBytes {
    compressed(key.to_sec1_point(true).as_bytes())
}

/// Loading or saving keys failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The PEM text is not a PKCS#8 key of the expected curve.
    #[error("not a PKCS#8 PEM {what} key")]
    Pem {
        /// Which key was expected.
        what: &'static str,
    },
    /// The key could not be encoded (should not happen for valid keys).
    #[error("cannot encode the {what} key as PKCS#8")]
    Encode {
        /// Which key.
        what: &'static str,
    },
}

/// The key pairs of a member (security manager or central manager).
#[derive(Clone)]
pub struct MemberKeys {
    /// ECDSA P-256 signing key.
    pub signing: SigningKey,
    /// Encryption secret, kept apart from the signing key.
    pub encryption: EncryptionSecret,
    /// The P-256 encryption secret prepared for opening, built at the first open.
    opening: std::sync::OnceLock<Option<crate::seal::ieee1609::OpeningKey>>,
}

impl fmt::Debug for MemberKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberKeys")
            .field(
                "signing_public",
                &hex(verifying_key_to_chain(self.signing.verifying_key()).0),
            )
            .field("encryption_public", &self.encryption_public().to_chain())
            .finish_non_exhaustive()
    }
}

fn hex(bytes: [u8; 33]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl MemberKeys {
    /// Fresh keys for `scheme`.
    pub fn generate<R: CryptoRng + ?Sized>(scheme: EncryptionScheme, rng: &mut R) -> Self {
        let signing = SigningKey::generate_from_rng(rng);
        let encryption = match scheme {
            EncryptionScheme::Ieee1609P256 => {
                EncryptionSecret::P256(p256::SecretKey::generate_from_rng(rng))
            }
            #[cfg(feature = "secp256k1")]
            EncryptionScheme::EciesSecp256k1 => {
                EncryptionSecret::Secp256k1(k256::SecretKey::generate_from_rng(rng))
            }
        };
        Self::new(signing, encryption)
    }

    /// Keys from their parts.
    pub fn new(signing: SigningKey, encryption: EncryptionSecret) -> Self {
        Self {
            signing,
            encryption,
            opening: std::sync::OnceLock::new(),
        }
    }

    /// The P-256 encryption secret prepared for opening (built once; `None` for a
    /// secp256k1 key). Checked against [`Self::encryption`] on every call, so replacing
    /// that field never opens with a stale key.
    pub fn opening_key(&self) -> Option<&crate::seal::ieee1609::OpeningKey> {
        let secret = self.encryption.as_p256()?;
        let prepared = self
            .opening
            .get_or_init(|| crate::seal::ieee1609::OpeningKey::new(secret))
            .as_ref()?;
        prepared.is_for(secret).then_some(prepared)
    }

    /// The public encryption key.
    pub fn encryption_public(&self) -> EncryptionPublic {
        match &self.encryption {
            EncryptionSecret::P256(key) => EncryptionPublic::P256(key.public_key()),
            #[cfg(feature = "secp256k1")]
            EncryptionSecret::Secp256k1(key) => EncryptionPublic::Secp256k1(key.public_key()),
        }
    }

    /// The registry entry announcing these keys on the chain.
    pub fn member(&self, id: MemberId, role: Role, domain: DomainName) -> Member {
        Member {
            id,
            role,
            signing_key: verifying_key_to_chain(self.signing.verifying_key()),
            encryption_key: self.encryption_public().to_chain(),
            domain,
            // A central manager's pseudonym certificates name this certificate as issuer.
            authority_certificate: match role {
                Role::CentralManager => {
                    crate::certificate::authority_certificate(id, &self.signing)
                        .to_oer()
                        .to_vec()
                }
                Role::SecurityManager => Vec::new(),
            },
        }
    }

    /// The signing key as PKCS#8 PEM.
    pub fn signing_pem(&self) -> Result<Zeroizing<String>, KeyFileError> {
        self.signing
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| KeyFileError::Encode { what: "signing" })
    }

    /// The encryption key as PKCS#8 PEM (P-256 or secp256k1, the PEM says which).
    pub fn encryption_pem(&self) -> Result<Zeroizing<String>, KeyFileError> {
        let pem = match &self.encryption {
            EncryptionSecret::P256(key) => key.to_pkcs8_pem(LineEnding::LF),
            #[cfg(feature = "secp256k1")]
            EncryptionSecret::Secp256k1(key) => key.to_pkcs8_pem(LineEnding::LF),
        };
        pem.map_err(|_| KeyFileError::Encode { what: "encryption" })
    }

    /// Loads keys from the two PEM texts.
    pub fn from_pem(signing_pem: &str, encryption_pem: &str) -> Result<Self, KeyFileError> {
        let signing = SigningKey::from_pkcs8_pem(signing_pem).map_err(|_| KeyFileError::Pem {
            what: "P-256 signing",
        })?;
        Ok(Self::new(
            signing,
            encryption_secret_from_pem(encryption_pem)?,
        ))
    }
}

/// Loads an encryption secret from PKCS#8 PEM: P-256, or secp256k1 with the `secp256k1`
/// feature.
pub fn encryption_secret_from_pem(pem: &str) -> Result<EncryptionSecret, KeyFileError> {
    if let Ok(key) = p256::SecretKey::from_pkcs8_pem(pem) {
        return Ok(EncryptionSecret::P256(key));
    }
    #[cfg(feature = "secp256k1")]
    if let Ok(key) = k256::SecretKey::from_pkcs8_pem(pem) {
        return Ok(EncryptionSecret::Secp256k1(key));
    }
    Err(KeyFileError::Pem {
        what: if cfg!(feature = "secp256k1") {
            "P-256 or secp256k1 encryption"
        } else {
            "P-256 encryption"
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pem_round_trip_and_debug_hides_secrets() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for &scheme in EncryptionScheme::AVAILABLE {
            let keys = MemberKeys::generate(scheme, &mut rng);
            let signing = keys.signing_pem().unwrap();
            let encryption = keys.encryption_pem().unwrap();
            assert!(signing.starts_with("-----BEGIN PRIVATE KEY-----"));
            let back = MemberKeys::from_pem(&signing, &encryption).unwrap();
            assert_eq!(back.signing.verifying_key(), keys.signing.verifying_key());
            assert_eq!(back.encryption_public(), keys.encryption_public());
            let debug = format!("{keys:?}");
            let secret_hex: String = keys
                .signing
                .to_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert!(!debug.contains(&secret_hex), "{debug}");
            assert!(MemberKeys::from_pem("junk", &encryption).is_err());
        }
    }
}
