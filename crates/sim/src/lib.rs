#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod ahead;
pub mod engine;
pub mod measured;
pub mod metrics;
pub mod model;
pub mod scenario;
pub mod sumo;
pub mod traffic;

use std::time::Instant;

pub use metrics::{Metrics, Summary};
pub use scenario::{Scenario, ScenarioError, Structure};
use vkm_period::{Calibration, Load, PeriodPolicy};

use crate::engine::{Arrival, Driver, Engine};
use crate::traffic::Crossing;

/// Virtual time 0 of every run, as a Unix time in milliseconds (2026-01-01T00:00:00Z):
/// fixed, so that runs are reproducible.
pub const EPOCH_MS: u64 = 1_767_225_600_000;

/// The protocol time of virtual time `now` (seconds since the run's start): milliseconds
/// since the Unix epoch, rounded to the nearest. Both cost modes convert with it.
pub(crate) fn timestamp(now: f64) -> vkm_block::Timestamp {
    vkm_block::Timestamp(EPOCH_MS + (now * 1000.0).round() as u64)
}

/// The virtual time (seconds since the run's start) of protocol time `at`.
pub(crate) fn seconds(at: vkm_block::Timestamp) -> f64 {
    at.0.saturating_sub(EPOCH_MS) as f64 / 1000.0
}

/// The security managers' settings for `scenario`, in both cost modes.
pub(crate) fn node_config(scenario: &Scenario) -> vkm_node::sm::NodeConfig {
    vkm_node::sm::NodeConfig {
        mining_slot_ms: scenario.network.mining_slot_ms,
        seed: scenario.seed,
        ..vkm_node::sm::NodeConfig::default()
    }
}

/// How costs are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Every operation really runs and its wall-clock time is charged.
    Measured,
    /// Costs come from a calibration; nothing cryptographic runs.
    Model,
}

impl Mode {
    /// `measured` or `model`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Measured => "measured",
            Self::Model => "model",
        }
    }
}

/// A simulation could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The scenario is not usable.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The world could not be built.
    #[error("setting up the simulation: {0}")]
    Setup(String),
    /// A node failed (its ledger's storage).
    #[error("a node failed: {0}")]
    Node(String),
}

/// The period policy every security manager of `scenario` uses, priced by `calibration`.
pub fn policy(
    scenario: &Scenario,
    calibration: &Calibration,
) -> Result<Box<dyn PeriodPolicy + Send>, SimError> {
    let load = Load {
        vehicles_per_hour: scenario.vehicles_per_hour_at(0.0),
        flows: scenario.grid().flows(),
        structure: scenario.structure,
    };
    scenario
        .policy
        .build(calibration.clone(), &load)
        .map_err(|e| SimError::Setup(e.to_string()))
}

/// A finished run: the summary and everything recorded.
#[derive(Debug, Clone)]
pub struct Run {
    /// The JSON summary.
    pub summary: Summary,
    /// Per transfer, block and period.
    pub metrics: Metrics,
}

/// How a run uses the machine (not what it simulates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Measured mode: worker threads that run the nodes' signature checks and openings
    /// ahead (0: each runs on the simulation's thread when the protocol reaches it).
    /// What is charged to the nodes is the same either way; more threads than the
    /// machine has spare cores only inflate the measured costs (threads preempted while
    /// timed).
    pub threads: usize,
    /// Measured mode: revalidate every running manager's stored chain from genesis at the
    /// end (every signature again: slow on long runs).
    pub revalidate: bool,
}

impl Default for Options {
    /// One worker thread per core but the simulation's own; no revalidation.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            threads: cores.saturating_sub(1),
            revalidate: false,
        }
    }
}

impl Options {
    /// These options with `threads` worker threads.
    pub fn with_threads(self, threads: usize) -> Self {
        Self { threads, ..self }
    }

    /// These options, revalidating the stored chains at the end.
    pub fn with_revalidation(self) -> Self {
        Self {
            revalidate: true,
            ..self
        }
    }
}

/// Runs `scenario` in `mode` with the default [`Options`]. `calibration` prices the model
/// mode and the period policies; `events` replaces the generated traffic; `progress` is
/// called with the fraction of virtual time done.
pub fn simulate(
    scenario: &Scenario,
    mode: Mode,
    calibration: &Calibration,
    events: Option<&[Crossing]>,
    progress: &mut dyn FnMut(f64),
) -> Result<Run, SimError> {
    simulate_with(
        scenario,
        mode,
        calibration,
        events,
        Options::default(),
        progress,
    )
}

