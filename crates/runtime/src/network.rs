//! An in-process network: the security managers (and, for the traditional structure, the
//! central managers) on threads in one process, each security manager with its own ledger
//! file and mining worker, messages delayed by a CSMA back-off and a propagation delay
//! (Table III's tBO and tP), and the Beijing traffic of section IV.A, in real time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use vkm_block::{Block, BlockHash, MemberId, Timestamp, Txid};
use vkm_ledger::Ledger;
use vkm_node::relay::RelayEvent;
use vkm_node::sm::{
    Admission, Event, FaultCounters, Message, NodeConfig, NodeError, Refusal, SecurityManager,
    Timer,
};
use vkm_node::vehicle::{DomainRekey, VehicleError, VehicleEvent};
use vkm_period::{
    Calibration, CollectionPeriod, CrossingEvents, Grid, Load, PeriodPolicy, PolicySpec,
};
use vkm_rekey::SealedBsm;
use vkm_transfer::central::Pseudonym;
use vkm_transfer::crossing::{CrossingRequest, RsuId};
use vkm_transfer::traditional::RelayMessage;
use vkm_transfer::transfer::TransferError;

use crate::effects::{
    ManagerEffects, RelayEffects, VehicleEffects, apply, apply_relay, apply_vehicle,
};
use crate::faults::Faults;
use crate::fleet::{Fleet, FleetStats, Issuers};
use crate::miner::MiningWorker;
use crate::world::{Store, World, WorldConfig, seeds};
use crate::{RuntimeError, message_delay_s};

/// Which structure the network runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    /// Security managers mining a chain (Fig. 5).
    Blockchain,
    /// Central managers relaying (Figs. 3-4).
    Traditional,
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The domains: one security manager each.
    pub grid: Grid,
    /// Which structure.
    pub structure: Structure,
    /// Vehicles per hour on each flow.
    pub vehicles_per_hour: f64,
    /// The first collection period (the fixed policy's only one).
    pub period: CollectionPeriod,
    /// How each next period is chosen after the first (fixed, Algorithm 3 or adaptive),
    /// priced by `calibration`.
    pub policy: PolicySpec,
    /// The time elements the period policy prices periods with.
    pub calibration: Calibration,
    /// Chain difficulty, bits.
    pub difficulty_bits: u8,
    /// How long traffic runs.
    pub duration: Duration,
    /// Seed of keys, traffic and sealing.
    pub seed: u64,
    /// Folder for the security managers' ledger files.
    pub db_dir: PathBuf,
    /// Mean CSMA back-off per message (exponential), ms.
    pub backoff_ms: f64,
    /// Propagation delay per message, ms.
    pub propagation_ms: f64,
    /// Append one JSON line per committed block here.
    pub events: Option<PathBuf>,
    /// Lost, duplicated and late messages, partitions and crashes (none by default).
    pub faults: Faults,
    /// After the traffic, go on until every crossing is admitted or this long went by
    /// (default: two periods and a second without faults; with faults, 30 s after the last
    /// fault ends).
    pub drain: Option<Duration>,
    /// Vehicles (on-board units) in each domain at the start (blockchain structure); the
    /// traffic moves them.
    pub vehicles_per_domain: usize,
    /// Radio delay between a vehicle and an RSU, either way.
    pub radio_delay: Duration,
    /// Probability that a radio message between a vehicle and an RSU is lost (each
    /// request, each vehicle's copy of a rekey broadcast).
    pub radio_loss: f64,
}

/// The period policy of every security manager of `config`.
fn period_policy(config: &NetworkConfig) -> Result<Box<dyn PeriodPolicy + Send>, NetworkError> {
    let load = Load {
        vehicles_per_hour: config.vehicles_per_hour,
        flows: config.grid.flows(),
        structure: vkm_period::Structure::Blockchain,
    };
    config
        .policy
        .build(config.calibration.clone(), &load)
        .map_err(|e| NetworkError::Policy(e.to_string()))
}

/// Percentiles of the key-delivery delay, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DelaySummary {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// One node's counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeStats {
    /// The node.
    pub id: u32,
    /// Crossings it originated.
    pub crossings: u64,
    /// Vehicles admitted into its domain.
    pub admitted: u64,
    /// Blocks it mined that joined its chain when mined.
    pub blocks_mined: u64,
    /// Messages, blocks or admissions refused.
    pub refused: u64,
    /// The same, by kind ([`Refusal::kind`]; `relay_transfer` for a relay's).
    pub refusals: std::collections::BTreeMap<&'static str, u64>,
    /// Time spent handling events and mining, seconds (its event thread and its mining
    /// worker: up to two cores).
    pub busy_s: f64,
    /// Busy time within the run over the run's wall-clock time.
    pub cpu_share: f64,
    /// How long after the end of the run it was still working through inputs queued
    /// before the end, seconds: its backlog.
    pub backlog_s: f64,
    /// Whether it was running at the end (not crashed).
    pub up: bool,
    /// Height of its best chain at the end (security managers that are up).
    pub height: Option<u64>,
    /// Its tip at the end (security managers that are up).
    pub tip: Option<BlockHash>,
    /// Group rekeys of its domain.
    pub rekeys: u64,
    /// Keys wrapped by those rekeys.
    pub wrapped_keys: u64,
    /// The collection period in force at the end, seconds (security managers that are
    /// up): what its period policy chose last.
    pub period_s: Option<f64>,
}

