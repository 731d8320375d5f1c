//! Diffie-Hellman key negotiation through the chain (Chen et al. 2019), first part: the
//! groups, with everything received validated, and the attack on the paper's 8-digit group.
//!
//! - [`group`]: RFC 7919 ffdhe2048/ffdhe3072 ([`FiniteFieldGroup`], validated: safe prime
//!   of an accepted size, generator and shares in the prime-order subgroup), ECDH on P-256
//!   ([`P256Group`]), and the [`MasterKey`] (zeroized, never printed, compared in constant
//!   time).
//! - [`insecure`]: the paper's demonstration group, named as insecure, and the
//!   baby-step giant-step attack that breaks it.
//!
//! ```
//! use vkm_negotiate::FiniteFieldGroup;
//!
//! let mut rng = rand::rng();
//! let group = FiniteFieldGroup::ffdhe2048()?;
//! let (a, share_a) = group.keypair(&mut rng);
//! let (b, share_b) = group.keypair(&mut rng);
//! assert_eq!(group.agree(&a, &share_b)?, group.agree(&b, &share_a)?);
//! assert!(group.validate_share(&[1]).is_err());
//! # Ok::<(), vkm_negotiate::GroupError>(())
//! ```

#![forbid(unsafe_code)]

pub mod group;
pub mod insecure;

pub use group::{FiniteFieldGroup, GroupError, MasterKey, P256Group, SecretExponent};
pub use insecure::{InsecurePaperGroup, baby_step_giant_step};