/// [`simulate`] with `options`.
pub fn simulate_with(
    scenario: &Scenario,
    mode: Mode,
    calibration: &Calibration,
    events: Option<&[Crossing]>,
    options: Options,
    progress: &mut dyn FnMut(f64),
) -> Result<Run, SimError> {
    scenario.validate()?;
    let started = Instant::now();
    let traffic_end = match events {
        Some(events) => events.last().map_or(0.0, |e| e.at),
        None => scenario.duration_s,
    };
    // Transfers in flight drain for two of the longest periods and a second.
    let longest = scenario.policy.longest_s();
    let faults = scenario.faults.faults(scenario.districts() as u32)?;
    if mode == Mode::Measured && !scenario.verification.is_every() {
        return Err(SimError::Scenario(ScenarioError::Invalid(
            "verification = \"destination\" needs model mode: the security managers run by \
             measured mode check every transfer (docs/deviations.md)"
                .into(),
        )));
    }
    if mode == Mode::Model && !scenario.faults.is_none() {
        return Err(SimError::Scenario(ScenarioError::Invalid(
            "faults need measured mode: the model prices work, it runs no protocol".into(),
        )));
    }
    // Without faults, transfers in flight drain for two of the longest periods and a
    // second; with faults, until 30 s after the last fault ends (the run stops earlier
    // once it has settled).
    let drain = scenario.faults.drain.unwrap_or(if faults.is_none() {
        2.0 * longest + 1.0
    } else {
        2.0 * longest + 1.0 + (faults.last_end_s() - traffic_end).max(0.0) + 30.0
    });
    let until = traffic_end + drain;
    let settle = Settle {
        traffic_end,
        early: !scenario.faults.is_none(),
        revalidate: options.revalidate,
    };
    let generated;
    let mut crossings: Box<dyn Iterator<Item = Crossing>> = match events {
        Some(events) => Box::new(events.iter().copied()),
        None => {
            generated = traffic::Generated::new(scenario);
            Box::new(generated)
        }
    };
    let nodes = model::Model::nodes(scenario);
    // No message between nodes takes less than the propagation delay.
    let lookahead = scenario.network.propagation_ms / 1000.0;
    let ended = match mode {
        Mode::Measured => {
            // The vehicles on the road from the start: generated traffic's population, or
            // each vehicle of an events file where it first crosses.
            let population = match events {
                Some(events) => {
                    let mut seen = std::collections::HashSet::new();
                    events
                        .iter()
                        .filter(|c| seen.insert(c.vehicle))
                        .map(|c| (c.vehicle, c.from))
                        .collect()
                }
                None => traffic::population(scenario),
            };
            let (driver, first) =
                measured::Measured::new(scenario, calibration, options.threads, &population)?;
            let route = driver.router();
            drive(
                driver,
                Engine::with_lookahead(measured::Measured::nodes(scenario), lookahead),
                first,
                &mut crossings,
                until,
                settle,
                progress,
                route,
            )?
        }
        Mode::Model => {
            let make_policy = || policy(scenario, calibration);
            let (driver, first) = model::Model::new(scenario, calibration.elements, &make_policy)?;
            drive(
                driver,
                Engine::new(nodes),
                first,
                &mut crossings,
                until,
                settle,
                progress,
                |c: Crossing| (c.from, model::Input::Cross(c)),
            )?
        }
    };
    let Ended {
        metrics,
        height: blocks,
        loads,
        crossings_in,
        until,
        faults: counters,
        nodes: node_ends,
        chains_sound,
    } = ended;
    let wall_seconds = started.elapsed().as_secs_f64();
    let mut delays = metrics.sorted_delays();
    let [mean, p50, p95, max] = metrics::delay_stats(&mut delays);
    // Crossings whose transfer no destination admitted (reported as not admitted, as the
    // backlog of a saturated run, and as lost in runs with faults).
    let not_admitted = metrics
        .crossings
        .saturating_sub(metrics.transfers.len() as u64);
    let in_blocks: usize = metrics.blocks.iter().map(|b| b.transactions).sum();
    let mut admitted_in = vec![0u64; crossings_in.len()];
    for t in &metrics.transfers {
        if let Some(n) = admitted_in.get_mut(t.to) {
            *n += 1;
        }
    }
    let node_loads: Vec<metrics::NodeLoad> = loads
        .iter()
        .enumerate()
        .map(|(node, l)| {
            let into = crossings_in.get(node).copied().unwrap_or(0);
            metrics::NodeLoad {
                node,
                cpu_share: cpu_share(l, until),
                queued_inputs: l.queued as u64,
                booked_past_s: l.booked_past_s,
                crossings_in: into,
                not_admitted_in: into.saturating_sub(admitted_in.get(node).copied().unwrap_or(0)),
            }
        })
        .collect();
    let summary = Summary {
        scenario: scenario.name.clone(),
        mode: mode.name().into(),
        structure: scenario.structure.name().into(),
        crossings: metrics.crossings,
        key_transfers: metrics.transfers.len() as u64,
        blocks,
        delay_s_mean: mean,
        delay_s_p50: p50,
        delay_s_p95: p95,
        delay_s_max: max,
        transactions_per_block: if metrics.blocks.is_empty() {
            0.0
        } else {
            in_blocks as f64 / metrics.blocks.len() as f64
        },
        refused: metrics.refused,
        refusals: metrics
            .refusals
            .iter()
            .map(|(kind, n)| ((*kind).to_owned(), *n))
            .collect(),
        max_cpu_share: node_loads.iter().map(|l| l.cpu_share).fold(0.0, f64::max),
        backlog: not_admitted,
        not_admitted,
        backlog_inputs: node_loads.iter().map(|l| l.queued_inputs).sum(),
        backlog_s: node_loads
            .iter()
            .map(|l| l.booked_past_s)
            .fold(0.0, f64::max),
        // A node behind its inputs, or (without faults, which lose crossings on purpose)
        // crossings still waiting after the drain: the chain carries fewer transfers than
        // the traffic makes.
        saturated: node_loads.iter().any(|l| l.behind(longest))
            || (scenario.faults.is_none() && not_admitted > 0),
        admitted_unique: metrics.transfers.len() as u64,
        admitted_duplicates: metrics.admitted_duplicates,
        lost: not_admitted,
        rebroadcasts: counters.rebroadcasts,
        sync_requests: counters.sync_requests,
        blocks_synced: counters.blocks_synced,
        catch_up_s_max: metrics.catch_ups_s.iter().copied().fold(0.0, f64::max),
        messages: metrics.messages,
        message_bytes: metrics.message_bytes,
        chains_revalidated: chains_sound,
        nodes: node_ends,
        node_loads,
        vehicles: metrics.vehicles.vehicles,
        vehicles_enrolled: metrics.vehicles.enrolled,
        welcomes_delivered: metrics.vehicles.welcomes_delivered,
        welcomes_superseded: metrics.vehicles.welcomes_superseded,
        welcomes_awaited: metrics.vehicles.welcomes_awaited,
        welcome_delay_s_p50: metrics.vehicles.welcome_delay_s(0.5),
        welcome_delay_s_p95: metrics.vehicles.welcome_delay_s(0.95),
        bsms_opened: metrics.vehicles.bsms_opened,
        bsms_failed: metrics.vehicles.bsms_failed,
        rekeys: metrics.vehicles.rekeys,
        rekey_bytes: metrics.vehicles.rekey_bytes,
        rekey_bytes_per_domain_s: metrics.vehicles.rekey_bytes as f64
            / scenario.districts() as f64
            / until.max(f64::MIN_POSITIVE),
        vehicle_request_us_mean: metrics.vehicles.request_us_mean(),
        vehicle_join_us_mean: metrics.vehicles.join_us_mean(),
        wall_seconds,
        simulated_seconds: until,
        speed_vs_real_time: until / wall_seconds.max(1e-9),
    };
    Ok(Run { summary, metrics })
}

