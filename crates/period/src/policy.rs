//! Collection-period policies for a security manager: fixed, or adaptive (the crossing
//! rate estimated online, the next period chosen by an objective, with hysteresis).

use crate::CollectionPeriod;
use crate::cost::{CostModel, Structure};
use crate::objective::{Load, Objective, best_feasible, evaluate};

/// Chooses each next collection period: the seam between a security manager and the
/// optimiser.
pub trait PeriodPolicy {
    /// Called when a period closes, with the crossings (transactions) it collected;
    /// returns the length of the next period.
    fn next_period(&mut self, crossings: u64, closed: CollectionPeriod) -> CollectionPeriod;
}

/// Always the same period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixedPolicy(pub CollectionPeriod);

impl PeriodPolicy for FixedPolicy {
    fn next_period(&mut self, _crossings: u64, _closed: CollectionPeriod) -> CollectionPeriod {
        self.0
    }
}

/// Estimates the network's crossing rate with an exponentially weighted moving average
/// (time constant `time_constant_s`, so estimates weigh time, not periods), and moves to
/// the candidate the objective prefers only when it beats the current period by more than
/// `hysteresis` (relative), or when the current period can no longer keep up. That keeps
/// it from flapping between two near-equal periods on noise. The first estimate picks the
/// best period outright.
#[derive(Debug, Clone)]
pub struct AdaptivePolicy<M> {
    model: M,
    candidates: Vec<CollectionPeriod>,
    objective: Objective,
    flows: u32,
    structure: Structure,
    time_constant_s: f64,
    hysteresis: f64,
    rate_per_second: Option<f64>,
    current: usize,
}

impl<M: CostModel> AdaptivePolicy<M> {
    /// A policy over `candidates` (non-empty; it starts at the first), for `flows` flows
    /// in `structure`, with a 60 s time constant and 5 % hysteresis.
    pub fn new(
        model: M,
        candidates: Vec<CollectionPeriod>,
        objective: Objective,
        flows: u32,
        structure: Structure,
    ) -> Option<Self> {
        if candidates.is_empty() {
            return None;
        }
        Some(Self {
            model,
            candidates,
            objective,
            flows: flows.max(1),
            structure,
            time_constant_s: 60.0,
            hysteresis: 0.05,
            rate_per_second: None,
            current: 0,
        })
    }

    /// Sets the averaging time constant (seconds, positive).
    pub fn with_time_constant(mut self, seconds: f64) -> Self {
        if seconds.is_finite() && seconds > 0.0 {
            self.time_constant_s = seconds;
        }
        self
    }

    /// Sets the relative improvement needed to switch (`0.0..1.0`).
    pub fn with_hysteresis(mut self, fraction: f64) -> Self {
        if (0.0..1.0).contains(&fraction) {
            self.hysteresis = fraction;
        }
        self
    }

    /// The estimated traffic per flow, vehicles per hour.
    pub fn estimated_vehicles_per_hour(&self) -> Option<f64> {
        self.rate_per_second
            .map(|r| r * 3600.0 / f64::from(self.flows))
    }

    /// The period in force.
    pub fn current(&self) -> CollectionPeriod {
        self.candidates[self.current]
    }
}

impl<M: CostModel> PeriodPolicy for AdaptivePolicy<M> {
    fn next_period(&mut self, crossings: u64, closed: CollectionPeriod) -> CollectionPeriod {
        let observed = crossings as f64 / closed.seconds();
        let first = self.rate_per_second.is_none();
        let rate = match self.rate_per_second {
            None => observed,
            Some(rate) => {
                rate + (1.0 - (-closed.seconds() / self.time_constant_s).exp()) * (observed - rate)
            }
        };
        self.rate_per_second = Some(rate);
        let load = Load {
            vehicles_per_hour: rate * 3600.0 / f64::from(self.flows),
            flows: self.flows,
            structure: self.structure,
        };
        let table: Vec<_> = self
            .candidates
            .iter()
            .map(|&p| evaluate(&self.model, &load, p))
            .collect();
        if let Some(best) = best_feasible(&table, self.objective) {
            let current = &table[self.current];
            let gain = self.objective.score(&table[best])
                < self.objective.score(current) * (1.0 - self.hysteresis);
            if first || !current.feasible || gain {
                self.current = best;
            }
        } else {
            // Nothing keeps up: take the least loaded period (smallest processing share).
            if let Some((i, _)) = table
                .iter()
                .enumerate()
                .min_by(|(_, a), (_, b)| a.cost_per_second_s.total_cmp(&b.cost_per_second_s))
            {
                self.current = i;
            }
        }
        self.current()
    }
}

