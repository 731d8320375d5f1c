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
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use vkm_block::{Block, BlockHash, KeyTransferTx, MemberId, Timestamp, Transaction, Txid};
use vkm_ledger::Registry;
use vkm_node::relay::{RelayEvent, RelayNode};
use vkm_node::sm::{Admission, Event, FaultCounters, Message, Refusal, SecurityManager, Timer};
use vkm_node::vehicle::{DomainRekey, VehicleError, VehicleEvent};
use vkm_period::Calibration;
use vkm_pow::Miner;
use vkm_rekey::SealedBsm;
use vkm_runtime::{
    Faults, ManagerEffects, RelayEffects, Store, World, WorldConfig, apply, apply_relay,
    message_delay_s, seeds,
};
use vkm_runtime::{Fleet, Issuers, VehicleEffects, apply_vehicle};
use vkm_transfer::central::Pseudonym;
use vkm_transfer::certificate::PseudonymId;
use vkm_transfer::crossing::{CrossingRequest, RequestId, RsuId};
use vkm_transfer::keys::MemberKeys;
use vkm_transfer::rules::MemberCache;
use vkm_transfer::traditional::RelayMessage;
use vkm_transfer::transfer::TransferError;

use crate::ahead::{Ahead, Job, Memo, Work};
use crate::engine::{Arrival, Driver};
use crate::metrics::{BlockRecord, Metrics, NodeEnd, PeriodRecord, TransferRecord};
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
    /// The security manager crashes: it loses everything it holds in memory.
    Crash,
    /// The security manager restarts from its store.
    Restart,
    /// For the vehicles (the fleet's node).
    Fleet(FleetInput),
}

/// What reaches the vehicles.
#[derive(Debug)]
pub enum FleetInput {
    /// Vehicle (index) comes online in its district and asks to join its domain.
    Enrol(usize),
    /// A vehicle crosses a border (the traffic's crossing; the vehicle by its identity).
    Cross(Crossing),
    /// The RSUs of a district broadcast its manager's rekey.
    Rekey(usize, Arc<DomainRekey>),
    /// A timer of vehicle (index) is due.
    Timer(usize),
}

/// The vehicles of a blockchain run: the fleet, each vehicle's CPU, who certifies their
/// pseudonyms, and the requests on their way to a manager.
struct Vehicles {
    fleet: Fleet,
    /// The engine node the vehicles' inputs arrive at (it takes no time itself: each
    /// vehicle's work is timed on its own CPU, `free_at`).
    node: usize,
    free_at: Vec<f64>,
    radio_s: f64,
    /// Probability that a radio message is lost, and what decides it.
    radio_loss: f64,
    radio_rng: StdRng,
    /// Crossing requests on their way to their source manager: when the crossing was,
    /// from and to which district.
    sent: HashMap<RequestId, (f64, usize, usize)>,
}

/// How an admission is matched to its crossing.
///
/// A vehicle's request becomes one key transfer at its source manager: the transfer's
/// id is exact, even when a manager back from a crash handles several held requests of
/// one vehicle in the same millisecond. Crossings reported by RSUs (the traditional
/// structures carry no transaction) are matched by the vehicle's pseudonym, the source's
/// clock when it handled the crossing and the destination node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CrossingKey {
    /// The key transfer carrying the vehicle's materials.
    Transfer(Txid),
    /// Pseudonym, source's time (ms), destination node.
    Reported(PseudonymId, u64, usize),
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
    /// A security manager that crashed and has not restarted: what reaches it is lost,
    /// but the crossing requests its RSUs hold wait for it.
    Down(Vec<Input>),
}

/// What a restart needs to build a security manager again: the world, its settings and
/// the folder of the stores.
struct Restarts {
    world: World,
    scenario: Scenario,
    calibration: Calibration,
    stores: PathBuf,
}

impl Drop for Restarts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.stores);
    }
}

