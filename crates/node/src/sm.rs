//! The security manager as a sans-IO state machine (Lei et al. Fig. 5): events in, actions
//! out. Time comes in with every event; the caller runs timers, mining and the network.

use std::collections::HashSet;

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{
    Block, BlockHash, BlockHeader, KeyTransferTx, MemberId, RegistryTx, Timestamp, Transaction,
    Txid, ValueTx,
};
use vkm_coins::{MAX_BLOCK_EXPONENT_UNITS, MAX_BLOCK_SIGNATURE_CHECKS, script_cost};
use vkm_ledger::{
    Accepted, BlockError, ChainUpdate, Ledger, LedgerError, RuleError, TxContext, check_spend,
    registry_authorized,
};
use vkm_period::{CollectionPeriod, PeriodPolicy};
use vkm_rekey::{GroupKeyScheme, Lkh};
use vkm_script::exec::Cost;
use vkm_transfer::certificate::PseudonymId;
use vkm_transfer::crossing::{
    ChangeError, CrossingRequest, Freshness, PseudonymChange, ReplayGuard, RequestError, RsuId,
};
use vkm_transfer::directory::Directory;
use vkm_transfer::keys::MemberKeys;
use vkm_transfer::rules::{KeyTransferRules, sign_block};
use vkm_transfer::transfer::{AdmittedVehicle, SequenceLog, TransferError, build_key_transfer};

use crate::domain::{DomainGroup, GroupError};
use crate::mempool::Mempool;
use crate::schedule::{Round, Schedule, mining_rank};
use crate::vehicle::DomainRekey;

/// What security managers send each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A key transfer to collect.
    Transaction(KeyTransferTx),
    /// A value transaction to collect (key negotiation moves shares with them).
    Value(ValueTx),
    /// A mined block.
    Block(Block),
    /// A registry transaction from a central manager (registering a member, revoking a
    /// member or a certificate): checked, collected and mined like a transfer.
    Registry(RegistryTx),
    /// The sender's best chain: sent when it changed, and now and then, so that a manager
    /// that missed a block notices and asks for it.
    Tip {
        /// Height of the sender's best chain.
        height: u64,
        /// Its tip.
        hash: BlockHash,
    },
    /// Catching up: "send me the best-chain blocks after the first of these I share with
    /// you" (a locator: tip first, then ancestors at growing distances, genesis last; at
    /// most [`MAX_LOCATOR`] hashes are read).
    GetBlocks {
        /// The locator.
        locator: Vec<BlockHash>,
    },
    /// The answer to [`Message::GetBlocks`]: at most [`MAX_SYNC_BLOCKS`] consecutive
    /// best-chain blocks, in height order (none when the asker is up to date).
    Blocks(Vec<Block>),
}

impl Message {
    /// The size of its payload in vkm's canonical encoding (transactions and blocks as
    /// they are encoded in blocks, a tip as its height and hash, a locator as its hashes)
    /// plus a one-byte kind: what the message costs on a link, before any transport
    /// framing.
    pub fn encoded_len(&self) -> usize {
        use vkm_block::Encode;
        1 + match self {
            Self::Transaction(tx) => Transaction::KeyTransfer(tx.clone()).encoded_len(),
            Self::Value(tx) => Transaction::Value(tx.clone()).encoded_len(),
            Self::Block(block) => block.encoded_len(),
            Self::Registry(tx) => Transaction::Registry(tx.clone()).encoded_len(),
            Self::Tip { .. } => 8 + 32,
            Self::GetBlocks { locator } => 4 + 32 * locator.len(),
            Self::Blocks(blocks) => 4 + blocks.iter().map(Encode::encoded_len).sum::<usize>(),
        }
    }
}

/// Most locator hashes read from a [`Message::GetBlocks`].
pub const MAX_LOCATOR: usize = 64;

/// Most blocks in one [`Message::Blocks`] answer; more are asked for with a new request.
pub const MAX_SYNC_BLOCKS: usize = 32;

/// The timers a security manager asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The collection period ends.
    PeriodEnd,
    /// This manager's turn to start mining the round with this number.
    MiningSlot(u64),
    /// The catching-up request with this number had no answer in time: ask another peer.
    SyncTimeout(u64),
}

/// What happens to a security manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A vehicle's crossing request, delivered by one of this domain's RSUs: the vehicle
    /// is about to enter the request's destination domain (with this manager as the
    /// destination: it comes online in this domain and asks to join its group).
    Crossing {
        /// The signed request.
        request: CrossingRequest,
        /// The RSU that delivered it.
        via: RsuId,
    },
    /// A member vehicle's switch to a new pseudonym, sealed to this manager, delivered by
    /// one of its RSUs.
    PseudonymChange {
        /// The sealed [`PseudonymChange`].
        sealed: Vec<u8>,
        /// The RSU that delivered it.
        via: RsuId,
    },
    /// A peer's message.
    Received {
        /// The peer that sent it (the manager's own id for what its own clients submit).
        from: MemberId,
        /// The message.
        message: Message,
    },
    /// A timer this manager set.
    Timer(Timer),
    /// The miner solved the candidate this manager asked for (unsigned).
    Mined(Block),
}

/// A vehicle admitted into this domain, with its key-transfer delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The vehicle.
    pub vehicle: AdmittedVehicle,
    /// When it crossed (the transfer's timestamp).
    pub crossed_at: Timestamp,
    /// When its keys were admitted here.
    pub admitted_at: Timestamp,
    /// The key transfer that carried them (the chain's; `None` in the traditional
    /// structure): a transfer is admitted once.
    pub txid: Option<Txid>,
}

