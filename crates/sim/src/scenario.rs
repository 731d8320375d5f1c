//! Scenarios: what a simulation runs (grid, traffic, structure, period policy, difficulty,
//! network, duration, seed), read from TOML and checked before anything runs.

use serde::{Deserialize, Serialize};
use vkm_period::{CollectionPeriod, Grid, TrafficProfile};

/// Largest grid side accepted (domains per row or column).
pub const MAX_GRID_SIDE: u32 = 32;
/// Longest simulated traffic accepted, seconds (one day).
pub const MAX_DURATION_S: f64 = 86_400.0;
/// Largest scenario file accepted, bytes.
pub const MAX_SCENARIO_BYTES: usize = 64 * 1024;

/// Which structure carries the key transfers (Lei et al. III.B.1): the cost model's
/// own type, so a scenario and its prices name structures alike.
pub use vkm_period::{PolicySpec, Structure};

/// Traffic on each one-way flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Traffic {
    /// The same level all the time, vehicles per hour per flow.
    Constant {
        /// Vehicles per hour on each flow.
        vehicles_per_hour: f64,
    },
    /// A time-of-day profile: `(hour, vehicles per hour)` points, linear between them;
    /// the run starts at `start_hour`.
    Profile {
        /// The profile's points, hours in `[0, 24]` ascending.
        profile: Vec<(f64, f64)>,
        /// Hour of the day the run starts at.
        #[serde(default)]
        start_hour: f64,
    },
}

/// The network between nodes (Table III's tBO and tP).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkModel {
    /// Mean CSMA back-off per message (exponentially distributed), milliseconds.
    pub backoff_ms: f64,
    /// Propagation delay per message, milliseconds.
    pub propagation_ms: f64,
    /// Delay between the mining starts of consecutive ranks, milliseconds.
    pub mining_slot_ms: u64,
}

impl Default for NetworkModel {
    fn default() -> Self {
        Self {
            backoff_ms: 0.5,
            propagation_ms: 0.1,
            mining_slot_ms: 100,
        }
    }
}

/// The grid in a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSpec {
    /// Rows of districts.
    pub rows: u32,
    /// Columns of districts.
    pub cols: u32,
    /// Two-way highways across each shared edge.
    pub highways_per_edge: u32,
}

impl From<GridSpec> for Grid {
    fn from(g: GridSpec) -> Self {
        Grid {
            rows: g.rows,
            cols: g.cols,
            highways_per_edge: g.highways_per_edge,
        }
    }
}

/// One simulation's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name for output.
    #[serde(default = "default_name")]
    pub name: String,
    /// Seed of keys, traffic, network delays and mining: a run is reproducible from it.
    #[serde(default)]
    pub seed: u64,
    /// Seconds of traffic (transfers in flight then drain for two periods and a second).
    pub duration_s: f64,
    /// Chain difficulty in leading zero bits.
    #[serde(default = "default_difficulty")]
    pub difficulty_bits: u8,
    /// The structure.
    pub structure: Structure,
    /// The districts and their highways.
    pub grid: GridSpec,
    /// Vehicles on each flow.
    pub traffic: Traffic,
    /// The collection-period policy (blockchain only).
    pub policy: PolicySpec,
    /// Back-off, propagation, mining slots.
    #[serde(default)]
    pub network: NetworkModel,
    /// Lost, duplicated and late messages, partitions, crashes (measured mode, blockchain
    /// structure); none by default.
    #[serde(default, skip_serializing_if = "FaultSpec::is_none")]
    pub faults: FaultSpec,
    /// The vehicles (their number per district at the start, the radio delay to RSUs).
    #[serde(default)]
    pub vehicles: VehicleSpec,
    /// Which security managers check a key transfer's signature (model mode): every one,
    /// as in Lei et al., or only its destination (`docs/deviations.md`).
    #[serde(default, skip_serializing_if = "Verification::is_every")]
    pub verification: Verification,
}

/// Which security managers check a key transfer's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verification {
    /// Every manager checks every transfer (Lei et al.): the work of each grows with the
    /// whole network's traffic.
    #[default]
    Every,
    /// Only the destination checks a transfer's signature, before it admits the vehicle;
    /// every manager checks each block (proof of work, merkle root, the miner's
    /// registration) but not the signatures of transfers bound elsewhere: each manager's
    /// checks grow with its own traffic, not with the network's.
    Destination,
}

