//! The runtime layer of vkm: what every driver of the sans-IO protocol shares.
//!
//! The security manager ([`vkm_node::sm`]) and the traditional relays
//! ([`vkm_node::relay`]) are state machines: events in, actions out. This crate is the one
//! place that
//! - sets a run up ([`World`]: members and keys, genesis, ledgers paired with their rules
//!   over one shared member cache, the relays' directory, vehicles, derived seeds), and
//! - applies the actions ([`apply`], [`apply_relay`]) through narrow effect traits
//!   ([`ManagerEffects`], [`RelayEffects`]) that each driver implements with what it has:
//!   send and broadcast with delays, timers, mining, and what it records;
//! - keeps the vehicles of a run for the drivers that move them ([`Fleet`]).
//!
//! Drivers: the in-process threaded network ([`network`]), a local chain mined by one
//! manager in virtual time ([`local`], used by the key negotiation), managers and
//! vehicles together in virtual time ([`town`]), and the simulator (`vkm-sim`, measured
//! mode). None of them matches on an action itself ([`apply`], [`apply_relay`],
//! [`apply_vehicle`]).
//!
//! ```
//! use vkm_block::{Block, MemberId, Timestamp};
//! use vkm_node::sm::{Message, NodeConfig, Timer};
//! use vkm_period::{CollectionPeriod, FixedPolicy};
//! use vkm_runtime::{ManagerEffects, Store, World, WorldConfig, apply};
//!
//! #[derive(Default)]
//! struct Timers(Vec<(Timestamp, Timer)>);
//!
//! impl ManagerEffects for Timers {
//!     fn broadcast(&mut self, _: Message) {}
//!     fn send(&mut self, _: MemberId, _: Message) {}
//!     fn start_mining(&mut self, _: Block) {}
//!     fn abort_mining(&mut self) {}
//!     fn set_timer(&mut self, at: Timestamp, timer: Timer) {
//!         self.0.push((at, timer));
//!     }
//! }
//!
//! let start = Timestamp(1_700_000_000_000);
//! let world = World::new(WorldConfig::new(3, 8, start, 7));
//! let period = CollectionPeriod::new(1.0)?;
//! let mut sm = world.manager(
//!     MemberId(1),
//!     &Store::Memory,
//!     Box::new(FixedPolicy(period)),
//!     period,
//!     NodeConfig::default(),
//! )?;
//! let mut effects = Timers::default();
//! apply(sm.start(start), &mut effects);
//! // The first period's end, and a deadline for the request it sent a peer for what
//! // lies above its tip.
//! assert_eq!(effects.0[0], (Timestamp(1_700_000_001_000), Timer::PeriodEnd));
//! assert!(matches!(effects.0[1].1, Timer::SyncTimeout(_)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod effects;
pub mod faults;
pub mod fleet;
pub mod local;
pub mod miner;
pub mod network;
pub mod town;
mod world;

pub use effects::{
    ManagerEffects, RelayEffects, VehicleEffects, apply, apply_relay, apply_vehicle,
};
pub use faults::{Crash, FaultError, Faults, Partition};
pub use fleet::{Fleet, FleetStats, Issuers};
pub use local::{LocalChain, LocalError};
pub use miner::MiningWorker;
pub use town::{Record, Town, TownConfig};
pub use world::{Store, World, WorldConfig, seeds};

use vkm_block::MemberId;

/// A run could not be set up, or a node failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The world has no member with this id.
    #[error("no keys for {0}")]
    UnknownMember(MemberId),
    /// A security manager failed.
    #[error(transparent)]
    Node(#[from] vkm_node::sm::NodeError),
    /// A ledger could not be opened or read.
    #[error(transparent)]
    Ledger(#[from] vkm_ledger::LedgerError),
    /// A collection period is out of range.
    #[error(transparent)]
    Period(#[from] vkm_period::PeriodError),
}

/// Network delay of one message, seconds: an exponentially distributed CSMA back-off of
/// mean `backoff_ms` plus `propagation_ms` (Table III's tBO and tP). The in-process network
/// and the simulator draw delays with it.
pub fn message_delay_s<R: rand::Rng + ?Sized>(
    rng: &mut R,
    backoff_ms: f64,
    propagation_ms: f64,
) -> f64 {
    let p: f64 = rand::RngExt::random(rng);
    let backoff = -(1.0 - p).ln() * backoff_ms;
    (backoff + propagation_ms).max(0.0) / 1000.0
}
