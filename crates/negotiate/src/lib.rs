#![doc = include_str!("../README.md")]
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
