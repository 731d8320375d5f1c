//! Rekeying inside a security domain (Lei et al., abstract and section I): after a
//! vehicle's keys arrive, the domain's group key, which protects basic safety messages
//! (BSMs), changes, so vehicles that left cannot read what follows (forward secrecy) and
//! vehicles that joined cannot read what came before (backward secrecy).
//!
//! - The [`GroupKeyScheme`] trait: one batch rekey per collection period.
//! - [`Flat`]: the new group key wrapped under every member's key, O(n).
//! - [`lkh`]: a logical key hierarchy with batch rekeying, O(changes x log n).
//! - [`vehicle`]: the vehicle side: welcome, rekey messages, BSMs (AES-128-CCM).
//! - [`RekeyMessage`], [`NodeKey`]: rekey messages (AES key wrap, RFC 3394) and their encoding.
//!
//! ```
//! use vkm_rekey::{GroupKeyScheme, Lkh, VehicleId, VehicleKeys};
//!
//! let mut rng = rand::rng();
//! let mut group = Lkh::new(4, &mut rng);
//! let rekey = group.rekey(&[VehicleId(1), VehicleId(2)], &[], &mut rng)?;
//! let mut car = VehicleKeys::new(VehicleId(1));
//! car.welcome(&rekey.welcomes[0]);
//! assert!(car.apply(&rekey.message));
//! let bsm = car.seal(b"position 39.9N 116.4E", &mut rng)?;
//! assert_eq!(car.open(&bsm)?, b"position 39.9N 116.4E");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
