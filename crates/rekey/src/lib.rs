#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod flat;
mod key;
pub mod lkh;
mod message;
mod scheme;
pub mod vehicle;

pub use flat::Flat;
pub use key::{NodeKey, WRAPPED_BYTES};
pub use lkh::Lkh;
pub use message::{MAX_WRAPPED_KEYS, RekeyMessage, VehicleId, Welcome, WrappedKey};
pub use scheme::{GroupKeyScheme, Rekey, RekeyError, check_changes};
pub use vehicle::{BsmError, SealedBsm, VehicleKeys};