/// The faults of a run and what they did.
struct FaultState {
    faults: Faults,
    rng: StdRng,
    /// Counters of manager instances that crashed.
    carried: FaultCounters,
    /// Set when managers crash: how to restart them.
    restarts: Option<Restarts>,
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
    /// Pseudonyms taking turns per district (the traditional structures, where RSUs
    /// report crossings).
    pseudonyms: Vec<Vec<Pseudonym>>,
    /// The vehicles (the blockchain structure).
    vehicles: Option<Vehicles>,
    miners: Vec<MinerState>,
    rng: StdRng,
    backoff_ms: f64,
    propagation_ms: f64,
    crossings: HashMap<CrossingKey, (f64, usize, usize)>,
    next_vehicle: Vec<usize>,
    mined: HashMap<BlockHash, BlockRecord>,
    verification: HashMap<BlockHash, (f64, u32)>,
    seed: u64,
    fault: FaultState,
    /// Per node: since when a restarted manager catches up, and to which height.
    catching_up: Vec<Option<(f64, u64)>>,
    /// Crossings admitted, by pseudonym and time, to tell a second admission.
    admitted_keys: std::collections::HashSet<CrossingKey>,
    /// What the run recorded.
    pub metrics: Metrics,
    error: Option<SimError>,
}

impl Measured {
    /// Builds the world of `scenario`: keys, genesis, one security manager per district
    /// (with its own in-memory ledger) and, in the traditional structures, the central
    /// managers; `threads` worker threads run checks ahead (none: each runs when the
    /// protocol reaches it). Returns the driver and the first timers.
    ///
    /// In the blockchain structure every vehicle of `population` (identity and starting
    /// district) is an on-board unit from the start; others join the fleet at their first
    /// crossing.
    pub fn new(
        scenario: &Scenario,
        calibration: &Calibration,
        threads: usize,
        population: &[(u64, usize)],
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
        let pseudonyms = match scenario.structure {
            Structure::Blockchain => Vec::new(),
            Structure::SameDomain | Structure::CrossDomain => (0..districts)
                .map(|d| {
                    let domain = if domains == 1 { 0 } else { d };
                    world.vehicles(domain, 32, Timestamp(EPOCH_MS), validity_ms)
                })
                .collect(),
        };
        let period = scenario.initial_period()?;
        let setup = |e: vkm_runtime::RuntimeError| SimError::Setup(e.to_string());
        let faults = scenario.faults.faults(districts as u32)?;
        // Managers that crash restart from a store that outlives them: files.
        // One folder per run, also for runs of one process at the same time.
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let stores = (!faults.crashes.is_empty()).then(|| {
            let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::env::temp_dir().join(format!(
                "vkm-sim-stores-{}-{run}-{}",
                std::process::id(),
                scenario.seed
            ))
        });
        if let Some(dir) = &stores {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir)
                .map_err(|e| SimError::Setup(format!("{}: {e}", dir.display())))?;
        }
        let mut nodes = Vec::new();
        let mut checks = Vec::new();
        let mut ids = Vec::new();
        let mut first = Vec::new();
        match scenario.structure {
            Structure::Blockchain => {
                for id in world.security_managers() {
                    let memo = Arc::new(Memo::default());
                    let store = match &stores {
                        Some(dir) => Store::File(store_path(dir, id)),
                        None => Store::Memory,
                    };
                    let sm = world
                        .manager_with(
                            id,
                            &store,
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
                        id,
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
        let index_of: HashMap<MemberId, usize> =
            ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        for (sm, down, up) in faults.crash_windows() {
            if let Some(&node) = index_of.get(&sm) {
                first.push(Arrival {
                    at: down,
                    node,
                    input: Input::Crash,
                });
                first.push(Arrival {
                    at: up,
                    node,
                    input: Input::Restart,
                });
            }
        }
        let vehicles = match scenario.structure {
            Structure::Blockchain => {
                let issuers = Issuers::of(&world, validity_ms).map_err(setup)?;
                let mut v = Vehicles {
                    fleet: Fleet::new(districts, seeds::flows(scenario.seed) ^ 0xf1ee7, issuers),
                    node: nodes.len(),
                    free_at: Vec::new(),
                    radio_s: scenario.vehicles.radio_delay_ms / 1000.0,
                    radio_loss: scenario.vehicles.radio_loss,
                    radio_rng: StdRng::seed_from_u64(seeds::faults(scenario.seed) ^ 0x4ad10),
                    sent: HashMap::new(),
                };
                for &(name, district) in population {
                    let Some(index) = v.add(name, district) else {
                        continue;
                    };
                    first.push(Arrival {
                        at: 0.0,
                        node: v.node,
                        input: Input::Fleet(FleetInput::Enrol(index)),
                    });
                }
                Some(v)
            }
            Structure::SameDomain | Structure::CrossDomain => None,
        };
        let restarts = stores.map(|stores| Restarts {
            world,
            scenario: scenario.clone(),
            calibration: calibration.clone(),
            stores,
        });
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
                pseudonyms,
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
                fault: FaultState {
                    faults,
                    rng: StdRng::seed_from_u64(seeds::faults(scenario.seed)),
                    carried: FaultCounters::default(),
                    restarts,
                },
                catching_up: vec![None; node_count],
                admitted_keys: Default::default(),
                metrics: Metrics::default(),
                error: None,
            },
            first,
        ))
    }