impl Verification {
    /// `every` or `destination`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Every => "every",
            Self::Destination => "destination",
        }
    }

    /// Whether it is [`Verification::Every`] (the default).
    pub fn is_every(&self) -> bool {
        *self == Self::Every
    }
}

/// Most vehicles a district starts with.
pub const MAX_VEHICLES_PER_DISTRICT: usize = 100_000;

/// The vehicles of a scenario: generated traffic moves a population that starts with
/// `per_district` vehicles in every district (a district that runs out gets a new
/// vehicle); events files and SUMO traffic bring their own vehicles. In the measured
/// blockchain structure every vehicle is an on-board unit that signs its crossing
/// requests, opens its welcome, follows its domain's rekeys and reads BSMs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VehicleSpec {
    /// Vehicles in each district at the start.
    #[serde(default = "default_per_district")]
    pub per_district: usize,
    /// Radio delay between a vehicle and an RSU (either way), ms.
    #[serde(default = "default_radio_delay_ms")]
    pub radio_delay_ms: f64,
    /// Probability that a radio message between a vehicle and an RSU is lost (each
    /// request, and each vehicle's copy of a rekey broadcast).
    #[serde(default)]
    pub radio_loss: f64,
}

fn default_per_district() -> usize {
    200
}

fn default_radio_delay_ms() -> f64 {
    5.0
}

impl Default for VehicleSpec {
    fn default() -> Self {
        Self {
            per_district: default_per_district(),
            radio_delay_ms: default_radio_delay_ms(),
            radio_loss: 0.0,
        }
    }
}

/// The faults of a scenario, with the command line's keys: `loss`, `duplicate`,
/// `jitter_ms`, `partition = ["1,2,3|4,5,6@START:END"]`, `crash = ["SM@START:END"]` and
/// `drain` (seconds after the traffic to let the run settle).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Probability that a message between security managers is lost.
    #[serde(default)]
    pub loss: f64,
    /// Probability that a message arrives twice.
    #[serde(default)]
    pub duplicate: f64,
    /// Extra delay of each message, uniform up to this, ms.
    #[serde(default)]
    pub jitter_ms: f64,
    /// Partitions, `"1,2,3|4,5,6@START:END"` (seconds from the start of traffic).
    #[serde(default)]
    pub partition: Vec<String>,
    /// Crashes, `"SM@START:END"`: the manager is down from START and restarts from its
    /// store at END.
    #[serde(default)]
    pub crash: Vec<String>,
    /// After the traffic, go on until every crossing is admitted and the managers that
    /// are up agree on one tip, or this many seconds went by (default: two periods and a
    /// second without faults; with faults, until 30 s after the last fault ends).
    #[serde(default)]
    pub drain: Option<f64>,
}

impl FaultSpec {
    /// Whether it injects nothing and leaves the drain as it is.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// The runtime's faults, parsed (not yet checked against a run's managers).
    pub fn parse(&self) -> Result<vkm_runtime::Faults, vkm_runtime::FaultError> {
        vkm_runtime::Faults::parse(
            self.loss,
            self.duplicate,
            self.jitter_ms,
            &self.partition,
            &self.crash,
        )
    }

    /// The runtime's faults, parsed and checked against security managers `1..=managers`.
    pub fn faults(&self, managers: u32) -> Result<vkm_runtime::Faults, ScenarioError> {
        let invalid = |e: vkm_runtime::FaultError| ScenarioError::Invalid(e.to_string());
        let faults = self.parse().map_err(invalid)?;
        let ids: Vec<vkm_block::MemberId> = (1..=managers).map(vkm_block::MemberId).collect();
        faults.validate(&ids).map_err(invalid)?;
        Ok(faults)
    }
}

fn default_name() -> String {
    "scenario".into()
}

fn default_difficulty() -> u8 {
    vkm_pow::Difficulty::PAPER.bits()
}

/// A scenario cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// Not TOML of the scenario's shape.
    #[error("scenario file: {0}")]
    Parse(String),
    /// The file is larger than [`MAX_SCENARIO_BYTES`].
    #[error("scenario file has {0} bytes, more than the {MAX_SCENARIO_BYTES} accepted")]
    TooLarge(usize),
    /// A value is out of range.
    #[error("scenario: {0}")]
    Invalid(String),
}

