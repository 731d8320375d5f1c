//! Full fidelity: the real security managers (`vkm_node::sm`) or traditional relays
//! (`vkm_node::relay`), each with an in-memory ledger, every ECIES, ECDSA and nonce search
//! really executed; the wall-clock time each takes advances that node's virtual CPU.
//!
//! Each security manager has two resources, as in the in-process network: its CPU, which
//! handles events one at a time, and a miner, which searches nonces beside it and is
//! aborted (Algorithm 1) when a peer's block arrives first.
//!
//! The peers' signature checks of a broadcast transfer, and its opening by its
//! destination, run ahead on the machine's other cores (module `ahead`); each is charged
//! to its node's CPU where the protocol does it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{Block, BlockHash, KeyTransferTx, MemberId, Timestamp, Transaction, Txid};
use vkm_ledger::Registry;
use vkm_node::relay::{RelayEvent, RelayNode};
use vkm_node::sm::{Admission, Event, Message, Refusal, SecurityManager, Timer};
use vkm_period::Calibration;
use vkm_pow::Miner;
use vkm_runtime::{
    ManagerEffects, RelayEffects, Store, World, WorldConfig, apply, apply_relay, message_delay_s,
    seeds,
};
use vkm_transfer::certificate::{IdentityMaterials, PseudonymId};
use vkm_transfer::keys::MemberKeys;
use vkm_transfer::rules::MemberCache;
use vkm_transfer::traditional::RelayMessage;
use vkm_transfer::transfer::TransferError;

use crate::ahead::{Ahead, Job, Memo, Work};
use crate::engine::{Arrival, Driver};
use crate::metrics::{BlockRecord, Metrics, PeriodRecord, TransferRecord};
use crate::scenario::{Scenario, Structure};
use crate::traffic::Crossing;
use crate::{EPOCH_MS, SimError, seconds, timestamp};

/// What a node of the measured simulation receives.
#[derive(Debug)]
pub enum Input {
    /// A vehicle crosses out of this node's district.
    Cross(Crossing),
    /// An event for a security manager of the blockchain structure.
    Chain(Event),
    /// A transfer reaching a security manager whose signature check was started ahead:
    /// the number of that verification job.
    Transfer(Event, u64),
    /// An event for a node of the traditional structure.
    Relay(RelayEvent),
    /// This node's miner finished the job with this generation.
    Mined {
        /// Which mining job (stale ones are ignored).
        generation: u64,
        /// The solved block.
        block: Block,
    },
}

/// What checks run ahead need of a security manager: the prepared member keys, the memo
/// its rules read, its registry as last seen and its keys.
struct Checks {
    cache: Arc<MemberCache>,
    memo: Arc<Memo>,
    registry: Arc<Registry>,
    keys: Arc<MemberKeys>,
}

enum Node {
    Manager(Box<SecurityManager>),
    Relay(Box<RelayNode>),
}

#[derive(Default, Clone, Copy)]
struct MinerState {
    generation: u64,
    free_at: f64,
    job_started: f64,
    preparation_s: f64,
    mining_s: f64,
}

/// The measured driver: real nodes, measured costs.
pub struct Measured {
    nodes: Vec<Node>,
    /// What checks run ahead need of each security manager.
    checks: Vec<Checks>,
    ahead: Ahead,
    /// The opening job of each transfer broadcast but not yet in a block, by source and
    /// sequence number.
    openings: HashMap<(MemberId, u64), u64>,
    /// Each node's input taken by [`Driver::start`] and not yet finished.
    deferred: Vec<Option<Input>>,
    ids: Vec<MemberId>,
    index_of: HashMap<MemberId, usize>,
    vehicles: Vec<Vec<IdentityMaterials>>,
    miners: Vec<MinerState>,
    rng: StdRng,
    backoff_ms: f64,
    propagation_ms: f64,
    crossings: HashMap<(PseudonymId, u64), (f64, usize, usize)>,
    next_vehicle: Vec<usize>,
    mined: HashMap<BlockHash, BlockRecord>,
    verification: HashMap<BlockHash, (f64, u32)>,
    seed: u64,
    /// What the run recorded.
    pub metrics: Metrics,
    error: Option<SimError>,
}

