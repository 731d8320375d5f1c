#![doc = include_str!("../README.md")]
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
