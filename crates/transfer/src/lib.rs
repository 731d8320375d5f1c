#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod backend;
pub mod central;
pub mod certificate;
pub mod crossing;
pub mod directory;
pub mod keys;
pub mod rules;
#[cfg(feature = "fixtures")]
pub mod scenario;
pub mod seal;
pub mod signature;
pub mod traditional;
pub mod transfer;

pub use certificate::{IdentityMaterials, PseudonymCertificate, PseudonymId};
pub use keys::{EncryptionScheme, MemberKeys};
pub use rules::{KeyTransferRules, MemberCache, Prechecks};
pub use transfer::{AdmittedVehicle, TransferError};