impl Scenario {
    /// The paper's Beijing (3 x 3 districts, 120 flows) at saturated traffic (15,000
    /// vehicles per hour per flow, 1.8 million crossings an hour), blockchain structure,
    /// 1 s period, difficulty 3 (10 bits).
    pub fn beijing_peak(duration_s: f64) -> Self {
        Self {
            name: "beijing-peak".into(),
            seed: 1,
            duration_s,
            difficulty_bits: default_difficulty(),
            structure: Structure::Blockchain,
            grid: GridSpec {
                rows: Grid::BEIJING.rows,
                cols: Grid::BEIJING.cols,
                highways_per_edge: Grid::BEIJING.highways_per_edge,
            },
            traffic: Traffic::Constant {
                vehicles_per_hour: vkm_period::traffic::SATURATED,
            },
            policy: PolicySpec::Fixed { period_s: 1.0 },
            network: NetworkModel::default(),
            faults: FaultSpec::default(),
            vehicles: VehicleSpec::default(),
            verification: Verification::Every,
        }
    }

    /// Parses and checks a TOML scenario.
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        if text.len() > MAX_SCENARIO_BYTES {
            return Err(ScenarioError::TooLarge(text.len()));
        }
        let scenario: Self =
            toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// The TOML form.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// The grid.
    pub fn grid(&self) -> Grid {
        self.grid.into()
    }

    /// Number of districts (one security manager each).
    pub fn districts(&self) -> usize {
        (self.grid.rows * self.grid.cols) as usize
    }

    /// Vehicles per hour per flow at `seconds` into the run.
    pub fn vehicles_per_hour_at(&self, seconds: f64) -> f64 {
        match &self.traffic {
            Traffic::Constant { vehicles_per_hour } => *vehicles_per_hour,
            Traffic::Profile {
                profile,
                start_hour,
            } => TrafficProfile::new(profile.clone())
                .map_or(0.0, |p| p.at(start_hour * 3600.0 + seconds)),
        }
    }

    /// The highest traffic level of the run, vehicles per hour per flow.
    pub fn peak_vehicles_per_hour(&self) -> f64 {
        match &self.traffic {
            Traffic::Constant { vehicles_per_hour } => *vehicles_per_hour,
            Traffic::Profile { profile, .. } => profile.iter().map(|&(_, v)| v).fold(0.0, f64::max),
        }
    }

    /// The first collection period.
    pub fn initial_period(&self) -> Result<CollectionPeriod, ScenarioError> {
        self.policy
            .initial_period()
            .map_err(|e| ScenarioError::Invalid(e.to_string()))
    }