/// What a run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkReport {
    /// Height of the chain (security manager 1's best chain).
    pub blocks: u64,
    /// Transactions on that chain.
    pub transactions: u64,
    /// Blocks mined that ended off the best chain.
    pub orphans: u64,
    /// Reorganisations, summed over security managers.
    pub reorgs: u64,
    /// Crossings generated.
    pub crossings: u64,
    /// Vehicles admitted.
    pub admitted: u64,
    /// Crossings whose vehicle was not admitted.
    pub not_admitted: u64,
    /// Distinct key transfers admitted at their destination.
    pub admitted_unique: u64,
    /// Admissions of a key transfer already admitted (the protocol promises none).
    pub admitted_duplicates: u64,
    /// What the security managers did against faults, crashed instances included.
    pub fault_counters: FaultCounters,
    /// The run was overloaded: a node was still working through inputs queued before the
    /// end for longer than a collection period (and at least a second) after it. The
    /// delays describe only the vehicles admitted.
    pub saturated: bool,
    /// Key delivery delay from crossing to admission.
    pub delay_ms: DelaySummary,
    /// Per node.
    pub nodes: Vec<NodeStats>,
    /// What the vehicles measured (blockchain structure).
    pub vehicles: FleetStats,
    /// Wall-clock duration of the run, seconds.
    pub seconds: f64,
}