/// What a security manager asks its runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send to every other security manager.
    Broadcast(Message),
    /// Send to one security manager (catching up).
    Send {
        /// The receiver.
        to: MemberId,
        /// The message.
        message: Message,
    },
    /// Mine this candidate (Algorithm 1) and report [`Event::Mined`].
    StartMining(Block),
    /// Stop mining: a peer's block arrived (Algorithm 1's abort).
    AbortMining,
    /// A vehicle's keys arrived and its certificate checked out: admit it (the rekeying
    /// of the domain consumes this).
    Admit(Admission),
    /// A block is durably on this manager's best chain.
    Committed {
        /// Its height.
        height: u64,
        /// Its hash.
        hash: BlockHash,
    },
    /// Deliver [`Event::Timer`] at this time.
    SetTimer {
        /// When.
        at: Timestamp,
        /// Which.
        timer: Timer,
    },
    /// The domain's group key changed for this period's joins and leaves: broadcast it
    /// in the domain through the RSUs (the rekey message for every member, a sealed
    /// welcome for each joiner).
    Rekey(DomainRekey),
    /// Something offered was refused (a message, a block, an admission), with the reason.
    Refused(Refusal),
}

/// Why a value transaction is not collected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueRefusal {
    /// The coin accounting fails against the best chain ([`vkm_ledger::check_spend`]).
    #[error(transparent)]
    Spend(BlockError),
    /// A script fails.
    #[error(transparent)]
    Script(RuleError),
    /// It spends an output a pending transaction spends, or the pool is full.
    #[error("conflicts with a pending transaction or the pool is full")]
    Conflict,
}

/// What a security manager refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// A crossing names a destination the registry does not list.
    #[error("crossing to unregistered {0}")]
    UnknownDestination(MemberId),
    /// A vehicle's crossing request is refused (forged, stale, replayed, revoked...).
    #[error("crossing request of pseudonym {pseudonym:?}: {error}")]
    Request {
        /// The pseudonym it names.
        pseudonym: PseudonymId,
        /// Why.
        error: RequestError,
    },
    /// The key transfer for a crossing could not be built.
    #[error("cannot build transfer: {0}")]
    Build(TransferError),
    /// A vehicle's pseudonym change is refused.
    #[error("pseudonym change: {0}")]
    Change(ChangeError),
    /// A peer's key transfer failed its checks.
    #[error("transaction {txid}: {error}")]
    Transfer {
        /// The transfer's id.
        txid: Txid,
        /// The check it failed.
        error: TransferError,
    },
    /// A value transaction was not collected.
    #[error("transaction {txid}: {error}")]
    Value {
        /// The transaction's id.
        txid: Txid,
        /// Why.
        error: ValueRefusal,
    },
    /// A registry transaction is not signed by a registered central manager.
    #[error("registry transaction {0}: not authorised by a registered central manager")]
    Registry(Txid),
    /// A block failed validation.
    #[error("block {hash}: {error}")]
    InvalidBlock {
        /// The block's hash.
        hash: BlockHash,
        /// The check it failed.
        error: BlockError,
    },
    /// A transfer to this domain was mined but its vehicle cannot be admitted.
    #[error("admission of {txid}: {error}")]
    Admission {
        /// The transfer's id.
        txid: Txid,
        /// The check it failed.
        error: TransferError,
    },
    /// The domain's group could not be rekeyed.
    #[error("rekey: {0}")]
    Rekey(GroupError),
}

impl Refusal {
    /// A short, stable name of what was refused and, for crossing requests, why
    /// (`"request_stale"`, `"transfer"`, `"invalid_block"`...): drivers count refusals
    /// by it (`vkm simulate`'s `refusals`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownDestination(_) => "unknown_destination",
            Self::Request { error, .. } => match error {
                RequestError::Certificate(_) => "request_certificate",
                RequestError::BadSignature => "request_bad_signature",
                RequestError::Stale { .. } => "request_stale",
                RequestError::FromTheFuture { .. } => "request_from_the_future",
                RequestError::WrongRsu { .. } => "request_wrong_rsu",
                RequestError::Replayed => "request_replayed",
                _ => "request",
            },
            Self::Build(_) => "build",
            Self::Change(_) => "pseudonym_change",
            Self::Transfer { .. } => "transfer",
            Self::Value { .. } => "value",
            Self::Registry(_) => "registry",
            Self::InvalidBlock { .. } => "invalid_block",
            Self::Admission { .. } => "admission",
            Self::Rekey(_) => "rekey",
        }
    }
}

