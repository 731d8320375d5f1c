#![doc = include_str!("../README.md")]
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
