//! The security manager as a sans-IO state machine (Lei et al. Fig. 5): events in, actions
//! out. Time comes in with every event; the caller runs timers, mining and the network.

use std::collections::{HashMap, HashSet};

use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};
use vkm_block::{
    Block, BlockHash, BlockHeader, CertificateId, KeyTransferTx, MemberId, Timestamp, Transaction,
    Txid, ValueTx,
};
use vkm_coins::check_scripts;
use vkm_ledger::{Accepted, ChainUpdate, Ledger, LedgerError, TxContext, check_spend};
use vkm_period::{CollectionPeriod, PeriodPolicy};
use vkm_rekey::{GroupKeyScheme, Lkh, Rekey, VehicleId};
use vkm_transfer::certificate::IdentityMaterials;
use vkm_transfer::certificate::PseudonymId;
use vkm_transfer::directory::Directory;
use vkm_transfer::keys::MemberKeys;
use vkm_transfer::rules::{KeyTransferRules, sign_block};
use vkm_transfer::transfer::{AdmittedVehicle, SequenceLog, build_key_transfer};

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
    Refused(String),
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

/// A security manager: its keys, its copy of the chain, its mempool and period policy.
pub struct SecurityManager {
    id: MemberId,
    keys: MemberKeys,
    ledger: Ledger,
    rules: KeyTransferRules,
    mempool: crate::mempool::Mempool,
    policy: Box<dyn PeriodPolicy + Send>,
    period: CollectionPeriod,
    collected: u64,
    next_sequence: u64,
    round: u64,
    mining: bool,
    admitted: HashSet<Txid>,
    config: NodeConfig,
    rng: StdRng,
    group: Lkh,
    members: HashMap<PseudonymId, (VehicleId, CertificateId)>,
    next_vehicle: u64,
    joins: Vec<VehicleId>,
    leaves: Vec<VehicleId>,
}

impl core::fmt::Debug for SecurityManager {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecurityManager")
            .field("id", &self.id)
            .field("height", &self.ledger.height())
            .field("mempool", &self.mempool.len())
            .finish_non_exhaustive()
    }
}