/// Settings of a security manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeConfig {
    /// Delay between the mining starts of consecutive ranks in a round, ms. Security
    /// managers are ranked per round by a hash of the tip; rank `r` starts mining `r`
    /// slots after the period ends, and aborts if a peer's block arrives first. Mining at
    /// the paper's difficulty is faster than the network, so without it every manager
    /// would mine its own block each round and the chain would fork every time.
    pub mining_slot_ms: u64,
    /// Most transactions in a block.
    pub max_block_transactions: usize,
    /// Seed of the randomness used to seal identity materials (reproducible runs).
    pub seed: u64,
    /// A key transfer this manager made is kept until its block is this many blocks deep
    /// on its best chain (the `k` of the fault model; 1: on the chain at all).
    pub bury_depth: u64,
    /// Periods after which a transfer this manager made and no block holds yet is
    /// broadcast again.
    pub rebroadcast_after_periods: u64,
    /// How long a catching-up request may go unanswered before another peer is asked, ms.
    pub sync_timeout_ms: u64,
    /// The best chain is announced ([`Message::Tip`]) at the end of a period in which it
    /// changed, and at least every this many periods (0: never).
    pub announce_every_periods: u64,
    /// How old a vehicle's crossing request may be, and how far ahead of this manager's
    /// clock.
    pub freshness: Freshness,
    /// Mine a block at the end of every period, even with nothing collected: a heartbeat
    /// for chains whose users count time in blocks (a negotiation's deadlines) and would
    /// otherwise wait on a chain that stands still.
    pub mine_empty_blocks: bool,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            mining_slot_ms: 100,
            max_block_transactions: 10_000,
            seed: 0,
            bury_depth: 6,
            rebroadcast_after_periods: 3,
            sync_timeout_ms: 2_000,
            announce_every_periods: 10,
            freshness: Freshness::default(),
            mine_empty_blocks: false,
        }
    }
}

/// What a security manager did to survive lost messages and restarts, counted since it
/// started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounters {
    /// Key transfers it broadcast again (not mined after a few periods, or dropped by a
    /// reorganisation).
    pub rebroadcasts: u64,
    /// Catching-up requests it sent.
    pub sync_requests: u64,
    /// Blocks it connected from catching-up answers.
    pub blocks_synced: u64,
}

impl core::ops::Add for FaultCounters {
    type Output = Self;

    /// The counts of two managers (or of a manager's instances before and after a crash).
    fn add(self, other: Self) -> Self {
        Self {
            rebroadcasts: self.rebroadcasts + other.rebroadcasts,
            sync_requests: self.sync_requests + other.sync_requests,
            blocks_synced: self.blocks_synced + other.blocks_synced,
        }
    }
}

/// A transfer this manager made, kept until it is buried deep enough.
#[derive(Debug, Clone)]
struct OwnTransfer {
    tx: KeyTransferTx,
    /// The period count when it was last broadcast.
    sent_in_period: u64,
    /// The best-chain height of its block, if one holds it.
    mined_at: Option<u64>,
}

/// Catching up: at most one request outstanding, to one peer, with a timeout; the peers
/// tried since the last answer, for the fallback.
#[derive(Debug, Default)]
struct Sync {
    pending: Option<(MemberId, u64)>,
    next_id: u64,
    tried: Vec<MemberId>,
    /// When each peer's request was last served (bounded work for a flood of requests).
    served: std::collections::HashMap<MemberId, Timestamp>,
}

/// How long a manager remembers that a vehicle left before its admission, ms.
const DEPARTURE_MEMORY_MS: u64 = 300_000;

/// Least time between two catching-up answers to the same peer, ms.
const SERVE_INTERVAL_MS: u64 = 20;

/// A node operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The ledger failed (storage).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

struct LedgerLog<'a>(&'a Ledger);

impl SequenceLog for LedgerLog<'_> {
    fn has_seen(&self, source: MemberId, sequence: u64) -> bool {
        self.0.has_sequence(source, sequence).unwrap_or(true)
    }
}

/// A manager's copy of the chain: the ledger, the rules it validates with (sharing their
/// member cache), and the pending transactions on top of its best chain.
struct Chain {
    ledger: Ledger,
    rules: KeyTransferRules,
    mempool: Mempool,
}

impl Chain {
    /// A value transaction checked against the best chain's UTXO set, by the ledger's coin
    /// rules ([`vkm_ledger::check_spend`]) and its scripts: what the scripts cost (for the
    /// block's budget), or why it is refused.
    fn check_value(
        &self,
        tx: &Transaction,
        v: &ValueTx,
    ) -> Result<Result<Cost, ValueRefusal>, NodeError> {
        let mut storage = None;
        let checked = check_spend(0, v, |outpoint| {
            self.ledger.utxo(outpoint).unwrap_or_else(|e| {
                storage.get_or_insert(e);
                None
            })
        });
        if let Some(e) = storage {
            return Err(e.into());
        }
        let spent = match checked {
            Ok(spent) => spent,
            Err(e) => return Ok(Err(ValueRefusal::Spend(e))),
        };
        Ok(script_cost(&TxContext {
            transaction: tx,
            spent_outputs: &spent,
        })
        .map_err(ValueRefusal::Script))
    }

    /// Whether `txid` is pending or on the best chain.
    fn knows(&self, txid: &Txid) -> Result<bool, NodeError> {
        Ok(self.mempool.contains(txid) || self.ledger.has_transaction(txid)?)
    }

    /// The rank of `me` in the current round (see [`mining_rank`]).
    fn rank(&self, me: MemberId) -> u64 {
        let peers = self
            .ledger
            .registry()
            .members()
            .filter(|m| m.role == vkm_block::Role::SecurityManager)
            .map(|m| m.id);
        mining_rank(&self.ledger.tip(), self.ledger.height(), me, peers)
    }
}

/// A security manager: its keys, its copy of the chain and mempool, its schedule of
/// periods and mining rounds, and its domain's group (LKH unless another
/// [`GroupKeyScheme`] is given).
pub struct SecurityManager<G = Lkh> {
    id: MemberId,
    keys: MemberKeys,
    chain: Chain,
    schedule: Schedule,
    group: DomainGroup<G>,
    next_sequence: u64,
    admitted: HashSet<Txid>,
    own: std::collections::HashMap<Txid, OwnTransfer>,
    sync: Sync,
    periods: u64,
    announced: Option<(BlockHash, u64)>,
    counters: FaultCounters,
    replay: ReplayGuard,
    config: NodeConfig,
    rng: StdRng,
}

