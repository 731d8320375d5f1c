//! Diffie-Hellman key negotiation through the chain (Chen et al. 2019), without the
//! paper's leaks: validated standard groups, three channels for the shares, key
//! confirmation on the chain, and HKDF session keys per block.
//!
//! - [`group`]: RFC 7919 ffdhe2048/ffdhe3072 ([`FiniteFieldGroup`], validated: safe prime
//!   of an accepted size, generator and shares in the prime-order subgroup), ECDH on P-256,
//!   the paper's group only by explicit choice, all behind [`Group`]; the [`MasterKey`]
//!   (zeroized, never printed, compared in constant time).
//! - [`digits`]: the value channel's 8-digit amounts.
//! - [`wire`]: what goes on the chain: published parameters, carriers, messageA/messageB,
//!   the dynamic locking script (public values only, OP_EXPONENT checks the revealed
//!   share).
//! - [`keys`]: key-confirmation tags, session keys (HKDF-SHA256), the [`KeyBook`].
//! - [`party`]: negotiations as sans-IO state machines: one [`Negotiation`] per
//!   counterparty, a [`Participant`] (one identity, one wallet) running many at once,
//!   deadlines in blocks and typed outcomes; [`Party`] for the two-party case.
//! - [`session`]: session keys that follow the best chain ([`SessionKeys`]) and
//!   application messages protected with them (AES-256-GCM).
//! - `local` (feature `local`, default): any number of participants negotiating over a
//!   local chain mined by a real security manager (`vkm-runtime`), with lost messages on
//!   demand.
//! - [`insecure`] and `attack` (feature `local`): the paper's demonstration group and
//!   literal dynamic script, and the attacks that break them.
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

#[cfg(feature = "local")]
pub mod attack;
pub mod digits;
pub mod group;
pub mod insecure;
pub mod keys;
#[cfg(feature = "local")]
pub mod local;
pub mod party;
pub mod session;
pub mod wire;

pub use group::{
    FiniteFieldGroup, Group, GroupError, MasterKey, P256Group, P256Secret, Secret, SecretExponent,
    ValidShare,
};
pub use insecure::{InsecurePaperGroup, baby_step_giant_step};
pub use keys::{KeyBook, SessionKey, pairs_needed, session_key};
pub use party::{
    Deadlines, Negotiation, NegotiationError, Participant, Party, PartyConfig, Peer, Step, Terms,
};
pub use session::{Protected, SessionKeys};
pub use wire::{Channel, Role};