/// A run could not be set up, or a node failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// A node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The world could not be set up.
    #[error(transparent)]
    Setup(#[from] RuntimeError),
    /// A ledger could not be read.
    #[error(transparent)]
    Ledger(#[from] vkm_ledger::LedgerError),
    /// The period policy is not usable.
    #[error("{0}")]
    Policy(String),
    /// A security manager's store could not be opened, read or written.
    #[error("store {}: {source}", path.display())]
    Store {
        /// The store's file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: Box<RuntimeError>,
    },
    /// The faults asked for cannot be injected.
    #[error(transparent)]
    Faults(#[from] crate::faults::FaultError),
    /// A file could not be created or written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    start_ms: u64,
}

impl Clock {
    fn now(&self) -> Timestamp {
        Timestamp(self.start_ms + self.start.elapsed().as_millis() as u64)
    }

    fn instant(&self, at: Timestamp) -> Instant {
        self.start + Duration::from_millis(at.0.saturating_sub(self.start_ms))
    }
}

enum Envelope {
    Chain(Event),
    Relay(RelayEvent),
    /// The security manager crashes: it loses what it holds in memory.
    Crash,
    /// The security manager restarts from its store.
    Restart,
    /// For the vehicles' thread.
    Fleet(FleetEnvelope),
    Stop,
}

/// What reaches the vehicles.
enum FleetEnvelope {
    /// A vehicle in district `from` crosses into `to`.
    Cross { from: usize, to: usize },
    /// The RSUs of a district broadcast its manager's rekey.
    Rekey(usize, Arc<DomainRekey>),
    /// A timer of vehicle (index) is due.
    Timer(usize),
}

type Scheduled = (Instant, usize, Envelope);

/// Delivers envelopes at their time.
fn scheduler(inbox: Receiver<Scheduled>, nodes: Vec<Sender<Envelope>>) {
    let mut heap: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut pending: HashMap<u64, (usize, Envelope)> = HashMap::new();
    let mut next = 0u64;
    loop {
        let now = Instant::now();
        while let Some(Reverse((at, id))) = heap.peek().copied() {
            if at > now {
                break;
            }
            heap.pop();
            if let Some((target, envelope)) = pending.remove(&id) {
                let _ = nodes[target].send(envelope);
            }
        }
        let wait = heap
            .peek()
            .map_or(Duration::from_millis(50), |Reverse((at, _))| {
                at.saturating_duration_since(now)
            });
        match inbox.recv_timeout(wait) {
            Ok((at, target, envelope)) => {
                next += 1;
                pending.insert(next, (target, envelope));
                heap.push(Reverse((at, next)));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Shared counters of a run.
#[derive(Default)]
struct Shared {
    delays: Mutex<Vec<f64>>,
    events: Mutex<Option<std::fs::File>>,
    /// Key transfers admitted, to tell a second admission.
    admitted: Mutex<std::collections::HashSet<Txid>>,
    /// Each security manager's tip as last committed (`None` while it is down).
    tips: Mutex<Vec<Option<BlockHash>>>,
    duplicates: AtomicU64,
}

struct NodeCounters {
    crossings: AtomicU64,
    admitted: AtomicU64,
    mined: AtomicU64,
    refused: AtomicU64,
    refusals: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    busy_ns: AtomicU64,
    rekeys: AtomicU64,
    wrapped_keys: AtomicU64,
    /// When the node took its stop message, ns since the start (it first works through
    /// everything queued before it).
    stopped_ns: AtomicU64,
}

impl NodeCounters {
    /// Counts a refusal of `kind`.
    fn refused(&self, kind: &'static str) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        *lock(&self.refusals).entry(kind).or_default() += 1;
    }

    /// Records that the node took its stop message now.
    fn stopped(&self, start: Instant) {
        self.stopped_ns
            .store(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    fn new() -> Arc<Self> {
        Arc::new(Self {
            crossings: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
            mined: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            refusals: Mutex::default(),
            busy_ns: AtomicU64::new(0),
            rekeys: AtomicU64::new(0),
            wrapped_keys: AtomicU64::new(0),
            stopped_ns: AtomicU64::new(0),
        })
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn message_delay(rng: &mut StdRng, config: &NetworkConfig) -> Duration {
    Duration::from_secs_f64(message_delay_s(
        rng,
        config.backoff_ms,
        config.propagation_ms,
    ))
}

/// What a security manager's thread does with its actions: messages and timers through
/// the scheduler, candidates to its mining worker, counts into the run's counters.
struct ManagerThread<'a> {
    index: usize,
    id: MemberId,
    peers: usize,
    clock: Clock,
    config: &'a NetworkConfig,
    rng: &'a mut StdRng,
    schedule: &'a Sender<Scheduled>,
    miner: &'a MiningWorker,
    counters: &'a NodeCounters,
    shared: &'a Shared,
    index_of: &'a HashMap<MemberId, usize>,
    /// Every node's id, by index.
    ids: &'a [MemberId],
    /// Which messages are lost, duplicated or late.
    fault_rng: StdRng,
    /// Whether the event handled was this manager's own solved block.
    own_block: bool,
    /// The scheduler's index of the vehicles' thread.
    fleet: usize,
}

impl ManagerThread<'_> {
    /// Schedules `message` to reach the node at `peer` after a link delay, as the run's
    /// faults let it (lost, once, or twice, each copy perhaps late).
    fn deliver(&mut self, peer: usize, message: Message) {
        let at = Instant::now() + message_delay(self.rng, self.config);
        let elapsed = self.clock.start.elapsed().as_secs_f64();
        let copies =
            self.config
                .faults
                .copies(&mut self.fault_rng, self.id, self.ids[peer], elapsed);
        for extra in copies.delays() {
            let envelope = Envelope::Chain(Event::Received {
                from: self.id,
                message: message.clone(),
            });
            let at = at + Duration::from_secs_f64(*extra);
            let _ = self.schedule.send((at, peer, envelope));
        }
    }
}

impl ManagerEffects for ManagerThread<'_> {
    fn broadcast(&mut self, message: Message) {
        let me = self.index;
        for peer in (0..self.peers).filter(|&p| p != me) {
            self.deliver(peer, message.clone());
        }
    }

    fn send(&mut self, to: MemberId, message: Message) {
        if let Some(&peer) = self.index_of.get(&to) {
            self.deliver(peer, message);
        }
    }

    fn start_mining(&mut self, candidate: Block) {
        self.miner.start(candidate);
    }

    fn abort_mining(&mut self) {
        self.miner.abort();
    }

    fn set_timer(&mut self, at: Timestamp, timer: Timer) {
        let envelope = Envelope::Chain(Event::Timer(timer));
        let _ = self
            .schedule
            .send((self.clock.instant(at), self.index, envelope));
    }

    fn admitted(&mut self, admission: Admission) {
        record_admission(self.counters, self.shared, &admission);
    }

    fn rekeyed(&mut self, rekey: DomainRekey) {
        self.counters.rekeys.fetch_add(1, Ordering::Relaxed);
        self.counters
            .wrapped_keys
            .fetch_add(rekey.message.keys.len() as u64, Ordering::Relaxed);
        // The domain's RSUs broadcast it to the vehicles there.
        let envelope = Envelope::Fleet(FleetEnvelope::Rekey(self.index, Arc::new(rekey)));
        let at = Instant::now() + self.config.radio_delay;
        let _ = self.schedule.send((at, self.fleet, envelope));
    }

    fn committed(&mut self, height: u64, hash: BlockHash) {
        if std::mem::take(&mut self.own_block) {
            self.counters.mined.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(tip) = lock(&self.shared.tips).get_mut(self.index) {
            *tip = Some(hash);
        }
        if let Some(file) = lock(&self.shared.events).as_mut() {
            let _ = writeln!(
                file,
                "{{\"sm\":{},\"height\":{height},\"hash\":\"{hash}\"}}",
                self.id.0
            );
        }
    }

    fn refused(&mut self, refusal: Refusal) {
        self.counters.refused(refusal.kind());
    }
}

/// What a relay's thread does with its actions.
struct RelayThread<'a> {
    config: &'a NetworkConfig,
    rng: &'a mut StdRng,
    index_of: &'a HashMap<MemberId, usize>,
    schedule: &'a Sender<Scheduled>,
    counters: &'a NodeCounters,
    shared: &'a Shared,
}

impl RelayEffects for RelayThread<'_> {
    fn send(&mut self, message: RelayMessage) {
        if let Some(&target) = self.index_of.get(&message.receiver) {
            let at = Instant::now() + message_delay(self.rng, self.config);
            let envelope = Envelope::Relay(RelayEvent::Received(message));
            let _ = self.schedule.send((at, target, envelope));
        }
    }

    fn admitted(&mut self, admission: Admission) {
        record_admission(self.counters, self.shared, &admission);
    }

    fn refused(&mut self, _error: TransferError) {
        self.counters.refused(vkm_node::relay::REFUSAL_KIND);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn record_admission(counters: &NodeCounters, shared: &Shared, admission: &Admission) {
    if let Some(txid) = admission.txid
        && !lock(&shared.admitted).insert(txid)
    {
        shared.duplicates.fetch_add(1, Ordering::Relaxed);
        return;
    }
    counters.admitted.fetch_add(1, Ordering::Relaxed);
    let delay = admission
        .admitted_at
        .0
        .saturating_sub(admission.crossed_at.0) as f64;
    lock(&shared.delays).push(delay);
}

/// Runs the network for `config.duration` of traffic, then lets in-flight transfers drain
/// for two periods. `progress` is called about ten times a second with the fraction done.
pub fn run(
    config: &NetworkConfig,
    progress: &mut dyn FnMut(f64),
) -> Result<NetworkReport, NetworkError> {
    let domains = (config.grid.rows * config.grid.cols) as usize;
    let clock = Clock {
        start: Instant::now(),
        start_ms: Timestamp::now().0,
    };
    let mut world = World::new(WorldConfig::new(
        domains,
        config.difficulty_bits,
        Timestamp(clock.start_ms),
        config.seed,
    ));
    std::fs::create_dir_all(&config.db_dir).map_err(|source| NetworkError::Io {
        path: config.db_dir.clone(),
        source,
    })?;
    let shared = Arc::new(Shared::default());
    if let Some(path) = &config.events {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| NetworkError::Io {
                path: path.clone(),
                source,
            })?;
        *lock(&shared.events) = Some(file);
    }

    // The traditional structure's RSUs report crossings of pseudonyms issued in advance
    // by each domain's central manager, taking turns; in the blockchain structure the
    // vehicles are on-board units that the traffic moves.
    let validity_ms = 24 * 3_600_000;
    let (vehicles, fleet): (Vec<Vec<Pseudonym>>, Option<Fleet>) = match config.structure {
        Structure::Traditional => (
            (0..domains)
                .map(|d| world.vehicles(d, 32, Timestamp(clock.start_ms), validity_ms))
                .collect(),
            None,
        ),
        Structure::Blockchain => {
            let issuers = Issuers::of(&world, validity_ms)?;
            let mut fleet = Fleet::new(domains, seeds::flows(config.seed) ^ 0xf1ee7, issuers);
            for d in 0..domains {
                for k in 0..config.vehicles_per_domain {
                    let name = (d * config.vehicles_per_domain + k) as u64 + 1;
                    fleet.enter(name, d, Timestamp(clock.start_ms));
                }
            }
            (Vec::new(), Some(fleet))
        }
    };

    // Nodes: security managers 0..domains, then (traditional) central managers.
    let mut node_ids = world.security_managers();
    if config.structure == Structure::Traditional {
        node_ids.extend(world.central_managers());
    }
    config
        .faults
        .validate(&world.security_managers())
        .map_err(NetworkError::Faults)?;
    let world = Arc::new(world);
    *lock(&shared.tips) = world
        .security_managers()
        .iter()
        .map(|_| Some(world.genesis().block_hash()))
        .collect();
    let index_of: HashMap<MemberId, usize> = node_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    // One channel per node, and one for the vehicles' thread after them.
    let (mut senders, receivers): (Vec<Sender<Envelope>>, Vec<Receiver<Envelope>>) =
        node_ids.iter().map(|_| channel()).unzip();
    let fleet_index = node_ids.len();
    let (fleet_tx, fleet_rx) = channel();
    senders.push(fleet_tx);
    let (schedule, schedule_rx) = channel::<Scheduled>();
    let scheduler_senders = senders.clone();
    let scheduler_thread = std::thread::spawn(move || scheduler(schedule_rx, scheduler_senders));
    let counters: Vec<Arc<NodeCounters>> = node_ids.iter().map(|_| NodeCounters::new()).collect();

    let fleet_thread = fleet.map(|setup| {
        let schedule = schedule.clone();
        let ids = node_ids.clone();
        let radio = Radio {
            delay: config.radio_delay,
            loss: config.radio_loss,
        };
        let seed = config.seed;
        std::thread::spawn(move || run_fleet(setup, fleet_rx, schedule, clock, &ids, radio, seed))
    });
    let mut chain_threads = Vec::new();
    let mut relay_threads = Vec::new();
    for (index, receiver) in receivers.into_iter().enumerate() {
        let id = node_ids[index];
        let schedule = schedule.clone();
        let shared = shared.clone();
        let counters = counters[index].clone();
        let peers = node_ids.len();
        let config = config.clone();
        let mut rng = StdRng::seed_from_u64(seeds::delays(config.seed, id.0));
        match config.structure {
            Structure::Blockchain => {
                let node_config = NodeConfig {
                    seed: config.seed,
                    ..NodeConfig::default()
                };
                let path = config.db_dir.join(format!("sm-{}.redb", id.0));
                let mut sm = world
                    .manager(
                        id,
                        &Store::File(path.clone()),
                        period_policy(&config)?,
                        config.period,
                        node_config,
                    )
                    .map_err(|e| NetworkError::Store {
                        path: path.clone(),
                        source: Box::new(e),
                    })?;
                // The mining worker: one thread, abortable; it ends with the manager's
                // thread, which owns it.
                let to_sm = senders[index].clone();
                let worker_counters = counters.clone();
                let miner =
                    MiningWorker::spawn(seeds::miner(config.seed, id), move |block, spent| {
                        worker_counters
                            .busy_ns
                            .fetch_add(spent.as_nanos() as u64, Ordering::Relaxed);
                        if let Some(block) = block {
                            let _ = to_sm.send(Envelope::Chain(Event::Mined(block)));
                        }
                    });
                let index_of = index_of.clone();
                let ids = node_ids.clone();
                let world = world.clone();
                let restart_path = path.clone();
                chain_threads.push(std::thread::spawn(
                    move || -> Result<(Option<SecurityManager>, FaultCounters), NetworkError> {
                        let mut effects = ManagerThread {
                            index,
                            id,
                            peers,
                            clock,
                            config: &config,
                            rng: &mut rng,
                            schedule: &schedule,
                            miner: &miner,
                            counters: &counters,
                            shared: &shared,
                            index_of: &index_of,
                            ids: &ids,
                            fault_rng: StdRng::seed_from_u64(
                                seeds::faults(config.seed) ^ u64::from(id.0),
                            ),
                            own_block: false,
                            fleet: fleet_index,
                        };
                        let store_error = |source: RuntimeError| NetworkError::Store {
                            path: restart_path.clone(),
                            source: Box::new(source),
                        };
                        apply(sm.start(clock.now()), &mut effects);
                        let mut sm = Some(sm);
                        // Counters of instances that crashed, and the crossings that wait
                        // at the RSUs while the manager is down.
                        let mut carried = FaultCounters::default();
                        let mut held = Vec::new();
                        loop {
                            let event = match receiver.recv() {
                                Ok(Envelope::Chain(event)) => event,
                                Ok(Envelope::Stop) | Err(_) => {
                                    counters.stopped(clock.start);
                                    break;
                                }
                                Ok(Envelope::Crash) => {
                                    // Everything in memory is gone; the store is closed.
                                    if let Some(crashed) = sm.take() {
                                        carried = carried + crashed.fault_counters();
                                    }
                                    lock(&shared.tips)[index] = None;
                                    miner.abort();
                                    continue;
                                }
                                Ok(Envelope::Restart) => {
                                    let started = Instant::now();
                                    let mut restarted = world
                                        .manager(
                                            id,
                                            &Store::File(restart_path.clone()),
                                            period_policy(&config)?,
                                            config.period,
                                            node_config,
                                        )
                                        .map_err(store_error)?;
                                    let mut actions = restarted.start(clock.now());
                                    for event in held.drain(..) {
                                        actions.extend(
                                            restarted
                                                .handle(event, clock.now())
                                                .map_err(|e| store_error(e.into()))?,
                                        );
                                    }
                                    counters.busy_ns.fetch_add(
                                        started.elapsed().as_nanos() as u64,
                                        Ordering::Relaxed,
                                    );
                                    lock(&shared.tips)[index] = Some(restarted.ledger().tip());
                                    apply(actions, &mut effects);
                                    sm = Some(restarted);
                                    continue;
                                }
                                Ok(Envelope::Relay(_) | Envelope::Fleet(_)) => continue,
                            };
                            // A request to leave this domain (not to join it).
                            let crossing = matches!(&event,
                                Event::Crossing { request, .. } if request.destination != id);
                            if crossing {
                                counters.crossings.fetch_add(1, Ordering::Relaxed);
                            }
                            let Some(running) = sm.as_mut() else {
                                // Down: crossing requests wait at the RSUs, the rest is lost.
                                if matches!(event, Event::Crossing { .. }) {
                                    held.push(event);
                                }
                                continue;
                            };
                            effects.own_block = matches!(event, Event::Mined(_));
                            let started = Instant::now();
                            let actions = running
                                .handle(event, clock.now())
                                .map_err(|e| store_error(e.into()))?;
                            counters
                                .busy_ns
                                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                            apply(actions, &mut effects);
                        }
                        let total = sm
                            .as_ref()
                            .map_or(carried, |sm| carried + sm.fault_counters());
                        Ok((sm, total))
                    },
                ));
            }
            Structure::Traditional => {
                let mut node = world.relay(id)?;
                let index_of = index_of.clone();
                relay_threads.push(std::thread::spawn(move || {
                    let mut effects = RelayThread {
                        config: &config,
                        rng: &mut rng,
                        index_of: &index_of,
                        schedule: &schedule,
                        counters: &counters,
                        shared: &shared,
                    };
                    while let Ok(envelope) = receiver.recv() {
                        let event = match envelope {
                            Envelope::Relay(event) => event,
                            Envelope::Stop => {
                                counters.stopped(clock.start);
                                break;
                            }
                            // Crashes are injected into security managers only.
                            Envelope::Chain(_)
                            | Envelope::Crash
                            | Envelope::Restart
                            | Envelope::Fleet(_) => continue,
                        };
                        if matches!(event, RelayEvent::Crossing { .. }) {
                            counters.crossings.fetch_add(1, Ordering::Relaxed);
                        }
                        let started = Instant::now();
                        let actions = node.handle(event, clock.now());
                        counters
                            .busy_ns
                            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        apply_relay(actions, &mut effects);
                    }
                }));
            }
        }
    }
    // Crashes and restarts, through the scheduler like every timed delivery.
    if config.structure == Structure::Blockchain {
        for (sm, down, up) in config.faults.crash_windows() {
            if let Some(&node) = index_of.get(&sm) {
                for (at, envelope) in [(down, Envelope::Crash), (up, Envelope::Restart)] {
                    let at = clock.start + Duration::from_secs_f64(at);
                    let _ = schedule.send((at, node, envelope));
                }
            }
        }
    }
    drop(schedule);

    // Traffic: crossings on every flow of the grid, exponential gaps, in real time.
    let flows: Vec<(usize, usize)> = grid_flows(&config.grid);
    let rate = config.vehicles_per_hour * flows.len() as f64 / 3600.0;
    let mut traffic_rng = StdRng::seed_from_u64(seeds::flows(config.seed));
    let mut events =
        CrossingEvents::new(StdRng::seed_from_u64(seeds::crossings(config.seed)), rate);
    let mut crossings = 0u64;
    let mut last_progress = Instant::now();
    let traffic_end = config.duration.as_secs_f64();
    let mut next_vehicle = vec![0usize; domains];
    for t in events.by_ref() {
        if t > traffic_end {
            break;
        }
        let due = clock.start + Duration::from_secs_f64(t);
        let wait = due.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        let (from, to) = flows[traffic_rng.random_range(0..flows.len())];
        match config.structure {
            // A vehicle in `from` signs its request for the RSU there.
            Structure::Blockchain => {
                let _ =
                    senders[fleet_index].send(Envelope::Fleet(FleetEnvelope::Cross { from, to }));
            }
            Structure::Traditional => {
                let pseudonym = &vehicles[from][next_vehicle[from] % vehicles[from].len()];
                next_vehicle[from] += 1;
                let _ = senders[from].send(Envelope::Relay(RelayEvent::Crossing {
                    vehicle: pseudonym.materials.clone(),
                    destination: node_ids[to],
                }));
            }
        }
        crossings += 1;
        if last_progress.elapsed() > Duration::from_millis(100) {
            progress((t / traffic_end).min(1.0));
            last_progress = Instant::now();
        }
    }
    if traffic_end > 0.0 && rate == 0.0 {
        std::thread::sleep(config.duration);
    }
    progress(1.0);
    // Let transfers in flight arrive: two periods and a second; with faults (or a drain
    // asked for), until every crossing is admitted or the drain is over.
    let settle = Duration::from_secs_f64(2.0 * config.policy.longest_s() + 1.0);
    if config.faults.is_none() && config.drain.is_none() {
        std::thread::sleep(settle);
    } else {
        let after_faults = (config.faults.last_end_s() - traffic_end).max(0.0) + 30.0;
        let drain = config
            .drain
            .unwrap_or_else(|| settle + Duration::from_secs_f64(after_faults));
        let deadline = Instant::now() + drain;
        let settled = || {
            let tips = lock(&shared.tips);
            let mut up = tips.iter().flatten();
            let first = up.next();
            lock(&shared.admitted).len() as u64 >= crossings && up.all(|t| Some(t) == first)
        };
        while Instant::now() < deadline && !settled() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let seconds = clock.start.elapsed().as_secs_f64();
    // Busy time within the run; what a node does after it is work it had queued.
    let busy_in_run: Vec<u64> = counters
        .iter()
        .map(|c| c.busy_ns.load(Ordering::Relaxed))
        .collect();
    for sender in &senders {
        let _ = sender.send(Envelope::Stop);
    }

    let mut sms = Vec::new();
    let mut fault_counters = FaultCounters::default();
    for handle in chain_threads {
        match handle.join() {
            Ok(result) => {
                let (sm, counters) = result?;
                fault_counters = fault_counters + counters;
                sms.push(sm);
            }
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    let vehicles = match fleet_thread.map(std::thread::JoinHandle::join) {
        Some(Ok(stats)) => stats,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        None => FleetStats::default(),
    };
    for handle in relay_threads {
        if let Err(panic) = handle.join() {
            std::panic::resume_unwind(panic);
        }
    }
    drop(senders);
    let _ = scheduler_thread.join();

    let duplicates = shared.duplicates.load(Ordering::Relaxed);
    let mut delays = Arc::try_unwrap(shared)
        .map(|s| s.delays.into_inner().unwrap_or_else(|e| e.into_inner()))
        .unwrap_or_default();
    delays.sort_by(f64::total_cmp);
    let nodes: Vec<NodeStats> = node_ids
        .iter()
        .zip(&counters)
        .zip(&busy_in_run)
        .enumerate()
        .map(|(index, ((id, c), busy_in_run))| {
            let busy_s = c.busy_ns.load(Ordering::Relaxed) as f64 / 1e9;
            let stopped_s = c.stopped_ns.load(Ordering::Relaxed) as f64 / 1e9;
            let sm = sms.get(index);
            let ledger = sm.and_then(Option::as_ref).map(SecurityManager::ledger);
            NodeStats {
                period_s: sm.and_then(Option::as_ref).map(|sm| sm.period().seconds()),
                up: sm.is_none_or(Option::is_some),
                height: ledger.map(Ledger::height),
                tip: ledger.map(Ledger::tip),
                id: id.0,
                crossings: c.crossings.load(Ordering::Relaxed),
                admitted: c.admitted.load(Ordering::Relaxed),
                blocks_mined: c.mined.load(Ordering::Relaxed),
                refused: c.refused.load(Ordering::Relaxed),
                refusals: lock(&c.refusals).clone(),
                busy_s,
                cpu_share: *busy_in_run as f64 / 1e9 / seconds,
                backlog_s: (stopped_s - seconds).max(0.0),
                rekeys: c.rekeys.load(Ordering::Relaxed),
                wrapped_keys: c.wrapped_keys.load(Ordering::Relaxed),
            }
        })
        .collect();
    let (blocks, transactions) = match sms.iter().flatten().next() {
        Some(sm) => {
            let ledger = sm.ledger();
            let mut transactions = 0u64;
            for height in 1..=ledger.height() {
                transactions += ledger
                    .block_at(height)?
                    .map_or(0, |b| b.transactions.len() as u64);
            }
            (ledger.height(), transactions)
        }
        None => (0, 0),
    };
    let mined: u64 = nodes.iter().map(|n| n.blocks_mined).sum();
    let admitted = delays.len() as u64;
    Ok(NetworkReport {
        blocks,
        transactions,
        orphans: mined.saturating_sub(blocks),
        reorgs: sms.iter().flatten().map(|sm| sm.ledger().reorgs()).sum(),
        crossings,
        admitted,
        not_admitted: crossings.saturating_sub(admitted),
        admitted_unique: admitted,
        admitted_duplicates: duplicates,
        fault_counters,
        saturated: nodes
            .iter()
            .any(|n| n.backlog_s > config.policy.longest_s().max(1.0)),
        delay_ms: DelaySummary {
            p50: percentile(&delays, 0.5),
            p95: percentile(&delays, 0.95),
            max: delays.last().copied().unwrap_or(0.0),
            mean: if delays.is_empty() {
                0.0
            } else {
                delays.iter().sum::<f64>() / delays.len() as f64
            },
        },
        nodes,
        vehicles,
        seconds,
    })
}

/// The vehicles' thread: every vehicle enrols in its domain, then crossings and rekey
/// broadcasts are handed to the vehicles they concern, in real time.
fn run_fleet(
    mut fleet: Fleet,
    inbox: Receiver<Envelope>,
    schedule: Sender<Scheduled>,
    clock: Clock,
    ids: &[MemberId],
    radio: Radio,
    seed: u64,
) -> FleetStats {
    let mut rng = StdRng::seed_from_u64(seeds::flows(seed) ^ 0x0b0e);
    let mut radio_rng = StdRng::seed_from_u64(seeds::faults(seed) ^ 0x4ad10);
    let mut next_name = fleet.len() as u64 + 1_000_000_000;
    let mut step = |fleet: &mut Fleet, index: usize, event: VehicleEvent| {
        let (actions, _) = fleet.handle(index, event, clock.now());
        let mut effects = VehicleThread {
            fleet,
            fleet_index: ids.len(),
            index,
            ids,
            schedule: &schedule,
            clock,
            radio,
            radio_rng: &mut radio_rng,
        };
        apply_vehicle(actions, &mut effects);
    };
    for index in 0..fleet.len() {
        if let Some(&destination) = fleet.place(index).and_then(|d| ids.get(d)) {
            let rsu = RsuId(0);
            step(
                &mut fleet,
                index,
                VehicleEvent::Approach { destination, rsu },
            );
        }
    }
    while let Ok(envelope) = inbox.recv() {
        match envelope {
            Envelope::Fleet(FleetEnvelope::Cross { from, to }) => {
                let picked = fleet.pick(from, &mut rng);
                // Nobody left in the district: a vehicle comes in.
                let Some(index) = picked.or_else(|| {
                    next_name += 1;
                    fleet.enter(next_name, from, clock.now())
                }) else {
                    continue;
                };
                let (Some(&destination), Ok(rsu)) = (ids.get(to), u32::try_from(to)) else {
                    continue;
                };
                let rsu = RsuId(rsu);
                step(
                    &mut fleet,
                    index,
                    VehicleEvent::Approach { destination, rsu },
                );
            }
            Envelope::Fleet(FleetEnvelope::Timer(index)) => {
                step(&mut fleet, index, VehicleEvent::Timer);
            }
            Envelope::Fleet(FleetEnvelope::Rekey(district, rekey)) => {
                fleet.rekey_sent(&rekey);
                for index in fleet.residents(district).to_vec() {
                    if radio.loss > 0.0 && rng.random_bool(radio.loss) {
                        continue; // this vehicle's copy is lost on the radio
                    }
                    step(&mut fleet, index, VehicleEvent::Rekey(rekey.clone()));
                }
                fleet.probe(district, rekey.domain, clock.now());
            }
            Envelope::Stop => break,
            Envelope::Chain(_) | Envelope::Relay(_) | Envelope::Crash | Envelope::Restart => {}
        }
    }
    fleet.finish()
}

/// A vehicle's effects on the in-process network.
struct VehicleThread<'a> {
    fleet: &'a mut Fleet,
    /// The scheduler's index of the vehicles' thread.
    fleet_index: usize,
    index: usize,
    ids: &'a [MemberId],
    schedule: &'a Sender<Scheduled>,
    clock: Clock,
    radio: Radio,
    radio_rng: &'a mut StdRng,
}

/// The radio between vehicles and RSUs.
#[derive(Clone, Copy)]
struct Radio {
    delay: Duration,
    loss: f64,
}

impl VehicleEffects for VehicleThread<'_> {
    fn send_request(&mut self, rsu: RsuId, request: CrossingRequest) {
        let Some((here, _)) = self.fleet.request_sent(self.index, &request, self.ids) else {
            return;
        };
        if self.radio.loss > 0.0 && self.radio_rng.random_bool(self.radio.loss) {
            return; // lost on the radio
        }
        let envelope = Envelope::Chain(Event::Crossing { request, via: rsu });
        let _ = self
            .schedule
            .send((Instant::now() + self.radio.delay, here, envelope));
    }

    fn send_change(&mut self, rsu: RsuId, sealed: Vec<u8>) {
        if let Some(here) = self.fleet.place(self.index) {
            let envelope = Envelope::Chain(Event::PseudonymChange { sealed, via: rsu });
            let _ = self
                .schedule
                .send((Instant::now() + self.radio.delay, here, envelope));
        }
    }

    fn broadcast_bsm(&mut self, _domain: MemberId, _bsm: SealedBsm) {}

    fn set_timer(&mut self, at: Timestamp) {
        let envelope = Envelope::Fleet(FleetEnvelope::Timer(self.index));
        let _ = self
            .schedule
            .send((self.clock.instant(at), self.fleet_index, envelope));
    }

    fn joined(&mut self, domain: MemberId, _epoch: u64) {
        self.fleet.joined(self.index, domain, self.clock.now());
    }

    fn failed(&mut self, _error: VehicleError) {
        self.fleet.stats.failures += 1;
    }
}

/// The one-way flows of a grid: for every shared edge between neighbouring domains and
/// each of its highways, one flow each way.
pub fn grid_flows(grid: &Grid) -> Vec<(usize, usize)> {
    let (rows, cols) = (grid.rows as usize, grid.cols as usize);
    let mut flows = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            let here = r * cols + c;
            let mut neighbours = Vec::new();
            if c + 1 < cols {
                neighbours.push(here + 1);
            }
            if r + 1 < rows {
                neighbours.push(here + cols);
            }
            for there in neighbours {
                for _ in 0..grid.highways_per_edge {
                    flows.push((here, there));
                    flows.push((there, here));
                }
            }
        }
    }
    flows
}