/// The transfers this manager admitted before: those recorded in its store, and those to
/// it on its best chain (a manager restarted from its store admits none of them again,
/// also when a reorganisation reconnects them).
fn admitted_before(ledger: &Ledger, me: MemberId) -> Result<HashSet<Txid>, NodeError> {
    let mut admitted: HashSet<Txid> = ledger.admitted()?.into_iter().collect();
    for height in 1..=ledger.height() {
        if let Some(block) = ledger.block_at(height)? {
            for (tx, txid) in block.transactions.iter().zip(block.txids()) {
                if matches!(tx, Transaction::KeyTransfer(t) if t.destination == me) {
                    admitted.insert(txid);
                }
            }
        }
    }
    Ok(admitted)
}

impl<G> core::fmt::Debug for SecurityManager<G> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecurityManager")
            .field("id", &self.id)
            .field("height", &self.chain.ledger.height())
            .field("mempool", &self.chain.mempool.len())
            .finish_non_exhaustive()
    }
}

impl SecurityManager<Lkh> {
    /// A security manager over `ledger` (which must validate with `rules`, sharing their
    /// key cache), collecting for `period` and then as `policy` decides, its domain keyed
    /// by LKH ([`vkm_rekey::lkh::DEFAULT_ARITY`]; another scheme:
    /// [`SecurityManager::with_group`]).
    pub fn new(
        id: MemberId,
        keys: MemberKeys,
        ledger: Ledger,
        rules: KeyTransferRules,
        policy: Box<dyn PeriodPolicy + Send>,
        period: CollectionPeriod,
        config: NodeConfig,
    ) -> Result<Self, NodeError> {
        let next_sequence = ledger.last_sequence(id)?.map_or(0, |s| s + 1);
        let mut rng = StdRng::seed_from_u64(config.seed ^ u64::from(id.0));
        let group = Lkh::new(vkm_rekey::lkh::DEFAULT_ARITY, &mut rng);
        let admitted = admitted_before(&ledger, id)?;
        // What it made before a crash and no block buries deep enough yet.
        let mut own = std::collections::HashMap::new();
        let mut mempool = Mempool::default();
        for (txid, tx) in ledger.outbox()? {
            let Transaction::KeyTransfer(t) = &tx else {
                continue;
            };
            let mined_at = ledger.transaction_height(&txid)?;
            if mined_at.is_none() {
                mempool.insert(txid, tx.clone());
            }
            own.insert(
                txid,
                OwnTransfer {
                    tx: t.clone(),
                    sent_in_period: 0,
                    mined_at,
                },
            );
        }
        Ok(Self {
            id,
            keys,
            chain: Chain {
                ledger,
                rules,
                mempool,
            },
            schedule: Schedule::new(policy, period, config.mining_slot_ms),
            group: DomainGroup::new(group),
            next_sequence,
            admitted,
            own,
            sync: Sync::default(),
            periods: 0,
            announced: None,
            counters: FaultCounters::default(),
            replay: ReplayGuard::new(config.freshness),
            config,
            rng,
        })
    }
}

impl<G: GroupKeyScheme> SecurityManager<G> {
    /// This manager with its domain keyed by `scheme` instead (flat, say); for a manager
    /// that has handled no event yet, whose group is still empty.
    pub fn with_group<H: GroupKeyScheme>(self, scheme: H) -> SecurityManager<H> {
        SecurityManager {
            id: self.id,
            keys: self.keys,
            chain: self.chain,
            schedule: self.schedule,
            group: DomainGroup::new(scheme),
            next_sequence: self.next_sequence,
            admitted: self.admitted,
            own: self.own,
            sync: self.sync,
            periods: self.periods,
            announced: self.announced,
            counters: self.counters,
            replay: self.replay,
            config: self.config,
            rng: self.rng,
        }
    }

    /// What it did to survive lost messages and restarts.
    pub fn fault_counters(&self) -> FaultCounters {
        self.counters
    }

    /// Gives back its ledger (the store, which outlives a crash of the manager).
    pub fn into_ledger(self) -> Ledger {
        self.chain.ledger
    }

    /// This manager's id.
    pub fn id(&self) -> MemberId {
        self.id
    }

    /// Its copy of the chain.
    pub fn ledger(&self) -> &Ledger {
        &self.chain.ledger
    }

    /// The rules its ledger validates with.
    pub fn rules(&self) -> &KeyTransferRules {
        &self.chain.rules
    }

    /// Its domain's group.
    pub fn group(&self) -> &DomainGroup<G> {
        &self.group
    }

    /// Vehicles in this domain's group.
    pub fn group_members(&self) -> usize {
        self.group.members()
    }

    /// Pending transfers.
    pub fn mempool_len(&self) -> usize {
        self.chain.mempool.len()
    }

    /// Its schedule of periods and mining rounds.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The collection period in force.
    pub fn period(&self) -> CollectionPeriod {
        self.schedule.period()
    }

    /// Transactions collected since the current period began.
    pub fn collected(&self) -> u64 {
        self.schedule.collected()
    }

