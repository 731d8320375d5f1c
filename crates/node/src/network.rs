//! An in-process network: the security managers (and, for the traditional structure, the
//! central managers) on threads in one process, each security manager with its own ledger
//! file and mining worker, messages delayed by a CSMA back-off and a propagation delay
//! (Table III's tBO and tP), and the Beijing traffic of section IV.A, in real time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use vkm_block::{MemberId, Timestamp};
use vkm_ledger::Ledger;
use vkm_period::{CollectionPeriod, CrossingEvents, FixedPolicy, Grid};
use vkm_pow::{Miner, MiningOutcome};
use vkm_transfer::certificate::IdentityMaterials;
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::rules::KeyTransferRules;
use vkm_transfer::scenario::Scenario;

use crate::relay::{RelayAction, RelayEvent, RelayNode};
use crate::sm::{Action, Event, NodeConfig, NodeError, SecurityManager};

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
    /// Collection period.
    pub period: CollectionPeriod,
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
#[derive(Debug, Clone, Copy, Default, PartialEq)]
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
    /// Time spent handling events and mining, seconds.
    pub busy_s: f64,
    /// Busy time over the run's wall-clock time.
    pub cpu_share: f64,
    /// Group rekeys of its domain.
    pub rekeys: u64,
    /// Keys wrapped by those rekeys.
    pub wrapped_keys: u64,
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
    /// Key delivery delay from crossing to admission.
    pub delay_ms: DelaySummary,
    /// Per node.
    pub nodes: Vec<NodeStats>,
    /// Wall-clock duration of the run, seconds.
    pub seconds: f64,
}

/// A run could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// A node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A ledger could not be opened.
    #[error(transparent)]
    Ledger(#[from] vkm_ledger::LedgerError),
    /// Files could not be written.
    #[error("{0}")]
    Io(String),
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
    Stop,
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
}

struct NodeCounters {
    crossings: AtomicU64,
    admitted: AtomicU64,
    mined: AtomicU64,
    refused: AtomicU64,
    busy_ns: AtomicU64,
    rekeys: AtomicU64,
    wrapped_keys: AtomicU64,
}

impl NodeCounters {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            crossings: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
            mined: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            rekeys: AtomicU64::new(0),
            wrapped_keys: AtomicU64::new(0),
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

/// Network delay of one message, seconds: an exponentially distributed CSMA back-off of
/// mean `backoff_ms` plus `propagation_ms` (Table III's tBO and tP). The in-process network
/// and the simulator draw delays with it.
pub fn message_delay_s<R: rand::Rng + ?Sized>(
    rng: &mut R,
    backoff_ms: f64,
    propagation_ms: f64,
) -> f64 {
    let p: f64 = rng.random();
    let backoff = -(1.0 - p).ln() * backoff_ms;
    (backoff + propagation_ms).max(0.0) / 1000.0
}

fn message_delay(rng: &mut StdRng, config: &NetworkConfig) -> Duration {
    Duration::from_secs_f64(message_delay_s(
        rng,
        config.backoff_ms,
        config.propagation_ms,
    ))
}

/// Runs the network for `config.duration` of traffic, then lets in-flight transfers drain
/// for two periods. `progress` is called about ten times a second with the fraction done.
pub fn run(
    config: &NetworkConfig,
    progress: &mut dyn FnMut(f64),
) -> Result<NetworkReport, NetworkError> {
    let domains = (config.grid.rows * config.grid.cols) as usize;
    let mut key_rng = StdRng::seed_from_u64(config.seed);
    let world = Scenario::new(domains, 1, EncryptionScheme::Ieee1609P256, &mut key_rng);
    let clock = Clock {
        start: Instant::now(),
        start_ms: Timestamp::now().0,
    };
    let genesis = world.genesis_block(
        config.difficulty_bits,
        Timestamp(clock.start_ms.saturating_sub(1000)),
    );
    std::fs::create_dir_all(&config.db_dir)
        .map_err(|e| NetworkError::Io(format!("cannot create {}: {e}", config.db_dir.display())))?;
    let shared = Arc::new(Shared::default());
    if let Some(path) = &config.events {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| NetworkError::Io(format!("cannot open {}: {e}", path.display())))?;
        *shared.events.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    }

    // Vehicles issued in advance by each domain's central manager.
    let vehicles: Vec<Vec<IdentityMaterials>> = (0..domains)
        .map(|d| {
            (0..32)
                .filter_map(|_| {
                    world.vehicle(d, Timestamp(clock.start_ms), 24 * 3_600_000, &mut key_rng)
                })
                .collect()
        })
        .collect();