impl SecurityManager {
    /// A security manager over `ledger` (which must validate with `rules`, sharing their
    /// key cache), collecting for `period` and then as `policy` decides.
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
            ledger,
            rules,
            mempool: Default::default(),
            policy,
            period,
            collected: 0,
            next_sequence,
            round: 0,
            mining: false,
            admitted: HashSet::new(),
            config,
            rng,
            group,
            members: HashMap::new(),
            next_vehicle: 0,
            joins: Vec::new(),
            leaves: Vec::new(),
        })
    }

    /// This manager's id.
    pub fn id(&self) -> MemberId {
        self.id
    }

    /// Its copy of the chain.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Vehicles in this domain's group.
    pub fn group_members(&self) -> usize {
        self.group.members()
    }

    /// Pending transfers.
    pub fn mempool_len(&self) -> usize {
        self.mempool.len()
    }

    /// The collection period in force.
    pub fn period(&self) -> CollectionPeriod {
        self.period
    }

    /// Transactions collected since the current period began.
    pub fn collected(&self) -> u64 {
        self.collected
    }

    /// The first period timer.
    pub fn start(&mut self, now: Timestamp) -> Vec<Action> {
        vec![Action::SetTimer {
            at: period_end_after(now, self.period),
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
            Event::Received(Message::Value(tx)) => {
                self.on_value(tx, &mut actions)?;
            }
            Event::Received(Message::Block(block)) => self.on_block(block, now, &mut actions)?,
            Event::Timer(Timer::PeriodEnd) => self.on_period_end(now, &mut actions),
            Event::Timer(Timer::MiningSlot(round)) if round == self.round => {
                self.start_mining(now, &mut actions)
            }
            Event::Timer(Timer::MiningSlot(_)) => {}
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
        if let Some((id, _)) = self.members.remove(&vehicle.pseudonym) {
            self.leaves.push(id);
        }
        let directory = self.rules.cache().directory(self.ledger.registry());
        let Some(dest) = directory.member(destination) else {
            actions.push(Action::Refused(format!(
                "crossing to unregistered {destination}"
            )));
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
                self.rules
                    .remember_own(&tx, &self.keys, self.ledger.registry());
                let txid = Transaction::KeyTransfer(tx.clone()).txid();
                self.mempool
                    .insert(txid, Transaction::KeyTransfer(tx.clone()));
                self.collected += 1;
                actions.push(Action::Broadcast(Message::Transaction(tx)));
            }
            Err(e) => actions.push(Action::Refused(format!("cannot build transfer: {e}"))),
        }
    }

    fn on_transaction(
        &mut self,
        tx: KeyTransferTx,
        actions: &mut Vec<Action>,
    ) -> Result<(), NodeError> {
        let txid = Transaction::KeyTransfer(tx.clone()).txid();
        if self.mempool.contains(&txid) || self.ledger.has_transaction(&txid)? {
            return Ok(());
        }
        match self
            .rules
            .check_and_remember(&tx, self.ledger.registry(), &LedgerLog(&self.ledger))
        {
            Ok(()) => {
                if self.mempool.insert(txid, Transaction::KeyTransfer(tx)) {
                    self.collected += 1;
                }
            }
            Err(e) => actions.push(Action::Refused(format!("transaction {txid}: {e}"))),
        }
        Ok(())
    }

    /// A value transaction from a party or a peer: collected when it spends confirmed,
    /// unspent outputs no pending transaction spends, pays no more than they hold, and
    /// every script passes. Returns whether it was collected.
    fn on_value(&mut self, tx: ValueTx, actions: &mut Vec<Action>) -> Result<bool, NodeError> {
        let tx = Transaction::Value(tx);
        let txid = tx.txid();
        if self.mempool.contains(&txid) || self.ledger.has_transaction(&txid)? {
            return Ok(false);
        }
        match self.check_value(&tx)? {
            Ok(()) if self.mempool.insert(txid, tx.clone()) => {
                self.collected += 1;
                if let Transaction::Value(v) = tx {
                    actions.push(Action::Broadcast(Message::Value(v)));
                }
                Ok(true)
            }
            Ok(()) => {
                actions.push(Action::Refused(format!(
                    "transaction {txid}: conflicts with a pending transaction or the pool is full"
                )));
                Ok(false)
            }
            Err(reason) => {
                actions.push(Action::Refused(format!("transaction {txid}: {reason}")));
                Ok(false)
            }
        }
    }

    /// The ledger's coin rules ([`vkm_ledger::check_spend`]) and the scripts, against the
    /// best chain's UTXO set.
    fn check_value(&self, tx: &Transaction) -> Result<Result<(), String>, NodeError> {
        let Transaction::Value(v) = tx else {
            return Ok(Err("not a value transaction".into()));
        };
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
            Err(e) => return Ok(Err(e.to_string())),
        };
        Ok(check_scripts(&TxContext {
            transaction: tx,
            spent_outputs: &spent,
        })
        .map_err(|e| e.to_string()))
    }

    /// This manager's rank in the current round (see [`mining_rank`]).
    fn rank(&self) -> u64 {
        let peers = self
            .ledger
            .registry()
            .members()
            .filter(|m| m.role == vkm_block::Role::SecurityManager)
            .map(|m| m.id);
        mining_rank(&self.ledger.tip(), self.ledger.height(), self.id, peers)
    }

    fn on_period_end(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        let closed = self.period;
        self.period = self.policy.next_period(self.collected, closed);
        self.collected = 0;
        actions.push(Action::SetTimer {
            at: period_end_after(now, self.period),
            timer: Timer::PeriodEnd,
        });
        if self.mempool.is_empty() {
            return;
        }
        self.round += 1;
        let rank = self.rank();
        if rank == 0 {
            self.start_mining(now, actions);
        } else {
            actions.push(Action::SetTimer {
                at: Timestamp(now.0 + rank * self.config.mining_slot_ms),
                timer: Timer::MiningSlot(self.round),
            });
        }
    }

    fn start_mining(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        if self.mempool.is_empty() {
            return;
        }
        let mut block = Block {
            header: BlockHeader {
                version: BlockHeader::VERSION,
                prev_block: self.ledger.tip(),
                timestamp: Timestamp(now.0.max(self.ledger.tip_timestamp().0 + 1)),
                difficulty_bits: self.ledger.difficulty_bits(),
                ..BlockHeader::default()
            },
            miner: self.id,
            miner_signature: Default::default(),
            transactions: self
                .mempool
                .take_candidates(self.config.max_block_transactions),
        };
        block.header.merkle_root = block.compute_merkle_root();
        self.mining = true;
        actions.push(Action::StartMining(block));
    }

    fn on_mined(
        &mut self,
        mut block: Block,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<(), NodeError> {
        self.mining = false;
        if block.header.prev_block != self.ledger.tip() {
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
        match self.ledger.accept(block, now) {
            Ok(Accepted::Connected(update)) => self.apply(update, now, actions),
            Ok(_) => {}
            Err(LedgerError::Invalid { hash, error }) => {
                actions.push(Action::Refused(format!("block {hash}: {error}")))
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Mempool and admissions follow the best chain.
    fn apply(&mut self, update: ChainUpdate, now: Timestamp, actions: &mut Vec<Action>) {
        if self.mining {
            self.mining = false;
            actions.push(Action::AbortMining);
        }
        self.round += 1; // pending mining slots are for a tip that is gone
        for block in &update.disconnected {
            for tx in &block.transactions {
                match tx {
                    Transaction::KeyTransfer(_) => {
                        self.mempool.insert(tx.txid(), tx.clone());
                    }
                    // Back to the pool only if still valid on the new best chain.
                    Transaction::Value(_) if matches!(self.check_value(tx), Ok(Ok(()))) => {
                        self.mempool.insert(tx.txid(), tx.clone());
                    }
                    _ => {}
                }
            }
        }
        let directory = self.rules.cache().directory(self.ledger.registry());
        for validated in &update.connected {
            for (tx, txid) in validated.block().transactions.iter().zip(validated.txids()) {
                self.mempool.remove(txid);
                self.mempool.remove_conflicts(tx);
                let Transaction::KeyTransfer(t) = tx else {
                    continue;
                };
                if t.destination != self.id || !self.admitted.insert(*txid) {
                    continue;
                }
                match self.rules.admit(t, &self.keys, self.id, &directory, now) {
                    Ok(vehicle) => {
                        let pseudonym = vehicle.materials.pseudonym;
                        if !self.members.contains_key(&pseudonym) {
                            let id = VehicleId(self.next_vehicle);
                            self.next_vehicle += 1;
                            self.members
                                .insert(pseudonym, (id, vehicle.materials.certificate.id()));
                            self.joins.push(id);
                        }
                        actions.push(Action::Admit(Admission {
                            vehicle,
                            crossed_at: t.timestamp,
                            admitted_at: now,
                        }));
                    }
                    Err(e) => actions.push(Action::Refused(format!("admission of {txid}: {e}"))),
                }
            }
            actions.push(Action::Committed {
                height: validated.height(),
                hash: validated.hash(),
            });
        }
        self.rekey(actions);
    }

    /// One rekey for everything that changed since the last: joins, leaves, and members
    /// whose certificate the chain now revokes (Lei et al. III.A.3).
    fn rekey(&mut self, actions: &mut Vec<Action>) {
        let registry = self.ledger.registry();
        let revoked: Vec<PseudonymId> = self
            .members
            .iter()
            .filter(|(_, (_, certificate))| registry.is_revoked(certificate))
            .map(|(pseudonym, _)| *pseudonym)
            .collect();
        for pseudonym in revoked {
            if let Some((id, _)) = self.members.remove(&pseudonym) {
                self.leaves.push(id);
            }
        }
        if self.joins.is_empty() && self.leaves.is_empty() {
            return;
        }
        // A vehicle that joined and left within the period never enters the tree.
        let joins: Vec<VehicleId> = self.joins.drain(..).collect();
        let leaves: Vec<VehicleId> = self.leaves.drain(..).collect();
        let (joins, leaves): (Vec<_>, Vec<_>) = (
            joins
                .iter()
                .copied()
                .filter(|j| !leaves.contains(j))
                .collect(),
            leaves
                .iter()
                .copied()
                .filter(|l| !joins.contains(l))
                .collect(),
        );
        match self.group.rekey(&joins, &leaves, &mut self.rng) {
            Ok(rekey) => actions.push(Action::Rekey(rekey)),
            Err(e) => actions.push(Action::Refused(format!("rekey: {e}"))),
        }
    }
}

/// The next end of a period after `now`: periods are aligned to multiples of their
/// length since the Unix epoch, so security managers with the same period close it
/// together.
pub fn period_end_after(now: Timestamp, period: CollectionPeriod) -> Timestamp {
    let length = ((period.seconds() * 1000.0).round() as u64).max(1);
    Timestamp((now.0 / length + 1) * length)
}

/// The rank of security manager `me` among `managers` (which may include `me`) in the
/// mining round on `tip` at `height`: its position when they are ordered by
/// `SHA-256(tip || height || id)`. Rank `r` starts mining `r` mining slots after the
/// period ends ([`NodeConfig::mining_slot_ms`]); every manager computes the same order.
pub fn mining_rank(
    tip: &BlockHash,
    height: u64,
    me: MemberId,
    managers: impl IntoIterator<Item = MemberId>,
) -> u64 {
    let key = |id: MemberId| {
        Sha256::new()
            .chain_update(tip.0)
            .chain_update(height.to_le_bytes())
            .chain_update(id.0.to_le_bytes())
            .finalize()
    };
    let mine = key(me);
    managers
        .into_iter()
        .filter(|&id| id != me && key(id) < mine)
        .count() as u64
}