    /// Starts (or restarts, from its store): the first period timer, and a request for
    /// what peers have above its tip.
    ///
    /// Sequence numbers continue from the clock as well as from the chain: transfers made
    /// before a crash may be pending at peers, unmined, and must not be shadowed by new
    /// ones with the same number. So do the group's epochs.
    pub fn start(&mut self, now: Timestamp) -> Vec<Action> {
        self.next_sequence = self.next_sequence.max(now.0.saturating_mul(1_000));
        // The group starts empty (a restarted manager's vehicles enrol again): its epochs
        // continue from the clock, so none repeats one its vehicles saw before.
        if self.group.members() == 0 {
            self.group.set_epoch_base(now.0.saturating_mul(1_000));
        }
        let mut actions = vec![Action::SetTimer {
            at: self.schedule.period_end(now),
            timer: Timer::PeriodEnd,
        }];
        self.request_blocks(None, now, &mut actions);
        actions
    }

    /// Handles one event at time `now`.
    pub fn handle(&mut self, event: Event, now: Timestamp) -> Result<Vec<Action>, NodeError> {
        let mut actions = Vec::new();
        match event {
            Event::Crossing { request, via } => {
                self.on_crossing(&request, via, now, &mut actions)?
            }
            Event::PseudonymChange { sealed, via } => {
                if let Err(error) = self.on_pseudonym_change(&sealed, via, now) {
                    actions.push(Action::Refused(Refusal::Change(error)));
                }
            }
            Event::Received { from, message } => match message {
                Message::Transaction(tx) => self.on_transaction(tx, &mut actions)?,
                Message::Value(tx) => self.on_value(tx, &mut actions)?,
                Message::Registry(tx) => self.on_registry(tx, &mut actions)?,
                Message::Block(block) => {
                    if let Some(Accepted::Orphan(_)) = self.on_block(block, now, &mut actions)? {
                        // Its parent is missing: ask the peer that has it.
                        self.request_blocks(Some(from), now, &mut actions);
                    }
                }
                Message::Tip { height, hash } => {
                    // A longer chain, or a fork as long whose tip may win the tie.
                    if height >= self.ledger().height() && !self.ledger().contains(&hash) {
                        self.request_blocks(Some(from), now, &mut actions);
                    }
                }
                Message::GetBlocks { locator } => {
                    self.on_get_blocks(from, &locator, now, &mut actions)?
                }
                Message::Blocks(blocks) => self.on_blocks(from, blocks, now, &mut actions)?,
            },
            Event::Timer(Timer::SyncTimeout(id)) => {
                if self.sync.pending.is_some_and(|(_, pending)| pending == id) {
                    self.sync.pending = None;
                    self.request_blocks(None, now, &mut actions);
                }
            }
            Event::Timer(Timer::PeriodEnd) => self.on_period_end(now, &mut actions)?,
            Event::Timer(Timer::MiningSlot(round)) => {
                if self.schedule.slot_due(round) {
                    self.start_mining(now, &mut actions)
                }
            }
            Event::Mined(block) => self.on_mined(block, now, &mut actions)?,
        }
        Ok(actions)
    }

