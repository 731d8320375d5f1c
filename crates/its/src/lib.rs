//! IEEE 1609.2 / ETSI TS 103 097 structures for vkm, over `rasn-its`'s COER codec.
//!
//! - [`Certificate`]: decode any COER certificate (explicit or implicit; NIST P-256,
//!   brainpoolP256r1/P384r1 keys), read its fields, its `HashedId8`, check its signature
//!   ([`Certificate::verify_signature`]), and issue P-256 certificates: a self-signed root
//!   ([`Certificate::root`]) and certificates under it ([`Certificate::issue`]) such as a
//!   central manager's authority certificate and a vehicle's pseudonym certificate
//!   (authorization ticket: no name, P-256 verification and encryption keys, vkm's PSID).
//! - [`verify_chain`]: root -> authority -> end entity, with validity, permissions,
//!   chain length and revocation.
//! - [`SignedData`]: verify signed data others wrote (the EU trust list) and sign a
//!   payload with a P-256 certificate's key.
//! - [`EncryptedData`]: the `Ieee1609Dot2Data` that carries an ECIES-wrapped AES-128-CCM
//!   ciphertext to certificate recipients.
//!
//! Every decoder checks the input's size before reading it, bounds nesting, refuses
//! trailing bytes and accepts only canonical encodings (decode then encode gives the same
//! bytes). The ASN.1 types stay inside this crate's types; [`Certificate::asn`] gives the
//! full structure to whoever needs more.
//!
//! ```
//! use p256::ecdsa::SigningKey;
//! use vkm_its::{Certificate, CertificateRequest, ChainPolicy, PSID_VKM_KEY_TRANSFER, Time32, Validity, verify_chain};
//!
//! let root_key = SigningKey::from_slice(&[7u8; 32])?;
//! let cm_key = SigningKey::from_slice(&[8u8; 32])?;
//! let vehicle_key = SigningKey::from_slice(&[9u8; 32])?;
//! let year = Validity { start: Time32(700_000_000), duration_s: 365 * 86_400 };
//! let root = Certificate::root(&root_key, "vkm root", year)?;
//! let cm = root.issue(&root_key, &CertificateRequest {
//!     name: Some("central manager 1".into()),
//!     validity: year,
//!     app_permissions: vec![PSID_VKM_KEY_TRANSFER],
//!     issue: Some(1),
//!     verification_key: *cm_key.verifying_key(),
//!     encryption_key: None,
//! })?;
//! let ticket = cm.issue(&cm_key, &CertificateRequest {
//!     name: None,
//!     validity: Validity { start: Time32(700_000_000), duration_s: 7 * 86_400 },
//!     app_permissions: vec![PSID_VKM_KEY_TRANSFER],
//!     issue: None,
//!     verification_key: *vehicle_key.verifying_key(),
//!     encryption_key: Some(vehicle_key.verifying_key().into()),
//! })?;
//! let policy = ChainPolicy { at: Time32(700_000_100), psid: Some(PSID_VKM_KEY_TRANSFER), revoked: &|_| false };
//! verify_chain(&[ticket.clone(), cm, root], &policy)?;
//! assert_eq!(Certificate::from_oer(ticket.to_oer())?, ticket);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod certificate;
mod chain;
mod codec;
mod ecdsa;
mod encrypted;
mod signed;
mod time;

pub use certificate::{
    Certificate, CertificateError, CertificateRequest, Curve, HashAlgorithm, HashedId8,
    IssuePermission, Issuer, MAX_CERTIFICATE_BYTES, PSID_VKM_KEY_TRANSFER, Psid, PublicKey,
    Validity,
};
pub use chain::{ChainError, ChainPolicy, verify_chain};
pub use codec::DecodeError;
pub use encrypted::{
    EciesRecipient, EncryptedData, EncryptedDataError, MAX_ENCRYPTED_DATA_BYTES, MAX_RECIPIENTS,
    RecipientKind, encryption_key_id,
};
pub use signed::{MAX_SIGNED_DATA_BYTES, SignedData, SignedDataError, Signer, SignerRef, Unsigned};
pub use time::{EPOCH_UNIX_S, Time32};

/// The `rasn-its` types, for what vkm's accessors do not cover.
pub use rasn_its::ieee1609dot2 as asn;
