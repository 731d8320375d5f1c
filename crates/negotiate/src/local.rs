//! A runtime for negotiations on one machine: a real security manager (the same sans-IO
//! state machine the network and the simulator drive) mining a local chain with virtual
//! time, and the parties' state machines fed with its blocks.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use rand::rngs::StdRng;
use rand::{CryptoRng, SeedableRng};
use vkm_block::{Amount, Block, BlockHash, MemberId, Timestamp, Txid, ValueTx};
use vkm_coins::{Address, genesis_allocation};
use vkm_ledger::{Ledger, LedgerError};
use vkm_node::sm::{
    Action as SmAction, Event as SmEvent, Message, NodeConfig, NodeError, SecurityManager, Timer,
};
use vkm_period::{CollectionPeriod, FixedPolicy};
use vkm_pow::Miner;
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::rules::KeyTransferRules;
use vkm_transfer::scenario::Scenario;

use crate::group::Group;
use crate::party::{Action, Event, Party, State};
use crate::wire::parameters_transaction;

/// Why the local runtime failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// The security manager or its ledger failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The security manager refused a transaction.
    #[error("the security manager refused a transaction: {0}")]
    Refused(String),
    /// The negotiation did not finish within the block budget.
    #[error("no result after {0} blocks")]
    Stalled(u64),
}

/// The collection period of the local security manager.
pub const LOCAL_PERIOD_SECONDS: f64 = 0.5;

/// A local chain mined by one security manager.
pub struct LocalChain {
    sm: SecurityManager,
    now: Timestamp,
    period_ms: u64,
    rng: StdRng,
    parameters: Txid,
}

impl core::fmt::Debug for LocalChain {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalChain")
            .field("height", &self.sm.ledger().height())
            .finish_non_exhaustive()
    }
}

impl LocalChain {
    /// Creates a chain in `db` whose genesis registers one security manager, allocates
    /// `coins` to each of `parties`, and publishes `group` as the system parameters.
    pub fn create<R: CryptoRng + ?Sized>(
        db: &Path,
        group: &Group,
        parties: &[Address],
        coins: Amount,
        difficulty_bits: u8,
        rng: &mut R,
    ) -> Result<Self, LocalError> {
        let world = Scenario::new(1, 1, EncryptionScheme::Ieee1609P256, rng);
        let now = Timestamp::now();
        let mut genesis = world.genesis_block(difficulty_bits, now);
        let allocations: Vec<(Address, Amount)> = parties.iter().map(|a| (*a, coins)).collect();
        genesis.transactions.push(genesis_allocation(&allocations));
        let parameters = parameters_transaction(group);
        let parameters_id = parameters.txid();
        genesis.transactions.push(parameters);
        genesis.header.merkle_root = genesis.compute_merkle_root();
        let rules = KeyTransferRules::new(1);
        let ledger = Ledger::open(db, &genesis, vkm_node::chain_rules(&rules, 1))?;
        let period = CollectionPeriod::new(LOCAL_PERIOD_SECONDS)
            .map_err(|e| LocalError::Refused(e.to_string()))?;
        let id = MemberId(1);
        let keys = world
            .keys(id)
            .cloned()
            .ok_or_else(|| LocalError::Refused("no security manager".into()))?;
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let mut sm = SecurityManager::new(
            id,
            keys,
            ledger,
            rules,
            Box::new(FixedPolicy(period)),
            period,
            NodeConfig::default(),
        )?;
        let _ = sm.start(now);
        Ok(Self {
            sm,
            now,
            period_ms: (LOCAL_PERIOD_SECONDS * 1000.0) as u64,
            rng: StdRng::from_seed(seed),
            parameters: parameters_id,
        })
    }

    /// The transaction publishing the system parameters.
    pub fn parameters(&self) -> Txid {
        self.parameters
    }

    /// The security manager's ledger.
    pub fn ledger(&self) -> &Ledger {
        self.sm.ledger()
    }

    /// The virtual clock.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Hands a transaction to the security manager; `Err` with its reason if refused.
    pub fn submit(&mut self, tx: ValueTx) -> Result<Txid, LocalError> {
        let txid = vkm_coins::value_txid(&tx);
        let actions = self
            .sm
            .handle(SmEvent::Received(Message::Value(tx)), self.now)?;
        for action in actions {
            if let SmAction::Refused(reason) = action {
                return Err(LocalError::Refused(reason));
            }
        }
        Ok(txid)
    }