impl Measured {
    /// Builds the world of `scenario`: keys, genesis, one security manager per district
    /// (with its own in-memory ledger) and, in the traditional structures, the central
    /// managers; `threads` worker threads run checks ahead (none: each runs when the
    /// protocol reaches it). Returns the driver and the first timers.
    pub fn new(
        scenario: &Scenario,
        calibration: &Calibration,
        threads: usize,
    ) -> Result<(Self, Vec<Arrival<Input>>), SimError> {
        let districts = scenario.districts();
        let (domains, per_domain) = match scenario.structure {
            Structure::SameDomain => (1, districts),
            Structure::Blockchain | Structure::CrossDomain => (districts, 1),
        };
        let mut world = World::new(WorldConfig {
            managers_per_domain: per_domain,
            ..WorldConfig::new(
                domains,
                scenario.difficulty_bits,
                Timestamp(EPOCH_MS),
                scenario.seed,
            )
        });
        let validity_ms = (scenario.duration_s * 1000.0) as u64 + 86_400_000;
        let vehicles = (0..districts)
            .map(|d| {
                let domain = if domains == 1 { 0 } else { d };
                world.vehicles(domain, 32, Timestamp(EPOCH_MS), validity_ms)
            })
            .collect();
        let period = scenario.initial_period()?;
        let setup = |e: vkm_runtime::RuntimeError| SimError::Setup(e.to_string());
        let mut nodes = Vec::new();
        let mut checks = Vec::new();
        let mut ids = Vec::new();
        let mut first = Vec::new();
        match scenario.structure {
            Structure::Blockchain => {
                for id in world.security_managers() {
                    let memo = Arc::new(Memo::default());
                    let sm = world
                        .manager_with(
                            id,
                            &Store::Memory,
                            crate::policy(scenario, calibration)?,
                            period,
                            crate::node_config(scenario),
                            Some(memo.clone()),
                        )
                        .map_err(setup)?;
                    checks.push(Checks {
                        cache: world.member_cache().clone(),
                        memo,
                        registry: Arc::new(sm.ledger().registry().clone()),
                        keys: Arc::new(world.keys(id).map_err(setup)?),
                    });
                    let mut sm = Box::new(sm);
                    let mut timers = FirstTimers {
                        node: nodes.len(),
                        first: &mut first,
                    };
                    apply(sm.start(Timestamp(EPOCH_MS)), &mut timers);
                    nodes.push(Node::Manager(sm));
                    ids.push(id);
                }
            }
            Structure::SameDomain | Structure::CrossDomain => {
                let mut members = world.security_managers();
                members.extend(world.central_managers());
                for id in members {
                    nodes.push(Node::Relay(Box::new(world.relay(id).map_err(setup)?)));
                    ids.push(id);
                }
            }
        }
        let index_of = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let node_count = nodes.len();
        let miners = vec![MinerState::default(); nodes.len()];
        Ok((
            Self {
                nodes,
                checks,
                ahead: Ahead::new(threads),
                openings: HashMap::new(),
                deferred: (0..node_count).map(|_| None).collect(),
                ids,
                index_of,
                vehicles,
                miners,
                rng: StdRng::seed_from_u64(seeds::delays(scenario.seed, 0)),
                backoff_ms: scenario.network.backoff_ms,
                propagation_ms: scenario.network.propagation_ms,
                crossings: HashMap::new(),
                next_vehicle: vec![0; districts],
                mined: HashMap::new(),
                verification: HashMap::new(),
                seed: scenario.seed,
                metrics: Metrics::default(),
                error: None,
            },
            first,
        ))
    }

    /// The first failure of a node, if any (the run stops handling events after it).
    pub fn take_error(&mut self) -> Option<SimError> {
        self.error.take()
    }

    /// The metrics, with the blocks on security manager 0's final chain and their mean
    /// verification times.
    pub fn finish(self) -> Metrics {
        let mut metrics = self.metrics;
        if let Some(Node::Manager(sm)) = self.nodes.first() {
            let ledger = sm.ledger();
            for height in 1..=ledger.height() {
                let Ok(Some(block)) = ledger.block_at(height) else {
                    continue;
                };
                let hash = block.block_hash();
                if let Some(mut record) = self.mined.get(&hash).copied() {
                    record.height = height;
                    if let Some((sum, n)) = self.verification.get(&hash) {
                        record.verification_s = sum / f64::from(*n);
                    }
                    metrics.blocks.push(record);
                }
            }
        }
        metrics
    }

    /// The block height of security manager 0's chain (0 in the traditional structures).
    pub fn height(&self) -> u64 {
        match self.nodes.first() {
            Some(Node::Manager(sm)) => sm.ledger().height(),
            _ => 0,
        }
    }