    /// Engine nodes a run of `scenario` needs: the model's, and in the blockchain
    /// structure one more where the vehicles' inputs arrive.
    pub fn nodes(scenario: &Scenario) -> usize {
        crate::model::Model::nodes(scenario)
            + usize::from(scenario.structure == Structure::Blockchain)
    }

    /// Where a crossing of the traffic goes, and as what: to the vehicles (blockchain),
    /// or to the source node as an RSU's report (traditional structures).
    pub fn router(&self) -> impl Fn(Crossing) -> (usize, Input) + use<> {
        let fleet = self.vehicles.as_ref().map(|v| v.node);
        move |crossing| match fleet {
            Some(node) => (node, Input::Fleet(FleetInput::Cross(crossing))),
            None => (crossing.from, Input::Cross(crossing)),
        }
    }

    /// The security managers that are running.
    fn managers(&self) -> impl Iterator<Item = &SecurityManager> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Manager(sm) => Some(&**sm),
            _ => None,
        })
    }

    /// What the managers did against faults, crashed instances included.
    pub fn fault_counters(&self) -> FaultCounters {
        self.managers()
            .map(SecurityManager::fault_counters)
            .fold(self.fault.carried, |a, c| a + c)
    }

    /// Each security manager's state at the end.
    pub fn node_ends(&self) -> Vec<NodeEnd> {
        self.nodes
            .iter()
            .zip(&self.ids)
            .filter_map(|(node, id)| match node {
                Node::Manager(sm) => Some(NodeEnd {
                    id: id.0,
                    up: true,
                    height: Some(sm.ledger().height()),
                    tip: Some(sm.ledger().tip().to_string()),
                }),
                Node::Down(_) => Some(NodeEnd {
                    id: id.0,
                    up: false,
                    height: None,
                    tip: None,
                }),
                Node::Relay(_) => None,
            })
            .collect()
    }

    /// Whether every running manager's stored chain revalidates from genesis.
    pub fn chains_sound(&self, now: f64) -> Option<bool> {
        let now = timestamp(now + 3600.0);
        Some(
            self.managers()
                .all(|sm| sm.ledger().revalidate(now).is_ok()),
        )
    }

    /// Whether the run has settled: every crossing made so far admitted, and the
    /// running managers on one tip.
    pub fn settled(&self, crossings: u64) -> bool {
        let mut tips = self.managers().map(|sm| sm.ledger().tip());
        let first = tips.next();
        self.admitted_keys.len() as u64 >= crossings && tips.all(|t| Some(t) == first)
    }

    /// The first failure of a node, if any (the run stops handling events after it).
    pub fn take_error(&mut self) -> Option<SimError> {
        self.error.take()
    }

    /// The metrics, with the blocks on security manager 0's final chain and their mean
    /// verification times.
    pub fn finish(mut self) -> Metrics {
        let mut metrics = std::mem::take(&mut self.metrics);
        if let Some(v) = self.vehicles.take() {
            metrics.vehicles = v.fleet.finish();
        }
        if let Some(sm) = self.managers().next() {
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
        self.managers().next().map_or(0, |sm| sm.ledger().height())
    }

    /// The crossing as the source node sees it, remembered so that its admission can be
    /// matched to it (by pseudonym and the transfer's timestamp, which is `now`).
    ///
    /// The district's vehicles take turns; one whose crossing at this same millisecond is
    /// still pending is skipped (a burst, such as the crossings that waited for a
    /// crashed manager), so that every crossing has its own key.
    fn crossing(&mut self, c: &Crossing, now: f64) -> (&Pseudonym, MemberId) {
        let pool = &self.pseudonyms[c.from];
        let at = timestamp(now).0;
        let mut vehicle = &pool[self.next_vehicle[c.from] % pool.len()];
        for _ in 0..pool.len() {
            vehicle = &pool[self.next_vehicle[c.from] % pool.len()];
            self.next_vehicle[c.from] += 1;
            if !self.crossings.contains_key(&CrossingKey::Reported(
                vehicle.materials.pseudonym,
                at,
                c.to,
            )) {
                break;
            }
        }
        self.crossings.insert(
            CrossingKey::Reported(vehicle.materials.pseudonym, at, c.to),
            (c.at, c.from, c.to),
        );
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

    /// `admission` at node `node`, done at `done`.
    fn admitted(&mut self, node: usize, admission: &Admission, done: f64) {
        let reported = CrossingKey::Reported(
            admission.vehicle.materials.pseudonym,
            admission.crossed_at.0,
            node,
        );
        let key = match admission.txid.map(CrossingKey::Transfer) {
            Some(transfer) if self.crossings.contains_key(&transfer) => transfer,
            Some(transfer) if self.admitted_keys.contains(&transfer) => transfer,
            _ => reported,
        };
        if let Some((crossed_s, from, to)) = self.crossings.remove(&key) {
            self.admitted_keys.insert(key);
            self.metrics.transfers.push(TransferRecord {
                from,
                to,
                crossed_s,
                admitted_s: done,
            });
        } else if self.admitted_keys.contains(&key) {
            self.metrics.admitted_duplicates += 1;
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
        let mut crossing = None;
        let event = match input {
            Input::Chain(event) => {
                if let (Event::Crossing { request, .. }, Some(v)) = (&event, &mut self.vehicles) {
                    // Matched to its admission by the transfer it becomes (below).
                    crossing = v.sent.remove(&request.id());
                }
                event
            }
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
            Input::Cross(_) | Input::Relay(_) | Input::Fleet(_) | Input::Restart => return Ok(0.0),
            Input::Crash => {
                self.crash(node);
                return Ok(0.0);
            }
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
        if let Some(crossing) = crossing {
            for action in &actions {
                if let vkm_node::sm::Action::Broadcast(Message::Transaction(tx)) = action {
                    let txid = Transaction::KeyTransfer(tx.clone()).txid();
                    self.crossings.insert(CrossingKey::Transfer(txid), crossing);
                }
            }
        }
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
        if let Some((since, target)) = self.catching_up[node]
            && sm.ledger().height() >= target
        {
            self.catching_up[node] = None;
            self.metrics.catch_ups_s.push(done - since);
        }
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

    /// The manager at `node` crashes: its state in memory is gone, its mining job with
    /// it; its store stays.
    fn crash(&mut self, node: usize) {
        if let Node::Manager(sm) = std::mem::replace(&mut self.nodes[node], Node::Down(Vec::new()))
        {
            self.fault.carried = self.fault.carried + sm.fault_counters();
        }
        self.miners[node].generation += 1;
    }

    /// A crashed manager: what reaches it is lost, crossings wait for it; at its restart
    /// it is built again from its store, started, and handed the crossings that waited.
    fn handle_down(
        &mut self,
        node: usize,
        input: Input,
        now: f64,
        out: &mut Vec<Arrival<Input>>,
    ) -> Result<f64, SimError> {
        match input {
            // The RSUs hold crossing requests for their manager until it is back.
            held @ Input::Chain(Event::Crossing { .. }) => {
                if let Node::Down(inputs) = &mut self.nodes[node] {
                    inputs.push(held);
                }
                Ok(0.0)
            }
            Input::Restart => self.restart(node, now, out),
            _ => Ok(0.0),
        }
    }

    fn restart(
        &mut self,
        node: usize,
        now: f64,
        out: &mut Vec<Arrival<Input>>,
    ) -> Result<f64, SimError> {
        let Some(r) = &self.fault.restarts else {
            return Ok(0.0);
        };
        let id = self.ids[node];
        let setup = |e: vkm_runtime::RuntimeError| SimError::Setup(e.to_string());
        let target = self.managers().map(|sm| sm.ledger().height()).max();
        self.catching_up[node] = target.map(|height| (now, height));
        let started = Instant::now();
        let mut sm = r
            .world
            .manager_with(
                id,
                &Store::File(store_path(&r.stores, id)),
                crate::policy(&r.scenario, &r.calibration)?,
                r.scenario.initial_period()?,
                crate::node_config(&r.scenario),
                self.checks.get(node).map(|c| c.memo.clone() as _),
            )
            .map_err(setup)?;
        let actions = sm.start(timestamp(now));
        let cost = started.elapsed().as_secs_f64();
        let held = match std::mem::replace(&mut self.nodes[node], Node::Manager(Box::new(sm))) {
            Node::Down(held) => held,
            _ => Vec::new(),
        };
        let mut effects = ManagerStep {
            sim: self,
            node,
            now,
            done: now + cost,
            cost,
            mined_block: false,
            opens_round: false,
            out,
        };
        apply(actions, &mut effects);
        for input in held {
            out.push(Arrival {
                at: now + cost,
                node,
                input,
            });
        }
        Ok(cost)
    }

    /// The copies of a message from `node` to `peer` sent at `now`, each arriving after a
    /// link delay from `done` plus the fault's extra delay (none if lost).
    fn arrivals(&mut self, node: usize, peer: usize, now: f64, done: f64) -> ([f64; 2], usize) {
        let base = done + self.delay();
        let copies =
            self.fault
                .faults
                .copies(&mut self.fault.rng, self.ids[node], self.ids[peer], now);
        let mut at = [0.0; 2];
        for (slot, extra) in at.iter_mut().zip(copies.delays()) {
            *slot = base + extra;
        }
        (at, copies.delays().len())
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
                    vehicle: vehicle.materials.clone(),
                    destination,
                }
            }
            Input::Relay(event) => event,
            Input::Chain(_)
            | Input::Transfer(..)
            | Input::Mined { .. }
            | Input::Crash
            | Input::Restart
            | Input::Fleet(_) => return 0.0,
        };
        let Node::Relay(relay) = &mut self.nodes[node] else {
            return 0.0;
        };
        let started = Instant::now();
        let actions = relay.handle(event, timestamp(now));
        let cost = started.elapsed().as_secs_f64();
        let mut effects = RelayStep {
            sim: self,
            node,
            done: now + cost,
            out,
        };
        apply_relay(actions, &mut effects);
        cost
    }
}

/// The store of security manager `id` in `dir`.
fn store_path(dir: &std::path::Path, id: MemberId) -> PathBuf {
    dir.join(format!("sm-{}.redb", id.0))
}

impl Vehicles {
    /// Vehicle `name` in `district`, with a fresh pseudonym of that domain (once), and a
    /// CPU of its own.
    fn add(&mut self, name: u64, district: usize) -> Option<usize> {
        let index = self.fleet.enter(name, district, Timestamp(EPOCH_MS))?;
        self.free_at.resize(self.fleet.len(), 0.0);
        Some(index)
    }
}

impl Measured {
    /// What reaches the vehicles: each vehicle works on its own CPU (its `free_at`),
    /// its work measured; what it sends leaves when that work is done.
    fn handle_fleet(&mut self, input: FleetInput, now: f64, out: &mut Vec<Arrival<Input>>) {
        let Some(v) = self.vehicles.as_mut() else {
            return;
        };
        match input {
            FleetInput::Enrol(index) => {
                let Some(&destination) = v.fleet.place(index).and_then(|d| self.ids.get(d)) else {
                    return;
                };
                let event = VehicleEvent::Approach {
                    destination,
                    rsu: RsuId(0),
                };
                self.vehicle_step(index, event, now, now, out);
            }
            FleetInput::Cross(c) => {
                let Some(index) = v.add(c.vehicle, c.from) else {
                    return;
                };
                if v.fleet.place(index) != Some(c.from) {
                    v.fleet.moved(index, c.from); // it reappears where the traffic says
                }
                let (Some(&destination), Ok(rsu)) = (self.ids.get(c.to), u32::try_from(c.to))
                else {
                    return;
                };
                let event = VehicleEvent::Approach {
                    destination,
                    rsu: RsuId(rsu),
                };
                self.vehicle_step(index, event, now, c.at, out);
            }
            FleetInput::Timer(index) => {
                self.vehicle_step(index, VehicleEvent::Timer, now, now, out)
            }
            FleetInput::Rekey(district, rekey) => {
                let domain = rekey.domain;
                let mut heard = v.fleet.residents(district).to_vec();
                if v.radio_loss > 0.0 {
                    let (loss, rng) = (v.radio_loss, &mut v.radio_rng);
                    heard.retain(|_| !rng.random_bool(loss));
                }
                for index in heard {
                    let event = VehicleEvent::Rekey(rekey.clone());
                    self.vehicle_step(index, event, now, now, out);
                }
                // One member beacons under the new key; the others read it.
                if let Some(v) = self.vehicles.as_mut() {
                    v.fleet.probe(district, domain, timestamp(now));
                }
            }
        }
    }

    /// Vehicle `index` handles `event` arriving at `now` on its own CPU.
    fn vehicle_step(
        &mut self,
        index: usize,
        event: VehicleEvent,
        now: f64,
        crossed_s: f64,
        out: &mut Vec<Arrival<Input>>,
    ) {
        let Some(v) = self.vehicles.as_mut() else {
            return;
        };
        let Some(free_at) = v.free_at.get(index).copied() else {
            return;
        };
        let start = now.max(free_at);
        let (actions, cost) = v.fleet.handle(index, event, timestamp(start));
        let done = start + cost;
        v.free_at[index] = done;
        let mut effects = FleetStep {
            vehicles: v,
            ids: &self.ids,
            index,
            done,
            crossed_s,
            out,
        };
        apply_vehicle(actions, &mut effects);
    }
}

/// A vehicle's effects in the measured simulation.
struct FleetStep<'a> {
    vehicles: &'a mut Vehicles,
    ids: &'a [MemberId],
    index: usize,
    done: f64,
    crossed_s: f64,
    out: &'a mut Vec<Arrival<Input>>,
}

