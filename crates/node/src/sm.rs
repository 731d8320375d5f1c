//! The security manager as a sans-IO state machine (Lei et al. Fig. 5): events in, actions
//! out. Time comes in with every event; the caller runs timers, mining and the network.

use std::collections::HashSet;

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{
    Block, BlockHash, BlockHeader, KeyTransferTx, MemberId, Timestamp, Transaction, Txid, ValueTx,
};
use vkm_coins::check_scripts;
use vkm_ledger::{
    Accepted, BlockError, ChainUpdate, Ledger, LedgerError, RuleError, TxContext, check_spend,
};
use vkm_period::{CollectionPeriod, PeriodPolicy};
use vkm_rekey::{GroupKeyScheme, Lkh, Rekey, RekeyError};
use vkm_transfer::certificate::IdentityMaterials;
use vkm_transfer::directory::Directory;
use vkm_transfer::keys::MemberKeys;
use vkm_transfer::rules::{KeyTransferRules, sign_block};
use vkm_transfer::transfer::{AdmittedVehicle, SequenceLog, TransferError, build_key_transfer};

use crate::domain::DomainGroup;
use crate::mempool::Mempool;
use crate::schedule::{Round, Schedule, mining_rank};

/// What security managers send each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A key transfer to collect.
    Transaction(KeyTransferTx),
    /// A value transaction to collect (key negotiation moves shares with them).
    Value(ValueTx),
    /// A mined block.
    Block(Block),
}

/// The timers a security manager asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The collection period ends.
    PeriodEnd,
    /// This manager's turn to start mining the round with this number.
    MiningSlot(u64),
}

/// What happens to a security manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An RSU reports a vehicle of this domain crossing into `destination`'s domain.
    Crossing {
        /// The vehicle's identity materials.
        vehicle: IdentityMaterials,
        /// The destination security manager.
        destination: MemberId,
    },
    /// A peer's message.
    Received(Message),
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
}