    /// The crossing as the source node sees it, remembered so that its admission can be
    /// matched to it (by pseudonym and the transfer's timestamp, which is `now`).
    fn crossing(&mut self, c: &Crossing, now: f64) -> (IdentityMaterials, MemberId) {
        let pool = &self.vehicles[c.from];
        let vehicle = pool[self.next_vehicle[c.from] % pool.len()].clone();
        self.next_vehicle[c.from] += 1;
        self.crossings
            .insert((vehicle.pseudonym, timestamp(now).0), (c.at, c.from, c.to));
        (vehicle, self.ids[c.to])
    }

    /// Starts `node`'s check of `tx` on another core, with its rules and its registry as
    /// it stands now; returns the job's number.
    fn ahead(
        &mut self,
        node: usize,
        tx: &Arc<KeyTransferTx>,
        txid: Txid,
        open: bool,
    ) -> Option<u64> {
        let checks = self.checks.get_mut(node)?;
        if let Node::Manager(sm) = &self.nodes[node]
            && *checks.registry != *sm.ledger().registry()
        {
            checks.registry = Arc::new(sm.ledger().registry().clone());
        }
        Some(self.ahead.submit(Job {
            cache: checks.cache.clone(),
            memo: checks.memo.clone(),
            registry: checks.registry.clone(),
            tx: tx.clone(),
            txid,
            work: if open {
                Work::Open(checks.keys.clone())
            } else {
                Work::Verify
            },
        }))
    }

    /// Finishes the opening jobs of `block`'s transfers to `node`, so that admitting them
    /// takes the results.
    fn finish_openings(&mut self, node: usize, block: &Block) {
        for tx in &block.transactions {
            if let Transaction::KeyTransfer(t) = tx
                && t.destination == self.ids[node]
                && let Some(job) = self.openings.remove(&(t.source, t.sequence))
            {
                self.ahead.finish(job);
            }
        }
    }

    fn delay(&mut self) -> f64 {
        message_delay_s(&mut self.rng, self.backoff_ms, self.propagation_ms)
    }

    fn admitted(&mut self, admission: &Admission, done: f64) {
        let key = (
            admission.vehicle.materials.pseudonym,
            admission.crossed_at.0,
        );
        if let Some((crossed_s, from, to)) = self.crossings.remove(&key) {
            self.metrics.transfers.push(TransferRecord {
                from,
                to,
                crossed_s,
                admitted_s: done,
            });
        }
    }

    fn handle_manager(
        &mut self,
        node: usize,
        input: Input,
        now: f64,
        out: &mut Vec<Arrival<Input>>,
    ) -> Result<f64, SimError> {
        let mut mined_block = false;
        let mut receipt = None;
        let event = match input {
            Input::Cross(c) => {
                let (vehicle, destination) = self.crossing(&c, now);
                Event::Crossing {
                    vehicle,
                    destination,
                }
            }
            Input::Chain(event) => event,
            Input::Transfer(event, job) => {
                self.ahead.finish(job);
                receipt = Some(job);
                event
            }
            Input::Mined { generation, block } => {
                if generation != self.miners[node].generation {
                    return Ok(0.0); // aborted job
                }
                mined_block = true;
                Event::Mined(block)
            }
            Input::Relay(_) => return Ok(0.0),
        };
        let Node::Manager(sm) = &mut self.nodes[node] else {
            return Ok(0.0);
        };
        let period_end = node == 0 && event == Event::Timer(Timer::PeriodEnd);
        if period_end {
            self.metrics.periods.push(PeriodRecord {
                node,
                ended_s: now,
                length_s: sm.period().seconds(),
                transactions: sm.collected(),
            });
        }
        let received = match &event {
            Event::Received {
                message: Message::Block(b),
                ..
            } => Some(b.block_hash()),
            _ => None,
        };
        if let Event::Received {
            message: Message::Block(block),
            ..
        }
        | Event::Mined(block) = &event
        {
            self.finish_openings(node, block);
        }
        let Node::Manager(sm) = &mut self.nodes[node] else {
            return Ok(0.0);
        };
        let started = Instant::now();
        let actions = sm
            .handle(event, timestamp(now))
            .map_err(|e| SimError::Node(e.to_string()))?;
        let mut cost = started.elapsed().as_secs_f64();
        // Work done ahead that the node took is charged here, where it would have run.
        if let Some(checks) = self.checks.get(node) {
            for job in checks.memo.take_used() {
                cost += self.ahead.collect(job).unwrap_or(0.0);
            }
        }
        if let Some(job) = receipt {
            self.ahead.collect(job); // not taken: forgotten
        }
        let done = now + cost;
        if let Some(hash) = received {
            let entry = self.verification.entry(hash).or_default();
            entry.0 += cost;
            entry.1 += 1;
        }
        let mut effects = ManagerStep {
            sim: self,
            node,
            now,
            done,
            cost,
            mined_block,
            opens_round: period_end,
            out,
        };
        apply(actions, &mut effects);
        Ok(cost)
    }