    /// Ends a collection period: the security manager mines what it collected (if
    /// anything). Returns the new block and its height.
    pub fn mine(&mut self) -> Result<Option<(u64, Block)>, LocalError> {
        self.now = Timestamp((self.now.0 + self.period_ms).max(Timestamp::now().0));
        let mut queue = self.sm.handle(SmEvent::Timer(Timer::PeriodEnd), self.now)?;
        let mut committed = None;
        while let Some(action) = queue.pop() {
            match action {
                SmAction::StartMining(mut block) => {
                    Miner::default().mine(&mut block, &mut self.rng, &AtomicBool::new(false));
                    queue.extend(self.sm.handle(SmEvent::Mined(block), self.now)?);
                }
                SmAction::SetTimer {
                    timer: timer @ Timer::MiningSlot(_),
                    ..
                } => queue.extend(self.sm.handle(SmEvent::Timer(timer), self.now)?),
                SmAction::Committed { height, hash } => committed = Some((height, hash)),
                _ => {}
            }
        }
        match committed {
            Some((height, hash)) => Ok(self.block(&hash)?.map(|b| (height, b))),
            None => Ok(None),
        }
    }

    fn block(&self, hash: &BlockHash) -> Result<Option<Block>, LocalError> {
        Ok(self.sm.ledger().block(hash)?)
    }

    /// The best chain's block at `height`.
    pub fn block_at(&self, height: u64) -> Result<Option<Block>, LocalError> {
        Ok(self.sm.ledger().block_at(height)?)
    }

    /// Delivers the block at `height` to `party` and carries out what it asks: submits
    /// its transactions, serves missed blocks. Returns the actions that are results
    /// (confirmed, failed, ignored).
    pub fn deliver(&mut self, party: &mut Party, height: u64) -> Result<Vec<Action>, LocalError> {
        let mut results = Vec::new();
        let mut heights = vec![height];
        while let Some(h) = heights.pop() {
            let Some(block) = self.block_at(h)? else {
                continue;
            };
            let actions = party.handle(Event::Block {
                height: h,
                block: &block,
                now: self.now,
            });
            for action in actions {
                match action {
                    Action::Submit(tx) => {
                        self.submit(tx)?;
                    }
                    Action::FetchBlocks { from } => {
                        // Deliver `from..=h` in order: push in reverse onto the stack.
                        heights.extend((from..=h).rev());
                    }
                    other => results.push(other),
                }
            }
        }
        Ok(results)
    }
}

/// How a local negotiation went.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Blocks mined during the negotiation.
    pub blocks: u64,
    /// Everything the parties reported (ignored transactions, confirmation, failure).
    pub reports: Vec<(usize, Action)>,
}

/// Runs parties over `chain` until each is confirmed or failed, for at most
/// `max_blocks` blocks. `drop(party, height)` says whether the delivery of that block to
/// that party is lost (it will notice at the next block and fetch it).
pub fn run(
    chain: &mut LocalChain,
    parties: &mut [&mut Party],
    max_blocks: u64,
    mut drop: impl FnMut(usize, u64) -> bool,
) -> Result<Outcome, LocalError> {
    let mut outcome = Outcome::default();
    let done = |parties: &[&mut Party]| {
        parties
            .iter()
            .all(|p| matches!(p.state(), State::Confirmed | State::Failed(_)))
    };
    let mut height = chain.ledger().height();
    for (i, party) in parties.iter_mut().enumerate() {
        for h in 0..=height {
            for report in chain.deliver(party, h)? {
                outcome.reports.push((i, report));
            }
        }
    }
    let mut idle = 0;
    while !done(parties) {
        if outcome.blocks >= max_blocks || idle > 3 {
            return Err(LocalError::Stalled(outcome.blocks));
        }
        let Some((h, _)) = chain.mine()? else {
            idle += 1;
            // Nothing to mine: a party may be waiting on a block it missed.
            for (i, party) in parties.iter_mut().enumerate() {
                for report in chain.deliver(party, height)? {
                    outcome.reports.push((i, report));
                }
            }
            continue;
        };
        idle = 0;
        height = h;
        outcome.blocks += 1;
        for (i, party) in parties.iter_mut().enumerate() {
            if drop(i, h) {
                continue;
            }
            for report in chain.deliver(party, h)? {
                outcome.reports.push((i, report));
            }
        }
    }
    Ok(outcome)
}