    /// Checks every value's range.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let invalid = |m: String| Err(ScenarioError::Invalid(m));
        let g = self.grid;
        if !(1..=MAX_GRID_SIDE).contains(&g.rows)
            || !(1..=MAX_GRID_SIDE).contains(&g.cols)
            || g.rows * g.cols < 2
            || !(1..=100).contains(&g.highways_per_edge)
        {
            return invalid(format!(
                "grid must be 1..={MAX_GRID_SIDE} x 1..={MAX_GRID_SIDE} with at least 2 districts and 1..=100 highways per edge"
            ));
        }
        if !(self.duration_s.is_finite() && (0.0..=MAX_DURATION_S).contains(&self.duration_s)) {
            return invalid(format!("duration_s must be within 0..={MAX_DURATION_S}"));
        }
        if !(1..=32).contains(&self.difficulty_bits) {
            return invalid("difficulty_bits must be 1..=32".into());
        }
        match &self.traffic {
            Traffic::Constant { vehicles_per_hour } => {
                if !(vehicles_per_hour.is_finite() && (0.0..=1e6).contains(vehicles_per_hour)) {
                    return invalid("vehicles_per_hour must be within 0..=1000000".into());
                }
            }
            Traffic::Profile {
                profile,
                start_hour,
            } => {
                if TrafficProfile::new(profile.clone()).is_none()
                    || profile.iter().any(|&(_, v)| v > 1e6)
                    || !(0.0..=24.0).contains(start_hour)
                {
                    return invalid(
                        "profile must be (hour, vehicles per hour) points, hours ascending in 0..=24, levels 0..=1000000; start_hour in 0..=24".into(),
                    );
                }
            }
        }
        if self.vehicles.per_district > MAX_VEHICLES_PER_DISTRICT {
            return invalid(format!(
                "vehicles.per_district must be at most {MAX_VEHICLES_PER_DISTRICT}"
            ));
        }
        let radio = self.vehicles.radio_delay_ms;
        if !(radio.is_finite() && (0.0..=10_000.0).contains(&radio)) {
            return invalid("vehicles.radio_delay_ms must be within 0..=10000".into());
        }
        if !(0.0..1.0).contains(&self.vehicles.radio_loss) {
            return invalid("vehicles.radio_loss must be within 0..1".into());
        }
        if let Err(e) = self.policy.validate() {
            return invalid(e.to_string());
        }
        if !self.faults.is_none() {
            if self.structure != Structure::Blockchain {
                return invalid("faults apply to the blockchain structure".into());
            }
            self.faults.faults(self.districts() as u32)?;
            if let Some(drain) = self.faults.drain
                && !(drain.is_finite() && (0.0..=MAX_DURATION_S).contains(&drain))
            {
                return invalid(format!("drain must be within 0..={MAX_DURATION_S} seconds"));
            }
        }
        let n = self.network;
        let delay_ok = |ms: f64| ms.is_finite() && (0.0..=10_000.0).contains(&ms);
        if !delay_ok(n.backoff_ms) || !delay_ok(n.propagation_ms) || n.mining_slot_ms > 60_000 {
            return invalid(
                "network: backoff_ms and propagation_ms within 0..=10000, mining_slot_ms at most 60000"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_and_defaults() {
        let s = Scenario::beijing_peak(60.0);
        assert_eq!(Scenario::from_toml(&s.to_toml()).unwrap(), s);
        let text = r#"
            duration_s = 30
            structure = "cross-domain"
            grid = { rows = 2, cols = 2, highways_per_edge = 3 }
            traffic = { profile = [[0.0, 3000.0], [8.0, 15000.0], [24.0, 3000.0]], start_hour = 7.5 }
            policy = { kind = "adaptive" }
        "#;
        let s = Scenario::from_toml(text).unwrap();
        assert_eq!(s.structure, Structure::CrossDomain);
        assert_eq!(s.difficulty_bits, 10);
        assert_eq!(s.network, NetworkModel::default());
        assert!((s.vehicles_per_hour_at(0.0) - 14_250.0).abs() < 1e-6);
        assert_eq!(s.peak_vehicles_per_hour(), 15_000.0);
        assert_eq!(s.initial_period().unwrap().seconds(), 0.5);
    }

    proptest::proptest! {
        #[test]
        fn valid_scenarios_round_trip_through_toml(
            seed in proptest::prelude::any::<u64>(),
            rows in 1u32..6, cols in 2u32..6, highways in 1u32..10,
            duration in 0.0f64..86_400.0, vph in 0.0f64..100_000.0,
            period in 0.01f64..10.0, bits in 1u8..32, adaptive in proptest::prelude::any::<bool>(),
        ) {
            let mut s = Scenario::beijing_peak(duration);
            s.seed = seed;
            s.grid = GridSpec { rows, cols, highways_per_edge: highways };
            s.traffic = Traffic::Constant { vehicles_per_hour: vph };
            s.difficulty_bits = bits;
            s.policy = if adaptive {
                PolicySpec::Adaptive { candidates_s: vec![period, period * 2.0], time_constant_s: 5.0 }
            } else {
                PolicySpec::Fixed { period_s: period }
            };
            proptest::prop_assert!(s.validate().is_ok());
            proptest::prop_assert_eq!(Scenario::from_toml(&s.to_toml()).unwrap(), s);
        }
    }

    #[test]
    fn bad_scenarios_are_refused_with_a_reason() {
        let base = Scenario::beijing_peak(10.0);
        let mut bad = base.clone();
        bad.grid.rows = 0;
        assert!(matches!(bad.validate(), Err(ScenarioError::Invalid(m)) if m.contains("grid")));
        let mut bad = base.clone();
        bad.duration_s = f64::NAN;
        assert!(bad.validate().is_err());
        let mut bad = base.clone();
        bad.policy = PolicySpec::Fixed { period_s: -1.0 };
        assert!(bad.validate().is_err());
        let mut bad = base;
        bad.traffic = Traffic::Profile {
            profile: vec![(5.0, 1.0), (2.0, 1.0)],
            start_hour: 0.0,
        };
        assert!(bad.validate().is_err());
        assert!(matches!(
            Scenario::from_toml("duration_s = 'x'"),
            Err(ScenarioError::Parse(_))
        ));
        assert!(matches!(
            Scenario::from_toml(&"#".repeat(MAX_SCENARIO_BYTES + 1)),
            Err(ScenarioError::TooLarge(_))
        ));
    }
}