impl VehicleEffects for FleetStep<'_> {
    fn send_request(&mut self, rsu: RsuId, request: CrossingRequest) {
        let v = &mut *self.vehicles;
        let Some((here, crossing)) = v.fleet.request_sent(self.index, &request, self.ids) else {
            return;
        };
        if let Some(there) = crossing {
            // Remembered to match its admission to the crossing.
            v.sent.insert(request.id(), (self.crossed_s, here, there));
        }
        if v.radio_loss > 0.0 && v.radio_rng.random_bool(v.radio_loss) {
            return; // lost on the radio
        }
        self.out.push(Arrival {
            at: self.done + v.radio_s,
            node: here,
            input: Input::Chain(Event::Crossing { request, via: rsu }),
        });
    }

    fn send_change(&mut self, rsu: RsuId, sealed: Vec<u8>) {
        if let Some(here) = self.vehicles.fleet.place(self.index) {
            self.out.push(Arrival {
                at: self.done + self.vehicles.radio_s,
                node: here,
                input: Input::Chain(Event::PseudonymChange { sealed, via: rsu }),
            });
        }
    }

    fn broadcast_bsm(&mut self, _domain: MemberId, _bsm: SealedBsm) {}

    fn set_timer(&mut self, at: Timestamp) {
        self.out.push(Arrival {
            at: seconds(at),
            node: self.vehicles.node,
            input: Input::Fleet(FleetInput::Timer(self.index)),
        });
    }

    fn joined(&mut self, domain: MemberId, _epoch: u64) {
        self.vehicles
            .fleet
            .joined(self.index, domain, timestamp(self.done));
    }

    fn failed(&mut self, _error: VehicleError) {
        self.vehicles.fleet.stats.failures += 1;
    }
}

