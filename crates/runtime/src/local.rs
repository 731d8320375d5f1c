//! One security manager on one machine, with virtual time: it collects what it is given,
//! and each call to [`LocalChain::mine`] ends a collection period, so its block is mined
//! at once. The same sans-IO manager the network and the simulator drive; what runs
//! around it here is only its effects (mining at once, mining slots due at once).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use rand::CryptoRng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{Block, BlockHash, MemberId, Timestamp, Transaction, Txid, ValueTx};
use vkm_ledger::Ledger;
use vkm_node::sm::{Event, Message, NodeConfig, Refusal, SecurityManager, Timer};
use vkm_period::{CollectionPeriod, FixedPolicy};
use vkm_pow::Miner;

use crate::RuntimeError;
use crate::effects::{ManagerEffects, apply};
use crate::world::{Store, World, WorldConfig};

/// The collection period of the local security manager.
pub const LOCAL_PERIOD_SECONDS: f64 = 0.5;

/// Why a local chain operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// The chain could not be set up, or the security manager or its ledger failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The security manager refused a transaction.
    #[error("the security manager refused a transaction: {0}")]
    Refused(Refusal),
}

impl From<vkm_node::sm::NodeError> for LocalError {
    fn from(e: vkm_node::sm::NodeError) -> Self {
        Self::Runtime(e.into())
    }
}

impl From<vkm_ledger::LedgerError> for LocalError {
    fn from(e: vkm_ledger::LedgerError) -> Self {
        Self::Runtime(e.into())
    }
}

/// A local chain mined by one security manager.
pub struct LocalChain {
    sm: SecurityManager,
    now: Timestamp,
    period_ms: u64,
    rng: StdRng,
}

impl core::fmt::Debug for LocalChain {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalChain")
            .field("height", &self.sm.ledger().height())
            .finish_non_exhaustive()
    }
}

/// The local chain's effects: mining and mining slots happen at once, in order.
#[derive(Default)]
struct Immediate {
    /// Events the manager asked for, due now.
    due: Vec<Event>,
    /// Candidates to mine.
    candidates: Vec<Block>,
    committed: Option<(u64, BlockHash)>,
    refused: Option<Refusal>,
}

impl ManagerEffects for Immediate {
    fn broadcast(&mut self, _message: Message) {} // no peers
    fn send(&mut self, _to: MemberId, _message: Message) {}
    fn start_mining(&mut self, candidate: Block) {
        self.candidates.push(candidate);
    }
    fn abort_mining(&mut self) {
        self.candidates.clear();
    }
    fn set_timer(&mut self, _at: Timestamp, timer: Timer) {
        // Mining slots are due at once; the period ends when the caller says.
        if let Timer::MiningSlot(_) = timer {
            self.due.push(Event::Timer(timer));
        }
    }
    fn committed(&mut self, height: u64, hash: BlockHash) {
        self.committed = Some((height, hash));
    }
    fn refused(&mut self, refusal: Refusal) {
        self.refused.get_or_insert(refusal);
    }
}

impl LocalChain {
    /// Creates a chain in `db` whose genesis registers one security manager and carries
    /// `genesis_extra` (coin allocations, published parameters); difficulty
    /// `difficulty_bits`. Keys and mining order come from `rng`.
    pub fn create<R: CryptoRng + ?Sized>(
        db: &Path,
        genesis_extra: Vec<Transaction>,
        difficulty_bits: u8,
        rng: &mut R,
    ) -> Result<Self, LocalError> {
        Self::create_with(
            db,
            genesis_extra,
            difficulty_bits,
            NodeConfig::default(),
            rng,
        )
    }

    /// [`LocalChain::create`] with the security manager's settings (e.g.
    /// [`NodeConfig::mine_empty_blocks`], so that every [`LocalChain::mine`] adds a
    /// block).
    pub fn create_with<R: CryptoRng + ?Sized>(
        db: &Path,
        genesis_extra: Vec<Transaction>,
        difficulty_bits: u8,
        node: NodeConfig,
        rng: &mut R,
    ) -> Result<Self, LocalError> {
        let now = Timestamp::now();
        let config = WorldConfig {
            genesis_time: now,
            genesis_extra,
            ..WorldConfig::new(1, difficulty_bits, now, 0)
        };
        let world = World::with_rng(config, rng);
        let period = CollectionPeriod::new(LOCAL_PERIOD_SECONDS).map_err(RuntimeError::from)?;
        let mut sm = world.manager(
            MemberId(1),
            &Store::File(db.to_path_buf()),
            Box::new(FixedPolicy(period)),
            period,
            node,
        )?;
        let _ = sm.start(now); // the period ends when `mine` is called
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Ok(Self {
            sm,
            now,
            period_ms: (LOCAL_PERIOD_SECONDS * 1000.0) as u64,
            rng: StdRng::from_seed(seed),
        })
    }

    /// The security manager's ledger.
    pub fn ledger(&self) -> &Ledger {
        self.sm.ledger()
    }

    /// The virtual clock.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Hands a value transaction to the security manager; `Err` with its reason if
    /// refused.
    pub fn submit(&mut self, tx: ValueTx) -> Result<Txid, LocalError> {
        let txid = vkm_coins::value_txid(&tx);
        let mut effects = Immediate::default();
        let from = self.sm.id();
        self.run(
            Event::Received {
                from,
                message: Message::Value(tx),
            },
            &mut effects,
        )?;
        match effects.refused {
            Some(refusal) => Err(LocalError::Refused(refusal)),
            None => Ok(txid),
        }
    }

    /// Ends a collection period: the security manager mines what it collected (if
    /// anything). Returns the new block and its height.
    pub fn mine(&mut self) -> Result<Option<(u64, Block)>, LocalError> {
        self.now = Timestamp((self.now.0 + self.period_ms).max(Timestamp::now().0));
        let mut effects = Immediate::default();
        self.run(Event::Timer(Timer::PeriodEnd), &mut effects)?;
        match effects.committed {
            Some((height, hash)) => Ok(self.sm.ledger().block(&hash)?.map(|b| (height, b))),
            None => Ok(None),
        }
    }

    /// Handles `event` and everything it makes due at once.
    fn run(&mut self, event: Event, effects: &mut Immediate) -> Result<(), LocalError> {
        let mut next = Some(event);
        while let Some(event) = next {
            let actions = self.sm.handle(event, self.now)?;
            apply(actions, effects);
            next = if let Some(mut candidate) = effects.candidates.pop() {
                Miner::default().mine(&mut candidate, &mut self.rng, &AtomicBool::new(false));
                Some(Event::Mined(candidate))
            } else {
                effects.due.pop()
            };
        }
        Ok(())
    }

    /// The best chain's block at `height`.
    pub fn block_at(&self, height: u64) -> Result<Option<Block>, LocalError> {
        Ok(self.sm.ledger().block_at(height)?)
    }
}