/// What a security manager asks its runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send to every other security manager.
    Broadcast(Message),
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
    /// The domain's group key changed for this period's joins and leaves: broadcast the
    /// message in the domain, hand each welcome to its joiner privately.
    Rekey(Rekey),
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
    /// The key transfer for a crossing could not be built.
    #[error("cannot build transfer: {0}")]
    Build(TransferError),
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
    Rekey(RekeyError),
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
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            mining_slot_ms: 100,
            max_block_transactions: 10_000,
            seed: 0,
        }
    }
}

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
    /// The ledger's coin rules ([`vkm_ledger::check_spend`]) and the scripts, against the
    /// best chain's UTXO set.
    fn check_value(
        &self,
        tx: &Transaction,
        v: &ValueTx,
    ) -> Result<Result<(), ValueRefusal>, NodeError> {
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
        Ok(check_scripts(&TxContext {
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
    config: NodeConfig,
    rng: StdRng,
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
        Ok(Self {
            id,
            keys,
            chain: Chain {
                ledger,
                rules,
                mempool: Mempool::default(),
            },
            schedule: Schedule::new(policy, period, config.mining_slot_ms),
            group: DomainGroup::new(group),
            next_sequence,
            admitted: HashSet::new(),
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
            config: self.config,
            rng: self.rng,
        }
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

    /// The first period timer.
    pub fn start(&mut self, now: Timestamp) -> Vec<Action> {
        vec![Action::SetTimer {
            at: self.schedule.period_end(now),
            timer: Timer::PeriodEnd,
        }]
    }

    /// Handles one event at time `now`.
    pub fn handle(&mut self, event: Event, now: Timestamp) -> Result<Vec<Action>, NodeError> {
        let mut actions = Vec::new();
        match event {
            Event::Crossing {
                vehicle,
                destination,
            } => self.on_crossing(&vehicle, destination, now, &mut actions),
            Event::Received(Message::Transaction(tx)) => self.on_transaction(tx, &mut actions)?,
            Event::Received(Message::Value(tx)) => self.on_value(tx, &mut actions)?,
            Event::Received(Message::Block(block)) => self.on_block(block, now, &mut actions)?,
            Event::Timer(Timer::PeriodEnd) => self.on_period_end(now, &mut actions),
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
        vehicle: &IdentityMaterials,
        destination: MemberId,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        // A member leaving the domain leaves its group at the next rekey.
        self.group.leave(&vehicle.pseudonym);
        let chain = &mut self.chain;
        let directory = chain.rules.cache().directory(chain.ledger.registry());
        let Some(dest) = directory.member(destination) else {
            actions.push(Action::Refused(Refusal::UnknownDestination(destination)));
            return;
        };
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
                let txid = Transaction::KeyTransfer(tx.clone()).txid();
                chain
                    .mempool
                    .insert(txid, Transaction::KeyTransfer(tx.clone()));
                self.schedule.collect();
                actions.push(Action::Broadcast(Message::Transaction(tx)));
            }
            Err(e) => actions.push(Action::Refused(Refusal::Build(e))),
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
            Ok(()) if self.chain.mempool.insert(txid, wrapped.clone()) => {
                self.schedule.collect();
                actions.push(Action::Broadcast(Message::Value(tx.clone())));
                return Ok(());
            }
            Ok(()) => ValueRefusal::Conflict,
            Err(reason) => reason,
        };
        actions.push(Action::Refused(Refusal::Value {
            txid,
            error: refused,
        }));
        Ok(())
    }

    fn on_period_end(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        let chain = &self.chain;
        let me = self.id;
        let closed = self
            .schedule
            .close_period(now, !chain.mempool.is_empty(), || chain.rank(me));
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
    }

    fn start_mining(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        let chain = &self.chain;
        if chain.mempool.is_empty() {
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
            transactions: chain
                .mempool
                .take_candidates(self.config.max_block_transactions),
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
        self.on_block(block, now, actions)
    }

    fn on_block(
        &mut self,
        block: Block,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<(), NodeError> {
        match self.chain.ledger.accept(block, now) {
            Ok(Accepted::Connected(update)) => self.apply(update, now, actions),
            Ok(_) => {}
            Err(LedgerError::Invalid { hash, error }) => {
                actions.push(Action::Refused(Refusal::InvalidBlock { hash, error }))
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Mempool and admissions follow the best chain.
    fn apply(&mut self, update: ChainUpdate, now: Timestamp, actions: &mut Vec<Action>) {
        if self.schedule.chain_moved() {
            actions.push(Action::AbortMining);
        }
        let chain = &mut self.chain;
        for block in &update.disconnected {
            for tx in &block.transactions {
                match tx {
                    Transaction::KeyTransfer(_) => {
                        chain.mempool.insert(tx.txid(), tx.clone());
                    }
                    // Back to the pool only if still valid on the new best chain.
                    Transaction::Value(v) if matches!(chain.check_value(tx, v), Ok(Ok(()))) => {
                        chain.mempool.insert(tx.txid(), tx.clone());
                    }
                    _ => {}
                }
            }
        }
        let directory = chain.rules.cache().directory(chain.ledger.registry());
        for validated in &update.connected {
            for (tx, txid) in validated.block().transactions.iter().zip(validated.txids()) {
                chain.mempool.remove(txid);
                chain.mempool.remove_conflicts(tx);
                let Transaction::KeyTransfer(t) = tx else {
                    continue;
                };
                if t.destination != self.id || !self.admitted.insert(*txid) {
                    continue;
                }
                match chain.rules.admit(t, &self.keys, self.id, &directory, now) {
                    Ok(vehicle) => {
                        self.group.join(
                            vehicle.materials.pseudonym,
                            vehicle.materials.certificate.id(),
                        );
                        actions.push(Action::Admit(Admission {
                            vehicle,
                            crossed_at: t.timestamp,
                            admitted_at: now,
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
        match self.group.rekey(chain.ledger.registry(), &mut self.rng) {
            Some(Ok(rekey)) => actions.push(Action::Rekey(rekey)),
            Some(Err(e)) => actions.push(Action::Refused(Refusal::Rekey(e))),
            None => {}
        }
    }
}