/// How each next collection period is chosen, as a scenario or a node's configuration
/// writes it (`kind = "fixed" | "algorithm3" | "adaptive"`): one description for the
/// simulator, the in-process network and the peer-to-peer node.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PolicySpec {
    /// Always `period_s`.
    Fixed {
        /// The period, seconds.
        period_s: f64,
    },
    /// Algorithm 3 (Eq. 6) once, for the expected traffic, over `candidates_s`.
    Algorithm3 {
        /// Candidate periods, seconds.
        #[serde(default = "default_candidates")]
        candidates_s: Vec<f64>,
    },
    /// The adaptive policy (Lei et al. IV.E): the crossing rate estimated online, the
    /// period re-chosen by Eq. (6) at every period end.
    Adaptive {
        /// Candidate periods, seconds.
        #[serde(default = "default_candidates")]
        candidates_s: Vec<f64>,
        /// Time constant of the rate estimate, seconds.
        #[serde(default = "default_time_constant")]
        time_constant_s: f64,
    },
}

/// The candidate periods of Lei et al.'s evaluation, seconds.
pub fn default_candidates() -> Vec<f64> {
    vec![0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
}

fn default_time_constant() -> f64 {
    10.0
}

/// Why a [`PolicySpec`] cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("period policy: {0}")]
pub struct PolicyError(String);

impl PolicySpec {
    /// The first collection period.
    pub fn initial_period(&self) -> Result<CollectionPeriod, PolicyError> {
        let seconds = match self {
            Self::Fixed { period_s } => *period_s,
            Self::Algorithm3 { candidates_s } | Self::Adaptive { candidates_s, .. } => {
                candidates_s.first().copied().unwrap_or(1.0)
            }
        };
        CollectionPeriod::new(seconds).map_err(|e| PolicyError(e.to_string()))
    }

    /// The longest period it may choose, seconds.
    pub fn longest_s(&self) -> f64 {
        match self {
            Self::Fixed { period_s } => *period_s,
            Self::Algorithm3 { candidates_s } | Self::Adaptive { candidates_s, .. } => {
                candidates_s.iter().copied().fold(0.0, f64::max)
            }
        }
    }

    /// Checks every value's range.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let periods_ok = |p: &[f64]| {
            !p.is_empty() && p.len() <= 64 && p.iter().all(|&s| CollectionPeriod::new(s).is_ok())
        };
        match self {
            Self::Fixed { period_s } if CollectionPeriod::new(*period_s).is_err() => Err(
                PolicyError(format!("period_s {period_s} is not a valid period")),
            ),
            Self::Algorithm3 { candidates_s } if !periods_ok(candidates_s) => Err(PolicyError(
                "candidates_s must be 1..=64 valid periods".into(),
            )),
            Self::Adaptive {
                candidates_s,
                time_constant_s,
            } if !(periods_ok(candidates_s)
                && time_constant_s.is_finite()
                && *time_constant_s > 0.0) =>
            {
                Err(PolicyError(
                    "candidates_s must be 1..=64 valid periods and time_constant_s positive".into(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The policy a security manager runs, priced by `model`: Algorithm 3 chooses once
    /// for `load` (the expected traffic), the adaptive policy starts from the first
    /// candidate and follows the observed rate over `load.flows` flows.
    pub fn build<M: CostModel + Send + 'static>(
        &self,
        model: M,
        load: &Load,
    ) -> Result<Box<dyn PeriodPolicy + Send>, PolicyError> {
        self.validate()?;
        let periods = |seconds: &[f64]| -> Result<Vec<CollectionPeriod>, PolicyError> {
            seconds
                .iter()
                .map(|&s| CollectionPeriod::new(s).map_err(|e| PolicyError(e.to_string())))
                .collect()
        };
        Ok(match self {
            Self::Fixed { .. } => Box::new(FixedPolicy(self.initial_period()?)),
            Self::Algorithm3 { candidates_s } => {
                let candidates = periods(candidates_s)?;
                let chosen = crate::algorithm3(&model, load, &candidates)
                    .unwrap_or_else(|| candidates[candidates.len() - 1]);
                Box::new(FixedPolicy(chosen))
            }
            Self::Adaptive {
                candidates_s,
                time_constant_s,
            } => Box::new(
                AdaptivePolicy::new(
                    model,
                    periods(candidates_s)?,
                    Objective::Paper,
                    load.flows,
                    load.structure,
                )
                .ok_or_else(|| PolicyError("no candidate periods".into()))?
                .with_time_constant(*time_constant_s),
            ),
        })
    }
}