    // Nodes: security managers 0..domains, then (traditional) central managers.
    let node_ids: Vec<MemberId> = match config.structure {
        Structure::Blockchain => world
            .domains
            .iter()
            .map(|d| d.security_managers[0].id)
            .collect(),
        Structure::Traditional => world
            .domains
            .iter()
            .map(|d| d.security_managers[0].id)
            .chain(world.domains.iter().map(|d| d.central_manager.id))
            .collect(),
    };
    let index_of: HashMap<MemberId, usize> = node_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    let (senders, receivers): (Vec<Sender<Envelope>>, Vec<Receiver<Envelope>>) =
        node_ids.iter().map(|_| channel()).unzip();
    let (schedule, schedule_rx) = channel::<Scheduled>();
    let scheduler_senders = senders.clone();
    let scheduler_thread = std::thread::spawn(move || scheduler(schedule_rx, scheduler_senders));
    let counters: Vec<Arc<NodeCounters>> = node_ids.iter().map(|_| NodeCounters::new()).collect();

    let mut chain_threads = Vec::new();
    let mut relay_threads = Vec::new();
    let mut miners = Vec::new();
    let directory = Arc::new({
        let mut d = vkm_transfer::directory::MemberDirectory::new();
        let _ = d.apply(&world.genesis);
        d
    });
    for (index, receiver) in receivers.into_iter().enumerate() {
        let id = node_ids[index];
        let keys = world
            .keys(id)
            .cloned()
            .ok_or_else(|| NetworkError::Io(format!("no keys for {id}")))?;
        let schedule = schedule.clone();
        let shared = shared.clone();
        let counters = counters[index].clone();
        let peers = node_ids.len();
        let config = config.clone();
        match config.structure {
            Structure::Blockchain => {
                let rules = KeyTransferRules::new(1);
                let ledger = Ledger::open(
                    config.db_dir.join(format!("sm-{}.redb", id.0)),
                    &genesis,
                    crate::chain_rules(&rules, 1),
                )?;
                let node_config = NodeConfig {
                    seed: config.seed,
                    ..NodeConfig::default()
                };
                let mut sm = SecurityManager::new(
                    id,
                    keys,
                    ledger,
                    rules,
                    Box::new(FixedPolicy(config.period)),
                    config.period,
                    node_config,
                )?;
                // The mining worker: one thread, abortable.
                let abort = Arc::new(AtomicBool::new(false));
                let (mine_tx, mine_rx) = channel::<vkm_block::Block>();
                let to_sm = senders[index].clone();
                let worker_abort = abort.clone();
                let worker_counters = counters.clone();
                let seed = config.seed ^ u64::from(id.0);
                miners.push(std::thread::spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed);
                    for mut block in mine_rx {
                        let started = Instant::now();
                        let outcome = Miner::default().mine(&mut block, &mut rng, &worker_abort);
                        worker_counters
                            .busy_ns
                            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        if matches!(outcome, MiningOutcome::Mined(_)) {
                            let _ = to_sm.send(Envelope::Chain(Event::Mined(block)));
                        }
                    }
                }));
                chain_threads.push(std::thread::spawn(move || -> Result<SecurityManager, NodeError> {
                    let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5eed ^ u64::from(id.0));
                    let mut pending = sm.start(clock.now());
                    loop {
                        for action in pending.drain(..) {
                            match action {
                                Action::Broadcast(msg) => {
                                    for peer in (0..peers).filter(|&p| p != index) {
                                        let at = Instant::now() + message_delay(&mut rng, &config);
                                        let _ = schedule.send((at, peer, Envelope::Chain(Event::Received(msg.clone()))));
                                    }
                                }
                                Action::StartMining(block) => {
                                    abort.store(false, Ordering::Relaxed);
                                    let _ = mine_tx.send(block);
                                }
                                Action::AbortMining => abort.store(true, Ordering::Relaxed),
                                Action::SetTimer { at, timer } => {
                                    let _ = schedule.send((clock.instant(at), index, Envelope::Chain(Event::Timer(timer))));
                                }
                                Action::Admit(admission) => {
                                    counters.admitted.fetch_add(1, Ordering::Relaxed);
                                    let delay = admission.admitted_at.0.saturating_sub(admission.crossed_at.0) as f64;
                                    shared.delays.lock().unwrap_or_else(|e| e.into_inner()).push(delay);
                                }
                                Action::Committed { height, hash } => {
                                    if let Some(file) = shared.events.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                                        let _ = writeln!(file, "{{\"sm\":{},\"height\":{height},\"hash\":\"{hash}\"}}", id.0);
                                    }
                                }
                                Action::Rekey(rekey) => {
                                    counters.rekeys.fetch_add(1, Ordering::Relaxed);
                                    counters.wrapped_keys.fetch_add(rekey.message.keys.len() as u64, Ordering::Relaxed);
                                }
                                Action::Refused(_) => {
                                    counters.refused.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        let event = match receiver.recv() {
                            Ok(Envelope::Chain(event)) => event,
                            Ok(Envelope::Stop) | Err(_) => break,
                            Ok(Envelope::Relay(_)) => continue,
                        };
                        if matches!(event, Event::Crossing { .. }) {
                            counters.crossings.fetch_add(1, Ordering::Relaxed);
                        }
                        let own_block = matches!(event, Event::Mined(_));
                        let started = Instant::now();
                        pending = sm.handle(event, clock.now())?;
                        counters.busy_ns.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        if own_block && pending.iter().any(|a| matches!(a, Action::Committed { .. })) {
                            counters.mined.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(sm)
                }));
            }
            Structure::Traditional => {
                let mut node = RelayNode::new(id, keys, directory.clone(), config.seed);
                let index_of = index_of.clone();
                relay_threads.push(std::thread::spawn(move || {
                    let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5eed ^ u64::from(id.0));
                    while let Ok(envelope) = receiver.recv() {
                        let event = match envelope {
                            Envelope::Relay(event) => event,
                            Envelope::Stop => break,
                            Envelope::Chain(_) => continue,
                        };
                        if matches!(event, RelayEvent::Crossing { .. }) {
                            counters.crossings.fetch_add(1, Ordering::Relaxed);
                        }
                        let started = Instant::now();
                        let actions = node.handle(event, clock.now());
                        counters
                            .busy_ns
                            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        for action in actions {
                            match action {
                                RelayAction::Send(msg) => {
                                    if let Some(&target) = index_of.get(&msg.receiver) {
                                        let at = Instant::now() + message_delay(&mut rng, &config);
                                        let _ = schedule.send((
                                            at,
                                            target,
                                            Envelope::Relay(RelayEvent::Received(msg)),
                                        ));
                                    }
                                }
                                RelayAction::Admit(admission) => {
                                    counters.admitted.fetch_add(1, Ordering::Relaxed);
                                    let delay = admission
                                        .admitted_at
                                        .0
                                        .saturating_sub(admission.crossed_at.0)
                                        as f64;
                                    shared
                                        .delays
                                        .lock()
                                        .unwrap_or_else(|e| e.into_inner())
                                        .push(delay);
                                }
                                RelayAction::Refused(_) => {
                                    counters.refused.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                }));
            }
        }
    }
    drop(schedule);

    // Traffic: crossings on every flow of the grid, exponential gaps, in real time.
    let flows: Vec<(usize, usize)> = grid_flows(&config.grid);
    let rate = config.vehicles_per_hour * flows.len() as f64 / 3600.0;
    let mut traffic_rng = StdRng::seed_from_u64(config.seed ^ 0x7aff1c);
    let mut events = CrossingEvents::new(StdRng::seed_from_u64(config.seed ^ 0xc4055), rate);
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
        let vehicle = vehicles[from][next_vehicle[from] % vehicles[from].len()].clone();
        next_vehicle[from] += 1;
        let destination = node_ids[to];
        let envelope = match config.structure {
            Structure::Blockchain => Envelope::Chain(Event::Crossing {
                vehicle,
                destination,
            }),
            Structure::Traditional => Envelope::Relay(RelayEvent::Crossing {
                vehicle,
                destination,
            }),
        };
        let _ = senders[from].send(envelope);
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
    // Let transfers in flight arrive: two periods and a second.
    std::thread::sleep(Duration::from_secs_f64(2.0 * config.period.seconds() + 1.0));
    let seconds = clock.start.elapsed().as_secs_f64();
    for sender in &senders {
        let _ = sender.send(Envelope::Stop);
    }

    let mut sms = Vec::new();
    for handle in chain_threads {
        match handle.join() {
            Ok(result) => sms.push(result?),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    for handle in relay_threads {
        if let Err(panic) = handle.join() {
            std::panic::resume_unwind(panic);
        }
    }
    drop(senders);
    for miner in miners {
        // The mining channels close with their security managers.
        let _ = miner.join();
    }
    let _ = scheduler_thread.join();

    let mut delays = Arc::try_unwrap(shared)
        .map(|s| s.delays.into_inner().unwrap_or_else(|e| e.into_inner()))
        .unwrap_or_default();
    delays.sort_by(f64::total_cmp);
    let nodes: Vec<NodeStats> = node_ids
        .iter()
        .zip(&counters)
        .map(|(id, c)| {
            let busy_s = c.busy_ns.load(Ordering::Relaxed) as f64 / 1e9;
            NodeStats {
                id: id.0,
                crossings: c.crossings.load(Ordering::Relaxed),
                admitted: c.admitted.load(Ordering::Relaxed),
                blocks_mined: c.mined.load(Ordering::Relaxed),
                refused: c.refused.load(Ordering::Relaxed),
                busy_s,
                cpu_share: busy_s / seconds,
                rekeys: c.rekeys.load(Ordering::Relaxed),
                wrapped_keys: c.wrapped_keys.load(Ordering::Relaxed),
            }
        })
        .collect();
    let (blocks, transactions) = match sms.first() {
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
    Ok(NetworkReport {
        blocks,
        transactions,
        orphans: mined.saturating_sub(blocks),
        reorgs: sms.iter().map(|sm| sm.ledger().reorgs()).sum(),
        crossings,
        admitted: delays.len() as u64,
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
        seconds,
    })
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