    fn on_crossing(
        &mut self,
        request: &CrossingRequest,
        via: RsuId,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<(), NodeError> {
        let chain = &mut self.chain;
        let directory = chain.rules.cache().directory(chain.ledger.registry());
        let destination = request.destination;
        let Some(dest) = directory.member(destination) else {
            actions.push(Action::Refused(Refusal::UnknownDestination(destination)));
            return Ok(());
        };
        // Proof of possession, certificate (revocation included), RSU, freshness, replay.
        let vehicle = &request.materials;
        let checked = request
            .check(&directory, via, now, self.config.freshness)
            .and_then(|()| self.replay.record(request));
        if let Err(error) = checked {
            actions.push(Action::Refused(Refusal::Request {
                pseudonym: vehicle.pseudonym,
                error,
            }));
            return Ok(());
        }
        if destination == self.id {
            // A vehicle coming online in this domain, or asking again, joins its group at
            // the next rekey.
            if let Err(e) = self.group.enrol(vehicle) {
                actions.push(Action::Refused(Refusal::Request {
                    pseudonym: vehicle.pseudonym,
                    error: e.into(),
                }));
            }
            return Ok(());
        }
        // A member leaving the domain leaves its group at the next rekey.
        self.group.depart(&vehicle.pseudonym, now);
        match build_key_transfer(
            &self.keys,
            self.id,
            self.next_sequence,
            dest,
            now,
            vehicle,
            &mut self.rng,
        ) {
            Ok(tx) => {
                self.next_sequence += 1;
                // Signed here: its block need not verify it again.
                chain
                    .rules
                    .remember_own(&tx, &self.keys, chain.ledger.registry());
                let wrapped = Transaction::KeyTransfer(tx.clone());
                let txid = wrapped.txid();
                // Durable before it is sent: a crash from here on does not lose it.
                chain.ledger.outbox_put(&txid, &wrapped)?;
                chain.mempool.insert(txid, wrapped);
                self.schedule.collect();
                self.own.insert(
                    txid,
                    OwnTransfer {
                        tx: tx.clone(),
                        sent_in_period: self.periods,
                        mined_at: None,
                    },
                );
                actions.push(Action::Broadcast(Message::Transaction(tx)));
            }
            Err(e) => actions.push(Action::Refused(Refusal::Build(e))),
        }
        Ok(())
    }

    /// A member switches pseudonym: it stays in the group, under the new one.
    fn on_pseudonym_change(
        &mut self,
        sealed: &[u8],
        via: RsuId,
        now: Timestamp,
    ) -> Result<(), ChangeError> {
        let change = PseudonymChange::open(self.id, &self.keys.encryption, sealed)?;
        let (old_key, old_certificate) = self
            .group
            .member_keys(&change.old)
            .ok_or(ChangeError::NotAMember)?;
        if self.group.contains(&change.new.pseudonym) {
            return Err(ChangeError::AlreadyAMember);
        }
        let chain = &self.chain;
        let directory = chain.rules.cache().directory(chain.ledger.registry());
        if directory.is_revoked(&old_certificate) {
            return Err(ChangeError::OldRevoked);
        }
        change.check(&old_key, &directory, via, now, self.config.freshness)?;
        self.replay.record_id(change.id(), change.signed_at)?;
        match self.group.rename(&change.old, &change.new) {
            Ok(true) => Ok(()),
            Ok(false) => Err(ChangeError::NotAMember),
            Err(e) => Err(RequestError::from(e).into()),
        }
    }

    fn on_transaction(
        &mut self,
        tx: KeyTransferTx,
        actions: &mut Vec<Action>,
    ) -> Result<(), NodeError> {
        let txid = Transaction::KeyTransfer(tx.clone()).txid();
        if self.chain.knows(&txid)? {
            return Ok(());
        }
        let chain = &mut self.chain;
        match chain.rules.check_and_remember(
            &tx,
            chain.ledger.registry(),
            &LedgerLog(&chain.ledger),
        ) {
            Ok(()) => {
                if chain.mempool.insert(txid, Transaction::KeyTransfer(tx)) {
                    self.schedule.collect();
                }
            }
            Err(error) => actions.push(Action::Refused(Refusal::Transfer { txid, error })),
        }
        Ok(())
    }

    /// A value transaction from a party or a peer: collected (and broadcast) when it
    /// spends confirmed, unspent outputs no pending transaction spends, pays no more than
    /// they hold, and every script passes.
    fn on_value(&mut self, tx: ValueTx, actions: &mut Vec<Action>) -> Result<(), NodeError> {
        let wrapped = Transaction::Value(tx);
        let txid = wrapped.txid();
        if self.chain.knows(&txid)? {
            return Ok(());
        }
        let Transaction::Value(tx) = &wrapped else {
            return Ok(());
        };
        let refused = match self.chain.check_value(&wrapped, tx)? {
            Ok(cost) => {
                let message = Message::Value(tx.clone());
                if self.collect_and_pass_on(txid, wrapped, message, actions) {
                    self.chain.mempool.set_cost(txid, cost);
                    return Ok(());
                }
                ValueRefusal::Conflict
            }
            Err(reason) => reason,
        };
        actions.push(Action::Refused(Refusal::Value {
            txid,
            error: refused,
        }));
        Ok(())
    }

    /// A registry transaction: collected (and passed on to the peers) when a registered
    /// central manager signed it.
    fn on_registry(&mut self, tx: RegistryTx, actions: &mut Vec<Action>) -> Result<(), NodeError> {
        let wrapped = Transaction::Registry(tx);
        let txid = wrapped.txid();
        if self.chain.knows(&txid)? {
            return Ok(());
        }
        let Transaction::Registry(tx) = &wrapped else {
            return Ok(());
        };
        let chain = &self.chain;
        if !registry_authorized(tx, chain.ledger.registry(), &chain.rules) {
            actions.push(Action::Refused(Refusal::Registry(txid)));
            return Ok(());
        }
        let message = Message::Registry(tx.clone());
        self.collect_and_pass_on(txid, wrapped, message, actions);
        Ok(())
    }

    /// Collects a checked transaction for the next block and passes it on to the peers;
    /// `false` if the pool refused it (full, or in conflict with a pending one).
    fn collect_and_pass_on(
        &mut self,
        txid: Txid,
        tx: Transaction,
        message: Message,
        actions: &mut Vec<Action>,
    ) -> bool {
        if !self.chain.mempool.insert(txid, tx) {
            return false;
        }
        self.schedule.collect();
        actions.push(Action::Broadcast(message));
        true
    }

    fn on_period_end(
        &mut self,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<(), NodeError> {
        self.periods += 1;
        self.replay.forget_before(now);
        self.group
            .forget_departures_before(Timestamp(now.0.saturating_sub(DEPARTURE_MEMORY_MS)));
        self.rekey_group(actions);
        self.rebroadcast_unmined(actions)?;
        self.announce_tip(actions);
        let chain = &self.chain;
        let me = self.id;
        let closed = self.schedule.close_period(
            now,
            !chain.mempool.is_empty() || self.config.mine_empty_blocks,
            || chain.rank(me),
        );
        actions.push(Action::SetTimer {
            at: closed.next_end,
            timer: Timer::PeriodEnd,
        });
        match closed.round {
            Round::None => {}
            Round::MineNow => self.start_mining(now, actions),
            Round::Wait { round, slots } => actions.push(Action::SetTimer {
                at: self.schedule.slot_time(now, slots),
                timer: Timer::MiningSlot(round),
            }),
        }
        Ok(())
    }

    fn start_mining(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        let chain = &self.chain;
        if chain.mempool.is_empty() && !self.config.mine_empty_blocks {
            return;
        }
        let mut block = Block {
            header: BlockHeader {
                version: BlockHeader::VERSION,
                prev_block: chain.ledger.tip(),
                timestamp: Timestamp(now.0.max(chain.ledger.tip_timestamp().0 + 1)),
                difficulty_bits: chain.ledger.difficulty_bits(),
                ..BlockHeader::default()
            },
            miner: self.id,
            miner_signature: Default::default(),
            transactions: chain.mempool.take_candidates(
                self.config.max_block_transactions,
                Cost {
                    exponent_units: MAX_BLOCK_EXPONENT_UNITS,
                    signature_checks: MAX_BLOCK_SIGNATURE_CHECKS,
                },
            ),
        };
        block.header.merkle_root = block.compute_merkle_root();
        self.schedule.started_mining();
        actions.push(Action::StartMining(block));
    }

    fn on_mined(
        &mut self,
        mut block: Block,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<(), NodeError> {
        self.schedule.stopped_mining();
        if block.header.prev_block != self.chain.ledger.tip() {
            return Ok(()); // stale: the chain moved while mining
        }
        sign_block(&self.keys, self.id, &mut block);
        // Broadcast first: the candidate was built from checked transactions on this tip,
        // and peers waiting for their mining slot must see it as early as possible.
        actions.push(Action::Broadcast(Message::Block(block.clone())));
        self.on_block(block, now, actions).map(|_| ())
    }

    /// Offers a block to the ledger; what it did with it (`None`: invalid, refused).
    fn on_block(
        &mut self,
        block: Block,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<Option<Accepted>, NodeError> {
        match self.chain.ledger.accept(block, now) {
            Ok(Accepted::Connected(update)) => {
                self.apply(update, now, actions)?;
                Ok(Some(Accepted::Connected(ChainUpdate::default())))
            }
            Ok(other) => Ok(Some(other)),
            Err(LedgerError::Invalid { hash, error }) => {
                actions.push(Action::Refused(Refusal::InvalidBlock { hash, error }));
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The other security managers of the registry, starting after this one (so that
    /// managers falling back spread over their peers).
    fn peers(&self) -> impl Iterator<Item = MemberId> + '_ {
        let mut ids: Vec<MemberId> = self
            .ledger()
            .registry()
            .members()
            .filter(|m| m.role == vkm_block::Role::SecurityManager && m.id != self.id)
            .map(|m| m.id)
            .collect();
        ids.sort();
        let split = ids.partition_point(|id| *id < self.id);
        ids.rotate_left(split);
        ids.into_iter()
    }

    /// Asks `peer` (or, without one, the next peer not tried since the last answer) for
    /// the best-chain blocks above this manager's locator, unless a request is pending.
    fn request_blocks(
        &mut self,
        peer: Option<MemberId>,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        if self.sync.pending.is_some() {
            return;
        }
        let peer = match peer {
            Some(peer) => peer,
            None => {
                let tried = &self.sync.tried;
                let Some(next) = self.peers().find(|p| !tried.contains(p)) else {
                    // Every peer tried: wait for the next trigger (a tip, an orphan).
                    self.sync.tried.clear();
                    return;
                };
                next
            }
        };
        self.sync.next_id += 1;
        let id = self.sync.next_id;
        self.sync.pending = Some((peer, id));
        self.sync.tried.push(peer);
        self.counters.sync_requests += 1;
        actions.push(Action::Send {
            to: peer,
            message: Message::GetBlocks {
                locator: self.ledger().locator(MAX_LOCATOR),
            },
        });
        actions.push(Action::SetTimer {
            at: Timestamp(now.0 + self.config.sync_timeout_ms),
            timer: Timer::SyncTimeout(id),
        });
    }

    /// Answers a catching-up request: the best-chain blocks after the first locator hash
    /// on this manager's best chain (after genesis if none is), at most
    /// [`MAX_SYNC_BLOCKS`]. A peer is answered at most once every few milliseconds.
    fn on_get_blocks(
        &mut self,
        from: MemberId,
        locator: &[BlockHash],
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<(), NodeError> {
        if self
            .sync
            .served
            .get(&from)
            .is_some_and(|last| now.0 < last.0 + SERVE_INTERVAL_MS)
        {
            return Ok(());
        }
        self.sync.served.insert(from, now);
        let ledger = self.ledger();
        let fork = locator
            .iter()
            .take(MAX_LOCATOR)
            .find_map(|hash| ledger.height_of(hash))
            .unwrap_or(0);
        let mut blocks = Vec::new();
        for height in fork + 1..=ledger.height().min(fork + MAX_SYNC_BLOCKS as u64) {
            if let Some(block) = ledger.block_at(height)? {
                blocks.push(block);
            }
        }
        actions.push(Action::Send {
            to: from,
            message: Message::Blocks(blocks),
        });
        Ok(())
    }

    /// An answer to this manager's catching-up request: its blocks offered in order; a
    /// full batch asks the same peer for more. Blocks nobody asked for are ignored.
    fn on_blocks(
        &mut self,
        from: MemberId,
        blocks: Vec<Block>,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<(), NodeError> {
        if self.sync.pending.map(|(peer, _)| peer) != Some(from) {
            return Ok(());
        }
        self.sync.pending = None;
        self.sync.tried.clear();
        let full = blocks.len() >= MAX_SYNC_BLOCKS;
        let mut progressed = false;
        for block in blocks.into_iter().take(MAX_SYNC_BLOCKS) {
            match self.on_block(block, now, actions)? {
                Some(Accepted::Connected(_) | Accepted::SideBranch(_)) => {
                    self.counters.blocks_synced += 1;
                    progressed = true;
                }
                Some(Accepted::AlreadyKnown(_)) => {}
                // An orphan or an invalid block: this peer's answer does not connect.
                Some(Accepted::Orphan(_)) | None => return Ok(()),
            }
        }
        if full && progressed {
            self.request_blocks(Some(from), now, actions);
        }
        Ok(())
    }

    /// Broadcasts again the transfers this manager made that no block holds after a few
    /// periods; forgets those buried deep enough.
    fn rebroadcast_unmined(&mut self, actions: &mut Vec<Action>) -> Result<(), NodeError> {
        let height = self.chain.ledger.height();
        let depth = self.config.bury_depth.max(1);
        let buried: Vec<Txid> = self
            .own
            .iter()
            .filter(|(_, own)| own.mined_at.is_some_and(|h| height + 1 >= h + depth))
            .map(|(txid, _)| *txid)
            .collect();
        self.chain.ledger.outbox_remove(&buried)?;
        for txid in &buried {
            self.own.remove(txid);
        }
        let after = self.config.rebroadcast_after_periods.max(1);
        for (txid, own) in &mut self.own {
            if own.mined_at.is_none() && self.periods >= own.sent_in_period + after {
                own.sent_in_period = self.periods;
                self.counters.rebroadcasts += 1;
                let tx = Transaction::KeyTransfer(own.tx.clone());
                if !self.chain.mempool.contains(txid) && self.chain.mempool.insert(*txid, tx) {
                    self.schedule.collect();
                }
                actions.push(Action::Broadcast(Message::Transaction(own.tx.clone())));
            }
        }
        Ok(())
    }

    /// Announces the best chain when it changed since the last announcement, or when
    /// `announce_every_periods` went by without one.
    fn announce_tip(&mut self, actions: &mut Vec<Action>) {
        let every = self.config.announce_every_periods;
        if every == 0 {
            return;
        }
        let tip = self.ledger().tip();
        let due = match self.announced {
            Some((hash, period)) => hash != tip || self.periods >= period + every,
            None => true,
        };
        if due {
            self.announced = Some((tip, self.periods));
            actions.push(Action::Broadcast(Message::Tip {
                height: self.ledger().height(),
                hash: tip,
            }));
        }
    }

    /// Mempool and admissions follow the best chain.
    fn apply(
        &mut self,
        update: ChainUpdate,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<(), NodeError> {
        if self.schedule.chain_moved() {
            actions.push(Action::AbortMining);
        }
        let chain = &mut self.chain;
        let mut dropped = Vec::new();
        for block in &update.disconnected {
            for tx in &block.transactions {
                match tx {
                    Transaction::KeyTransfer(_) => {
                        let txid = tx.txid();
                        chain.mempool.insert(txid, tx.clone());
                        if let Some(own) = self.own.get_mut(&txid) {
                            own.mined_at = None;
                            dropped.push(txid);
                        }
                    }
                    // Back to the pool only if still valid on the new best chain.
                    Transaction::Value(v) => {
                        if let Ok(Ok(cost)) = chain.check_value(tx, v) {
                            let txid = tx.txid();
                            chain.mempool.insert(txid, tx.clone());
                            chain.mempool.set_cost(txid, cost);
                        }
                    }
                    _ => {}
                }
            }
        }
        let directory = chain.rules.cache().directory(chain.ledger.registry());
        let mut newly_admitted = Vec::new();
        for validated in &update.connected {
            for (tx, txid) in validated.block().transactions.iter().zip(validated.txids()) {
                chain.mempool.remove(txid);
                chain.mempool.remove_conflicts(tx);
                if let Some(own) = self.own.get_mut(txid) {
                    own.mined_at = Some(validated.height());
                }
                let Transaction::KeyTransfer(t) = tx else {
                    continue;
                };
                if t.destination != self.id || !self.admitted.insert(*txid) {
                    continue;
                }
                newly_admitted.push(*txid);
                match chain.rules.admit(t, &self.keys, self.id, &directory, now) {
                    Ok(vehicle) => {
                        if let Err(e) = self.group.join(&vehicle.materials) {
                            let error = e.into();
                            actions
                                .push(Action::Refused(Refusal::Admission { txid: *txid, error }));
                            continue;
                        }
                        actions.push(Action::Admit(Admission {
                            vehicle,
                            crossed_at: t.timestamp,
                            admitted_at: now,
                            txid: Some(*txid),
                        }));
                    }
                    Err(error) => {
                        actions.push(Action::Refused(Refusal::Admission { txid: *txid, error }))
                    }
                }
            }
            actions.push(Action::Committed {
                height: validated.height(),
                hash: validated.hash(),
            });
        }
        // Durable before the rekey goes out: a restarted manager admits none of them again.
        chain.ledger.record_admitted(&newly_admitted)?;
        // Transfers of this manager that a reorganisation dropped go out again at once.
        for txid in dropped {
            if let Some(own) = self.own.get_mut(&txid)
                && own.mined_at.is_none()
            {
                own.sent_in_period = self.periods;
                self.counters.rebroadcasts += 1;
                actions.push(Action::Broadcast(Message::Transaction(own.tx.clone())));
            }
        }
        self.rekey_group(actions);
        Ok(())
    }

    /// One batch rekey of the domain's group for what changed since the last (joins,
    /// leaves, revocations), if anything did: after every chain update, and at the end of
    /// every period (vehicles that came online, or left, while no block arrived).
    fn rekey_group(&mut self, actions: &mut Vec<Action>) {
        let registry = self.chain.ledger.registry();
        match self.group.rekey(self.id, registry, &mut self.rng) {
            Some(Ok(rekey)) => actions.push(Action::Rekey(rekey)),
            Some(Err(e)) => actions.push(Action::Refused(Refusal::Rekey(e))),
            None => {}
        }
    }
}
