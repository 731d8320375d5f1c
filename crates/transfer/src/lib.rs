//! Key transfer between security domains (Lei et al. 2017, III.A-B): a vehicle's identity
//! materials sealed to the destination security manager and signed by the source, in the
//! blockchain structure and in the traditional structure it replaces.
//!
//! - [`keys`]: a member's key pairs (ECDSA P-256 signing, separate encryption key),
//!   PKCS#8 PEM, zeroized on drop.
//! - [`seal`]: the [`Sealer`](seal::Sealer) trait; IEEE 1609.2 ECIES on P-256 with
//!   AES-128-CCM (default, conformance-tested) and the `ecies` crate on secp256k1.
//! - [`signature`]: low-S ECDSA over SHA-256 of the preimages; a fast verifier with
//!   per-key precomputed tables for registered signers.
//! - [`central`]: the central manager's roles: pseudonym sets, refresh, revocations.
//! - [`certificate`]: pseudonym certificates issued by central managers, and identity
//!   materials.
//! - [`crossing`]: the vehicle's signed crossing request and the source's checks of it
//!   (proof of possession, freshness, replay).
//! - [`directory`]: registered members as the transfer logic needs them.
//! - [`transfer`]: build, check (in parallel) and admit key-transfer transactions (Table I).
//! - [`traditional`]: the relayed baseline of Figs. 3-4 (verify, decrypt, re-encrypt,
//!   re-sign at every hop).
//! - `scenario` (feature `fixtures`): keyed domains for demos, tests and benchmarks.
//!
//! Everything is sans-IO: functions that take messages and return messages.
//!
//! ```
//! use std::collections::HashSet;
//! use rand::SeedableRng;
//! use vkm_block::{MemberId, Timestamp};
//! use vkm_transfer::directory::Directory;
//! use vkm_transfer::keys::EncryptionScheme;
//! use vkm_transfer::scenario::Scenario;
//! use vkm_transfer::transfer::{admit, build_key_transfer, check_key_transfer};
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(1);
//! let world = Scenario::new(2, 1, EncryptionScheme::Ieee1609P256, &mut rng);
//! let now = Timestamp(1_700_000_000_000);
//! let vehicle = world.vehicle(0, now, 3_600_000, &mut rng).expect("domain 0 exists");
//! let (a, b) = (MemberId(1), MemberId(2)); // the security managers of the two domains
//! let destination = world.directory.member(b).expect("registered");
//! let tx = build_key_transfer(world.keys(a).expect("keys"), a, 0, destination, now, &vehicle, &mut rng)?;
//! check_key_transfer(&tx, &world.directory, &HashSet::new())?; // what every SM checks
//! let admitted = admit(&tx, world.keys(b).expect("keys"), b, &world.directory, now)?;
//! assert_eq!(admitted.materials, vehicle);
//! # Ok::<(), vkm_transfer::transfer::TransferError>(())
//! ```

#![forbid(unsafe_code)]

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