/// A node's CPU share over a run that stopped at `until`: busy time within the run plus
/// work booked past it (at most one run's length, so that a job priced beyond any
/// horizon, such as the paper's exponential block preparation far outside its fitted
/// range, still gives a finite share), over `until`.
fn cpu_share(load: &engine::Load, until: f64) -> f64 {
    let until = until.max(f64::MIN_POSITIVE);
    let capped = |s: f64| if s.is_finite() { s.min(until) } else { until };
    (capped(load.busy_s) + capped(load.booked_past_s)) / until
}

/// When a run may stop before its drain is over.
#[derive(Debug, Clone, Copy)]
struct Settle {
    /// When the traffic stops, seconds.
    traffic_end: f64,
    /// Whether to stop as soon as the run has settled (runs with faults).
    early: bool,
    /// Whether to revalidate the stored chains at the end.
    revalidate: bool,
}

/// What a finished run hands back.
struct Ended {
    metrics: Metrics,
    height: u64,
    loads: Vec<engine::Load>,
    /// Crossings made into each district (by its index).
    crossings_in: Vec<u64>,
    /// When it stopped, seconds.
    until: f64,
    faults: vkm_node::FaultCounters,
    nodes: Vec<metrics::NodeEnd>,
    chains_sound: Option<bool>,
}