/// The first timers of a security manager, as arrivals.
struct FirstTimers<'a> {
    node: usize,
    id: MemberId,
    first: &'a mut Vec<Arrival<Input>>,
}

impl ManagerEffects for FirstTimers<'_> {
    fn broadcast(&mut self, _message: Message) {}
    /// Every manager starts at once, so its first request (for what lies above a fresh
    /// chain) reaches its peer at the start.
    fn send(&mut self, to: MemberId, message: Message) {
        // Security managers are numbered from 1, in node order.
        if let Some(node) = (to.0 as usize).checked_sub(1) {
            self.first.push(Arrival {
                at: 0.0,
                node,
                input: Input::Chain(Event::Received {
                    from: self.id,
                    message,
                }),
            });
        }
    }
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
        let mut arrivals: Vec<(f64, usize, bool)> = Vec::new();
        for peer in (0..sim.nodes.len()).filter(|&p| p != node) {
            let (at, copies) = sim.arrivals(node, peer, self.now, self.done);
            for (copy, at) in at[..copies].iter().enumerate() {
                arrivals.push((*at, peer, copy == 0));
            }
        }
        // Checks run ahead are queued in the order the peers will need them.
        arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
        let from = sim.ids[node];
        sim.metrics.messages += arrivals.len() as u64;
        sim.metrics.message_bytes += (arrivals.len() * msg.encoded_len()) as u64;
        for (at, peer, first_copy) in arrivals {
            let event = Event::Received {
                from,
                message: msg.clone(),
            };
            let input = match transfer
                .as_ref()
                .filter(|_| first_copy)
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
            let (at, copies) = sim.arrivals(self.node, peer, self.now, self.done);
            sim.metrics.messages += copies as u64;
            sim.metrics.message_bytes += (copies * message.encoded_len()) as u64;
            for at in &at[..copies] {
                self.out.push(Arrival {
                    at: *at,
                    node: peer,
                    input: Input::Chain(Event::Received {
                        from: sim.ids[self.node],
                        message: message.clone(),
                    }),
                });
            }
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
        self.sim.admitted(self.node, &admission, self.done);
    }

    fn rekeyed(&mut self, rekey: DomainRekey) {
        // The district's RSUs broadcast it to the vehicles there.
        let node = self.node;
        if let Some(v) = self.sim.vehicles.as_mut() {
            v.fleet.rekey_sent(&rekey);
            self.out.push(Arrival {
                at: self.done + v.radio_s,
                node: v.node,
                input: Input::Fleet(FleetInput::Rekey(node, Arc::new(rekey))),
            });
        }
    }

    fn refused(&mut self, refusal: Refusal) {
        self.sim.metrics.refused += 1;
        *self.sim.metrics.refusals.entry(refusal.kind()).or_default() += 1;
    }
}

/// What a traditional node's actions do in virtual time.
struct RelayStep<'a> {
    sim: &'a mut Measured,
    node: usize,
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
        self.sim.admitted(self.node, &admission, self.done);
    }

    fn refused(&mut self, _error: TransferError) {
        self.sim.metrics.refused += 1;
        *self
            .sim
            .metrics
            .refusals
            .entry(vkm_node::relay::REFUSAL_KIND)
            .or_default() += 1;
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
        if let Input::Fleet(input) = input {
            self.handle_fleet(input, now, out);
            return 0.0;
        }
        let Some(kind) = self.nodes.get(node) else {
            return 0.0;
        };
        match kind {
            Node::Manager(_) => match self.handle_manager(node, input, now, out) {
                Ok(cost) => cost,
                Err(e) => {
                    self.error = Some(e);
                    0.0
                }
            },
            Node::Relay(_) => self.handle_relay(node, input, now, out),
            Node::Down(_) => match self.handle_down(node, input, now, out) {
                Ok(cost) => cost,
                Err(e) => {
                    self.error = Some(e);
                    0.0
                }
            },
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