    fn handle_relay(
        &mut self,
        node: usize,
        input: Input,
        now: f64,
        out: &mut Vec<Arrival<Input>>,
    ) -> f64 {
        let event = match input {
            Input::Cross(c) => {
                let (vehicle, destination) = self.crossing(&c, now);
                RelayEvent::Crossing {
                    vehicle,
                    destination,
                }
            }
            Input::Relay(event) => event,
            Input::Chain(_) | Input::Transfer(..) | Input::Mined { .. } => return 0.0,
        };
        let Node::Relay(relay) = &mut self.nodes[node] else {
            return 0.0;
        };
        let started = Instant::now();
        let actions = relay.handle(event, timestamp(now));
        let cost = started.elapsed().as_secs_f64();
        let mut effects = RelayStep {
            sim: self,
            done: now + cost,
            out,
        };
        apply_relay(actions, &mut effects);
        cost
    }
}

/// The first timers of a security manager, as arrivals.
struct FirstTimers<'a> {
    node: usize,
    first: &'a mut Vec<Arrival<Input>>,
}

impl ManagerEffects for FirstTimers<'_> {
    fn broadcast(&mut self, _message: Message) {}
    fn send(&mut self, _to: MemberId, _message: Message) {}
    fn start_mining(&mut self, _candidate: Block) {}
    fn abort_mining(&mut self) {}
    fn set_timer(&mut self, at: Timestamp, timer: Timer) {
        self.first.push(Arrival {
            at: seconds(at),
            node: self.node,
            input: Input::Chain(Event::Timer(timer)),
        });
    }
}

/// What a security manager's actions do in virtual time: messages arrive after their
/// delays from the moment its CPU is done, checks of a broadcast transfer start ahead,
/// the miner searches for real and reports at the virtual time the search took.
struct ManagerStep<'a> {
    sim: &'a mut Measured,
    node: usize,
    /// When the event was taken.
    now: f64,
    /// When the CPU is done with it.
    done: f64,
    /// The CPU time it took.
    cost: f64,
    /// Whether it was this node's own solved block.
    mined_block: bool,
    /// Whether it was security manager 0's period end: a round it opens is counted.
    opens_round: bool,
    out: &'a mut Vec<Arrival<Input>>,
}

impl ManagerStep<'_> {
    /// Counts the round the period end opened (once: mining now or a slot later).
    fn round_opened(&mut self) {
        if std::mem::take(&mut self.opens_round) {
            self.sim.metrics.rounds += 1;
        }
    }
}

