//! The security-manager node of vkm (Lei et al. Figs. 2(b) and 5).
//!
//! - [`sm`]: the security manager as a sans-IO state machine: [`sm::Event`]s in (a
//!   vehicle's signed crossing request delivered by an RSU, a peer's transaction or block, a timer, a
//!   mining result), [`sm::Action`]s out (broadcast, start or abort mining, admit a
//!   vehicle, a committed block, a timer, a typed [`sm::Refusal`]). No threads, sockets
//!   or clocks inside: `vkm-runtime` applies the actions for every driver (in-process
//!   network, simulator, local chain). (Its ledger writes to its own store: persistence
//!   is synchronous, not I/O the runtime schedules.)
//! - [`Schedule`]: collection periods and mining rounds as one pure type, shared with the
//!   simulator's model mode.
//! - [`DomainGroup`]: the domain's group over any `vkm_rekey::GroupKeyScheme`, with
//!   welcomes sealed to each joiner's pseudonym.
//! - [`vehicle`]: the vehicle (on-board unit) as a sans-IO state machine: signed crossing
//!   requests, sealed welcomes, rekeys, BSMs.
//! - [`Mempool`]: pending key transfers and value transactions, bounded, without two
//!   spends of one output.
//! - [`relay`]: the traditional structure's nodes.
//! - [`chain_rules`]: the rule set of vkm's chain (key transfers, value transactions).
//!
//! ```no_run
//! use vkm_block::{MemberId, Timestamp};
//! use vkm_ledger::Ledger;
//! use vkm_node::sm::{NodeConfig, SecurityManager};
//! use vkm_period::{CollectionPeriod, FixedPolicy};
//! use vkm_transfer::keys::EncryptionScheme;
//! use vkm_transfer::rules::KeyTransferRules;
//! use vkm_transfer::scenario::Scenario;
//!
//! let mut rng = rand::rng();
//! let world = Scenario::new(9, 1, EncryptionScheme::Ieee1609P256, &mut rng);
//! let genesis = world.genesis_block(10, Timestamp::now());
//! let rules = KeyTransferRules::new(1);
//! let ledger = Ledger::open("sm1.redb", &genesis, vkm_node::chain_rules(&rules, 1))?;
//! let period = CollectionPeriod::new(1.0)?;
//! let keys = world.keys(MemberId(1)).expect("registered").clone();
//! let mut sm = SecurityManager::new(MemberId(1), keys, ledger, rules, Box::new(FixedPolicy(period)), period, NodeConfig::default())?;
//! let first_actions = sm.start(Timestamp::now()); // the first period timer
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
