#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod domain;
mod mempool;
pub mod relay;
mod schedule;
pub mod sm;
pub mod vehicle;
pub mod wire;

use std::sync::Arc;

pub use domain::{DomainGroup, GroupError};
pub use mempool::{MAX_MEMPOOL, Mempool};
pub use relay::{RelayAction, RelayEvent, RelayNode};
pub use schedule::{Closed, Round, Schedule, mining_rank, period_end_after};
pub use sm::{
    Action, Admission, Event, FaultCounters, MAX_LOCATOR, MAX_SYNC_BLOCKS, Message, NodeConfig,
    NodeError, Refusal, SecurityManager, Timer, ValueRefusal,
};

use vkm_ledger::RuleSet;
use vkm_transfer::rules::KeyTransferRules;

/// The rule set of vkm's chain: `rules` for member signatures and key transfers, and
/// [`vkm_coins::ValueRules`] on `threads` threads for value transactions' scripts.
pub fn chain_rules(rules: &KeyTransferRules, threads: usize) -> RuleSet {
    let mut set = rules.clone().rule_set();
    set.kinds
        .push(Arc::new(vkm_coins::ValueRules::new(threads)));
    set
}