/// What [`simulate`] needs from a driver once the run is over.
trait Outcome: Driver + Sized {
    /// Blocks on the chain (0 in the traditional structures).
    fn height(&self) -> u64;
    /// Whether every one of `crossings` crossings is admitted and the nodes agree.
    fn settled(&self, crossings: u64) -> bool;
    /// What the nodes did against faults.
    fn fault_counters(&self) -> vkm_node::FaultCounters {
        vkm_node::FaultCounters::default()
    }
    /// Each security manager at the end.
    fn node_ends(&self) -> Vec<metrics::NodeEnd> {
        Vec::new()
    }
    /// Whether every running manager's stored chain revalidates from genesis (`None`:
    /// no chains).
    fn chains_sound(&self, _now: f64) -> Option<bool> {
        None
    }
    /// What was recorded, or the failure that stopped the nodes.
    fn finish(self) -> Result<Metrics, SimError>;
}

impl Outcome for measured::Measured {
    fn height(&self) -> u64 {
        measured::Measured::height(self)
    }
    fn settled(&self, crossings: u64) -> bool {
        measured::Measured::settled(self, crossings)
    }
    fn fault_counters(&self) -> vkm_node::FaultCounters {
        measured::Measured::fault_counters(self)
    }
    fn node_ends(&self) -> Vec<metrics::NodeEnd> {
        measured::Measured::node_ends(self)
    }
    fn chains_sound(&self, now: f64) -> Option<bool> {
        measured::Measured::chains_sound(self, now)
    }
    fn finish(mut self) -> Result<Metrics, SimError> {
        match self.take_error() {
            Some(e) => Err(e),
            None => Ok(measured::Measured::finish(self)),
        }
    }
}

impl Outcome for model::Model {
    fn height(&self) -> u64 {
        model::Model::height(self)
    }
    fn settled(&self, crossings: u64) -> bool {
        self.metrics.transfers.len() as u64 >= crossings
    }
    fn finish(self) -> Result<Metrics, SimError> {
        Ok(model::Model::finish(self))
    }
}

/// Runs `driver` on `engine` from its first timers and the crossings until `until` (or,
/// with `settle.early`, until it has settled after the traffic); returns what it ended
/// with.
#[allow(clippy::too_many_arguments)] // One private function, called twice.
fn drive<D: Outcome>(
    mut driver: D,
    mut engine: Engine<D::Input>,
    first: Vec<Arrival<D::Input>>,
    crossings: &mut dyn Iterator<Item = Crossing>,
    until: f64,
    settle: Settle,
    progress: &mut dyn FnMut(f64),
    route: impl Fn(Crossing) -> (usize, D::Input),
) -> Result<Ended, SimError> {
    for a in first {
        engine.schedule(a);
    }
    let mut next_report = 0.0;
    let step = until / 100.0;
    // Crossings are counted as the traffic makes them, whether or not their security
    // manager got to them before the run stopped.
    let mut generated = 0u64;
    // Districts are the first nodes; a crossing names one of them.
    let mut crossings_in = vec![0u64; engine.busy_seconds().len()];
    let mut source = |_| {
        let c = crossings.next()?;
        if c.at <= until {
            generated += 1;
            if let Some(n) = crossings_in.get_mut(c.to) {
                *n += 1;
            }
        }
        if c.at >= next_report {
            progress((c.at / until).min(1.0));
            next_report = c.at + step;
        }
        let at = c.at;
        let (node, input) = route(c);
        Some(Arrival { at, node, input })
    };
    let mut stopped = until;
    if settle.early {
        // The traffic first, then half a second at a time until settled.
        let traffic_end = settle.traffic_end.min(until);
        engine.run(&mut driver, traffic_end, &mut source);
        let mut at = traffic_end;
        while at < until && !driver.settled(generated) {
            at = (at + 0.5).min(until);
            engine.run(&mut driver, at, &mut |_| None);
        }
        stopped = at;
    } else {
        engine.run(&mut driver, until, &mut source);
    }
    progress(1.0);
    let height = driver.height();
    let faults = driver.fault_counters();
    let nodes = driver.node_ends();
    let chains_sound = if settle.revalidate {
        driver.chains_sound(stopped)
    } else {
        None
    };
    let mut metrics = driver.finish()?;
    metrics.crossings = generated;
    Ok(Ended {
        metrics,
        height,
        loads: engine.loads(stopped),
        crossings_in,
        until: stopped,
        faults,
        nodes,
        chains_sound,
    })
}