impl ManagerEffects for ManagerStep<'_> {
    fn broadcast(&mut self, msg: Message) {
        let (sim, node) = (&mut *self.sim, self.node);
        if self.mined_block
            && let Message::Block(b) = &msg
        {
            let m = sim.miners[node];
            sim.mined.insert(
                b.block_hash(),
                BlockRecord {
                    height: 0,
                    miner: node,
                    transactions: b.transactions.len(),
                    started_s: m.job_started,
                    preparation_s: m.preparation_s,
                    mining_s: m.mining_s,
                    verification_s: 0.0,
                },
            );
        }
        // The transfer and its id, computed once for all the checks run ahead.
        let transfer = match &msg {
            Message::Transaction(tx) => Some((
                Arc::new(tx.clone()),
                Transaction::KeyTransfer(tx.clone()).txid(),
            )),
            _ => None,
        };
        if let Some((tx, txid)) = &transfer
            && let Some(&destination) = sim.index_of.get(&tx.destination)
            && let Some(job) = sim.ahead(destination, tx, *txid, true)
        {
            sim.openings.insert((tx.source, tx.sequence), job);
        }
        let mut arrivals: Vec<(f64, usize)> = (0..sim.nodes.len())
            .filter(|&p| p != node)
            .map(|peer| (self.done + sim.delay(), peer))
            .collect();
        // Checks run ahead are queued in the order the peers will need them.
        arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
        let from = sim.ids[node];
        for (at, peer) in arrivals {
            let event = Event::Received {
                from,
                message: msg.clone(),
            };
            let input = match transfer
                .as_ref()
                .and_then(|(tx, txid)| sim.ahead(peer, tx, *txid, false))
            {
                Some(job) => Input::Transfer(event, job),
                None => Input::Chain(event),
            };
            self.out.push(Arrival {
                at,
                node: peer,
                input,
            });
        }
    }

    fn send(&mut self, to: MemberId, message: Message) {
        let sim = &mut *self.sim;
        if let Some(&peer) = sim.index_of.get(&to) {
            let at = self.done + sim.delay();
            self.out.push(Arrival {
                at,
                node: peer,
                input: Input::Chain(Event::Received {
                    from: sim.ids[self.node],
                    message,
                }),
            });
        }
    }

    fn start_mining(&mut self, mut block: Block) {
        self.round_opened();
        let (sim, node, now) = (&mut *self.sim, self.node, self.now);
        let seed = sim.seed ^ (u64::from(sim.ids[node].0) << 32) ^ now.to_bits();
        let mut rng = StdRng::seed_from_u64(seed);
        let started = Instant::now();
        let _ = Miner::default().mine(&mut block, &mut rng, &AtomicBool::new(false));
        let mining_s = started.elapsed().as_secs_f64();
        let miner = &mut sim.miners[node];
        miner.generation += 1;
        let start = self.done.max(miner.free_at);
        *miner = MinerState {
            generation: miner.generation,
            free_at: start + mining_s,
            job_started: now,
            preparation_s: self.cost,
            mining_s,
        };
        self.out.push(Arrival {
            at: start + mining_s,
            node,
            input: Input::Mined {
                generation: miner.generation,
                block,
            },
        });
    }

    fn abort_mining(&mut self) {
        let miner = &mut self.sim.miners[self.node];
        miner.generation += 1;
        miner.free_at = miner.free_at.min(self.done);
    }

    fn set_timer(&mut self, at: Timestamp, timer: Timer) {
        if let Timer::MiningSlot(_) = timer {
            self.round_opened();
        }
        self.out.push(Arrival {
            at: seconds(at),
            node: self.node,
            input: Input::Chain(Event::Timer(timer)),
        });
    }

    fn admitted(&mut self, admission: Admission) {
        self.sim.admitted(&admission, self.done);
    }

    fn refused(&mut self, _refusal: Refusal) {
        self.sim.metrics.refused += 1;
    }
}

/// What a traditional node's actions do in virtual time.
struct RelayStep<'a> {
    sim: &'a mut Measured,
    done: f64,
    out: &'a mut Vec<Arrival<Input>>,
}

impl RelayEffects for RelayStep<'_> {
    fn send(&mut self, msg: RelayMessage) {
        if let Some(&target) = self.sim.index_of.get(&msg.receiver) {
            let at = self.done + self.sim.delay();
            self.out.push(Arrival {
                at,
                node: target,
                input: Input::Relay(RelayEvent::Received(msg)),
            });
        }
    }

    fn admitted(&mut self, admission: Admission) {
        self.sim.admitted(&admission, self.done);
    }

    fn refused(&mut self, _error: TransferError) {
        self.sim.metrics.refused += 1;
    }
}

impl Driver for Measured {
    type Input = Input;

    fn handle(
        &mut self,
        node: usize,
        input: Input,
        now: f64,
        out: &mut Vec<Arrival<Input>>,
    ) -> f64 {
        if self.error.is_some() {
            return 0.0;
        }
        match self.nodes[node] {
            Node::Manager(_) => match self.handle_manager(node, input, now, out) {
                Ok(cost) => cost,
                Err(e) => {
                    self.error = Some(e);
                    0.0
                }
            },
            Node::Relay(_) => self.handle_relay(node, input, now, out),
        }
    }

    /// A transfer received (whose signature check runs ahead) causes no message: it is
    /// taken, and handled when the engine finishes it, so that the simulation goes on
    /// with other nodes while the check runs.
    fn start(&mut self, node: usize, input: Input, _now: f64) -> Option<Input> {
        match input {
            Input::Transfer(..) if self.deferred.len() > node && self.deferred[node].is_none() => {
                self.deferred[node] = Some(input);
                None
            }
            other => Some(other),
        }
    }

    fn finish(&mut self, node: usize, now: f64, out: &mut Vec<Arrival<Input>>) -> f64 {
        match self.deferred.get_mut(node).and_then(Option::take) {
            Some(input) => self.handle(node, input, now, out),
            None => 0.0,
        }
    }
}
