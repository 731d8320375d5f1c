//! Discrete-event simulation of vkm's key transfer (Lei et al. 2017, section IV).
//!
//! Virtual time and an event queue ([`engine`]) drive the nodes; each node is a CPU with
//! a first-in first-out queue of work, and messages between nodes take a CSMA back-off
//! and a propagation delay. Two cost modes:
//! - [`Mode::Measured`] ([`measured`]): the real sans-IO security managers of `vkm-node`
//!   (or its traditional relays), each with an in-memory ledger; every ECIES, ECDSA and
//!   nonce search runs, and its measured duration advances that node's virtual clock. The
//!   peers' signature checks and the destination's opening of each transfer run ahead on
//!   the machine's other cores ([`Options::threads`]) and are charged where the protocol
//!   does them.
//! - [`Mode::Model`] ([`model`]): costs from a `vkm-period` calibration, no cryptography,
//!   for large sweeps; the nodes take their decisions with the security manager's own
//!   functions (period alignment, policy, mining rank).
//!
//! Traffic is generated from a [`Scenario`] (TOML) or replayed from an events file
//! ([`traffic::read_events`], made from SUMO output by [`sumo`]). Runs are reproducible
//! from the seed (in measured mode, up to the measured costs).
//!
//! ```
//! use vkm_period::Calibration;
//! use vkm_sim::{Mode, Scenario, simulate};
//!
//! let scenario = Scenario::beijing_peak(5.0); // 5 s of Beijing at peak traffic
//! let run = simulate(&scenario, Mode::Model, &Calibration::paper(), None, &mut |_| {})?;
//! assert!(run.summary.key_transfers > 1_000);
//! assert!(run.summary.delay_s_p95 < 2.0);
//! # Ok::<(), vkm_sim::SimError>(())
//! ```

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
use vkm_period::{
    AdaptivePolicy, Calibration, CollectionPeriod, FixedPolicy, Load, Objective, PeriodPolicy,
    algorithm3,
};

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
    let periods = |seconds: &[f64]| -> Result<Vec<CollectionPeriod>, SimError> {
        seconds
            .iter()
            .map(|&s| CollectionPeriod::new(s).map_err(|e| SimError::Setup(e.to_string())))
            .collect()
    };
    let flows = scenario.grid().flows();
    Ok(match &scenario.policy {
        scenario::PolicySpec::Fixed { period_s } => Box::new(FixedPolicy(
            CollectionPeriod::new(*period_s).map_err(|e| SimError::Setup(e.to_string()))?,
        )),
        scenario::PolicySpec::Algorithm3 { candidates_s } => {
            let candidates = periods(candidates_s)?;
            let load = Load {
                vehicles_per_hour: scenario.vehicles_per_hour_at(0.0),
                flows,
                structure: scenario.structure,
            };
            let chosen = algorithm3(calibration, &load, &candidates)
                .unwrap_or_else(|| candidates[candidates.len() - 1]);
            Box::new(FixedPolicy(chosen))
        }
        scenario::PolicySpec::Adaptive {
            candidates_s,
            time_constant_s,
        } => Box::new(
            AdaptivePolicy::new(
                calibration.clone(),
                periods(candidates_s)?,
                Objective::Paper,
                flows,
                scenario.structure,
            )
            .ok_or_else(|| SimError::Setup("no candidate periods".into()))?
            .with_time_constant(*time_constant_s),
        ),
    })
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
}

impl Default for Options {
    /// One worker thread per core but the simulation's own.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            threads: cores.saturating_sub(1),
        }
    }
}

impl Options {
    /// These options with `threads` worker threads.
    pub fn with_threads(self, threads: usize) -> Self {
        Self { threads }
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
    let longest = match &scenario.policy {
        scenario::PolicySpec::Fixed { period_s } => *period_s,
        scenario::PolicySpec::Algorithm3 { candidates_s }
        | scenario::PolicySpec::Adaptive { candidates_s, .. } => {
            candidates_s.iter().copied().fold(0.0, f64::max)
        }
    };
    let until = traffic_end + 2.0 * longest + 1.0;
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
    let (metrics, blocks, loads) = match mode {
        Mode::Measured => {
            let (driver, first) = measured::Measured::new(scenario, calibration, options.threads)?;
            drive(
                driver,
                Engine::with_lookahead(nodes, lookahead),
                first,
                &mut crossings,
                until,
                progress,
                measured::Input::Cross,
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
                progress,
                model::Input::Cross,
            )?
        }
    };
    let wall_seconds = started.elapsed().as_secs_f64();
    let mut delays = metrics.sorted_delays();
    let [mean, p50, p95, max] = metrics::delay_stats(&mut delays);
    let in_blocks: usize = metrics.blocks.iter().map(|b| b.transactions).sum();
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
        max_cpu_share: loads.iter().map(|l| l.busy_s).fold(0.0, f64::max)
            / until.max(f64::MIN_POSITIVE),
        not_admitted: metrics
            .crossings
            .saturating_sub(metrics.transfers.len() as u64),
        backlog_inputs: loads.iter().map(|l| l.queued as u64).sum(),
        backlog_s: loads.iter().map(|l| l.booked_past_s).fold(0.0, f64::max),
        saturated: loads
            .iter()
            .any(|l| l.queued > 0 || l.booked_past_s > longest),
        wall_seconds,
        simulated_seconds: until,
        speed_vs_real_time: until / wall_seconds.max(1e-9),
    };
    Ok(Run { summary, metrics })
}

/// What [`simulate`] needs from a driver once the run is over.
trait Outcome: Driver + Sized {
    /// Blocks on the chain (0 in the traditional structures).
    fn height(&self) -> u64;
    /// What was recorded, or the failure that stopped the nodes.
    fn finish(self) -> Result<Metrics, SimError>;
}

impl Outcome for measured::Measured {
    fn height(&self) -> u64 {
        measured::Measured::height(self)
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
    fn finish(self) -> Result<Metrics, SimError> {
        Ok(model::Model::finish(self))
    }
}

/// Runs `driver` on `engine` from its first timers and the crossings until `until`;
/// returns the metrics, the chain's height and each node's load at the end.
fn drive<D: Outcome>(
    mut driver: D,
    mut engine: Engine<D::Input>,
    first: Vec<Arrival<D::Input>>,
    crossings: &mut dyn Iterator<Item = Crossing>,
    until: f64,
    progress: &mut dyn FnMut(f64),
    wrap: impl Fn(Crossing) -> D::Input,
) -> Result<(Metrics, u64, Vec<engine::Load>), SimError> {
    for a in first {
        engine.schedule(a);
    }
    let mut next_report = 0.0;
    let step = until / 100.0;
    // Crossings are counted as the traffic makes them, whether or not their security
    // manager got to them before the run stopped.
    let mut generated = 0u64;
    engine.run(&mut driver, until, &mut |_| {
        let c = crossings.next()?;
        if c.at <= until {
            generated += 1;
        }
        if c.at >= next_report {
            progress((c.at / until).min(1.0));
            next_report = c.at + step;
        }
        Some(Arrival {
            at: c.at,
            node: c.from,
            input: wrap(c),
        })
    });
    progress(1.0);
    let height = driver.height();
    let mut metrics = driver.finish()?;
    metrics.crossings = generated;
    Ok((metrics, height, engine.loads(until)))
}
