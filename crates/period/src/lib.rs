#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod calibration;
pub mod cost;
pub mod objective;
pub mod policy;
pub mod traffic;

pub use calibration::{Calibration, CalibrationError};
pub use cost::{CostModel, PrepModel, Structure, TimeElements};
pub use objective::{Evaluation, Load, Objective, Optimum, algorithm3, evaluate, optimise};
pub use policy::{AdaptivePolicy, FixedPolicy, PeriodPolicy, PolicyError, PolicySpec};
pub use traffic::{CrossingEvents, Grid, TrafficProfile, transactions_all, transactions_per_flow};

/// A collection period `tCP`: a positive, finite number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct CollectionPeriod(f64);

/// A collection period or a range of them is not valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PeriodError {
    /// Not a positive finite number of seconds.
    #[error("a collection period must be a positive finite number of seconds, not {0}")]
    NotPositive(f64),
    /// Outside what a security manager can run: a millisecond to an hour.
    #[error("a collection period must be within {min} s and {max} s, not {0}", min = CollectionPeriod::MIN_SECONDS, max = CollectionPeriod::MAX_SECONDS)]
    OutOfRange(f64),
    /// A range whose end is before its start, or whose step is not positive.
    #[error("invalid range {start}:{end}:{step}")]
    BadRange {
        /// First period.
        start: f64,
        /// Last period.
        end: f64,
        /// Step.
        step: f64,
    },
    /// A range of more than 10,000 periods.
    #[error("range has more than 10000 periods")]
    TooMany,
}

impl CollectionPeriod {
    /// One second: the paper's usual period.
    pub const ONE_SECOND: Self = Self(1.0);

    /// The shortest period: periods are counted in milliseconds.
    pub const MIN_SECONDS: f64 = 0.001;

    /// The longest period (the paper's are 0.5 to 1 s): longer ones would hold transfers
    /// for longer than any run lasts, and overflow the timers.
    pub const MAX_SECONDS: f64 = 3600.0;

    /// A period of `seconds`, within [`Self::MIN_SECONDS`] and [`Self::MAX_SECONDS`].
    pub fn new(seconds: f64) -> Result<Self, PeriodError> {
        if !(seconds.is_finite() && seconds > 0.0) {
            Err(PeriodError::NotPositive(seconds))
        } else if !(Self::MIN_SECONDS..=Self::MAX_SECONDS).contains(&seconds) {
            Err(PeriodError::OutOfRange(seconds))
        } else {
            Ok(Self(seconds))
        }
    }

    /// The length in seconds.
    pub fn seconds(self) -> f64 {
        self.0
    }

    /// `start, start + step, ...` up to `end` inclusive (within a millionth of a step).
    pub fn range(start: f64, end: f64, step: f64) -> Result<Vec<Self>, PeriodError> {
        let bad = PeriodError::BadRange { start, end, step };
        if !(step.is_finite() && step > 0.0 && end.is_finite() && end >= start) {
            return Err(bad);
        }
        let count = ((end - start) / step + 1e-6).floor() + 1.0;
        if count > 10_000.0 {
            return Err(PeriodError::TooMany);
        }
        (0..count as usize)
            .map(|i| Self::new(start + step * i as f64))
            .collect()
    }
}
