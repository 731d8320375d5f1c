//! Faults a run injects into the links between security managers and into the managers
//! themselves: lost, duplicated and late messages, partitions, crashes. The drivers (the
//! simulator and the in-process network) ask [`Faults::copies`] how each message
//! travels and [`Faults::is_down`] whether a manager runs; the protocol's answer to them
//! (catching up, rebroadcasts) lives in the security manager itself.
//!
//! The command-line forms are `--partition "1,2,3|4,5,6@START:END"` and
//! `--crash "SM@START:END"`, seconds from the start of traffic ([`Partition`] and
//! [`Crash`] parse them).

use std::str::FromStr;

use rand::{Rng, RngExt};
use vkm_block::MemberId;

/// Longest time a fault can be scheduled at, seconds (one day, the longest run).
pub const MAX_FAULT_TIME_S: f64 = 86_400.0;

/// Longest extra delay, ms.
pub const MAX_JITTER_MS: f64 = 10_000.0;

/// Most partitions or crashes in one run.
pub const MAX_FAULT_EVENTS: usize = 64;

/// A fault specification that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FaultError {
    /// A probability outside `[0, 1)` (a link that loses everything is not a link).
    #[error("{name} must be a probability in [0, 1), not {value}")]
    Probability {
        /// `loss` or `duplicate`.
        name: &'static str,
        /// The value given.
        value: String,
    },
    /// Jitter outside `0..=MAX_JITTER_MS`.
    #[error("jitter must be 0..={MAX_JITTER_MS} ms, not {0}")]
    Jitter(String),
    /// A partition or crash that does not parse.
    #[error("{what} {text:?}: {why} (expected {expected})")]
    Syntax {
        /// `partition` or `crash`.
        what: &'static str,
        /// The text given.
        text: String,
        /// What is wrong.
        why: String,
        /// The form expected.
        expected: &'static str,
    },
    /// A partition or crash names a security manager the run does not have.
    #[error("{what} names security manager {id}, which this run does not have")]
    UnknownManager {
        /// `partition` or `crash`.
        what: &'static str,
        /// The id.
        id: u32,
    },
    /// Two crashes of one security manager overlap.
    #[error("crashes of security manager {0} overlap: it can only be down once at a time")]
    OverlappingCrashes(u32),
    /// More partitions or crashes than [`MAX_FAULT_EVENTS`].
    #[error("at most {MAX_FAULT_EVENTS} partitions and {MAX_FAULT_EVENTS} crashes")]
    TooMany,
}

/// A time window, seconds from the start of traffic: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// When it begins.
    pub start_s: f64,
    /// When it ends.
    pub end_s: f64,
}

impl Window {
    /// Whether `at_s` falls in it.
    pub fn contains(&self, at_s: f64) -> bool {
        (self.start_s..self.end_s).contains(&at_s)
    }
}

/// Parses `START:END` (seconds, `0 <= START < END <= MAX_FAULT_TIME_S`).
fn window(text: &str) -> Result<Window, String> {
    let (start, end) = text
        .split_once(':')
        .ok_or_else(|| "no START:END".to_string())?;
    let number = |s: &str| {
        s.trim()
            .parse::<f64>()
            .map_err(|_| format!("{s:?} is not a number of seconds"))
    };
    let (start_s, end_s) = (number(start)?, number(end)?);
    if !(start_s.is_finite() && end_s.is_finite() && 0.0 <= start_s && start_s < end_s)
        || end_s > MAX_FAULT_TIME_S
    {
        return Err(format!(
            "the window must have 0 <= START < END <= {MAX_FAULT_TIME_S}"
        ));
    }
    Ok(Window { start_s, end_s })
}

/// Parses a security manager id.
fn manager(text: &str) -> Result<u32, String> {
    text.trim()
        .parse::<u32>()
        .map_err(|_| format!("{text:?} is not a security manager id"))
}

/// Two groups of security managers that cannot reach each other during a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    /// One side.
    pub left: Vec<u32>,
    /// The other side.
    pub right: Vec<u32>,
    /// When.
    pub window: Window,
}

impl Partition {
    const FORM: &'static str = "\"1,2,3|4,5,6@START:END\"";

    /// Whether a message from `a` to `b` at `at_s` is cut by this partition.
    pub fn cuts(&self, a: u32, b: u32, at_s: f64) -> bool {
        self.window.contains(at_s)
            && ((self.left.contains(&a) && self.right.contains(&b))
                || (self.right.contains(&a) && self.left.contains(&b)))
    }
}

impl FromStr for Partition {
    type Err = FaultError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = |why: String| FaultError::Syntax {
            what: "partition",
            text: text.into(),
            why,
            expected: Self::FORM,
        };
        let (groups, when) = text
            .split_once('@')
            .ok_or_else(|| syntax("no @START:END".into()))?;
        let (left, right) = groups
            .split_once('|')
            .ok_or_else(|| syntax("no | between the two groups".into()))?;
        let group = |g: &str| -> Result<Vec<u32>, FaultError> {
            let ids = g
                .split(',')
                .map(manager)
                .collect::<Result<Vec<u32>, String>>()
                .map_err(syntax)?;
            if ids.is_empty() || ids.len() > 4096 {
                return Err(syntax("a group must name 1..=4096 managers".into()));
            }
            Ok(ids)
        };
        let (left, right) = (group(left)?, group(right)?);
        if left.iter().any(|id| right.contains(id)) {
            return Err(syntax("a manager is on both sides".into()));
        }
        Ok(Self {
            left,
            right,
            window: window(when).map_err(syntax)?,
        })
    }
}

/// A security manager that is down during a window: it stops, loses everything it holds
/// in memory, and restarts from its store at the window's end.
#[derive(Debug, Clone, PartialEq)]
pub struct Crash {
    /// The manager.
    pub sm: u32,
    /// When it is down.
    pub window: Window,
}

impl FromStr for Crash {
    type Err = FaultError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = |why: String| FaultError::Syntax {
            what: "crash",
            text: text.into(),
            why,
            expected: "\"SM@START:END\"",
        };
        let (sm, when) = text
            .split_once('@')
            .ok_or_else(|| syntax("no @START:END".into()))?;
        Ok(Self {
            sm: manager(sm).map_err(syntax)?,
            window: window(when).map_err(syntax)?,
        })
    }
}

/// The faults of a run. The default injects none, and then draws no randomness: a run
/// without faults is the same as before faults existed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message that is not lost arrives twice.
    pub duplicate: f64,
    /// Each copy of a message is late by a uniform extra delay up to this, ms
    /// (reordering).
    pub jitter_ms: f64,
    /// Partitions.
    pub partitions: Vec<Partition>,
    /// Crashes.
    pub crashes: Vec<Crash>,
}

/// How one message travels: the extra delays of its copies, seconds (none: lost).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Copies {
    delays: [f64; 2],
    count: usize,
}

impl Copies {
    /// The extra delay of each copy that arrives.
    pub fn delays(&self) -> &[f64] {
        &self.delays[..self.count]
    }
}

impl Faults {
    /// Faults from their command-line (and scenario file) forms: the probabilities and the
    /// jitter as numbers, each partition and crash as text ([`Partition`], [`Crash`]).
    pub fn parse<P: AsRef<str>, C: AsRef<str>>(
        loss: f64,
        duplicate: f64,
        jitter_ms: f64,
        partitions: &[P],
        crashes: &[C],
    ) -> Result<Self, FaultError> {
        Ok(Self {
            loss,
            duplicate,
            jitter_ms,
            partitions: partitions
                .iter()
                .map(|p| p.as_ref().parse())
                .collect::<Result<_, _>>()?,
            crashes: crashes
                .iter()
                .map(|c| c.as_ref().parse())
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether the run injects no fault at all.
    pub fn is_none(&self) -> bool {
        self.loss == 0.0
            && self.duplicate == 0.0
            && self.jitter_ms == 0.0
            && self.partitions.is_empty()
            && self.crashes.is_empty()
    }

    /// Whether messages can be lost (lost, cut by a partition, or sent to a manager that
    /// is down): such a run needs time to settle after its traffic.
    pub fn loses_messages(&self) -> bool {
        self.loss > 0.0 || !self.partitions.is_empty() || !self.crashes.is_empty()
    }

    /// Checks ranges, and that every manager named is one of `managers`.
    pub fn validate(&self, managers: &[MemberId]) -> Result<(), FaultError> {
        for (name, value) in [("loss", self.loss), ("duplicate", self.duplicate)] {
            if !(0.0..1.0).contains(&value) {
                return Err(FaultError::Probability {
                    name,
                    value: value.to_string(),
                });
            }
        }
        if !(0.0..=MAX_JITTER_MS).contains(&self.jitter_ms) {
            return Err(FaultError::Jitter(self.jitter_ms.to_string()));
        }
        if self.partitions.len() > MAX_FAULT_EVENTS || self.crashes.len() > MAX_FAULT_EVENTS {
            return Err(FaultError::TooMany);
        }
        let known = |what, id: u32| {
            if managers.contains(&MemberId(id)) {
                Ok(())
            } else {
                Err(FaultError::UnknownManager { what, id })
            }
        };
        for p in &self.partitions {
            for id in p.left.iter().chain(&p.right) {
                known("partition", *id)?;
            }
        }
        for (i, c) in self.crashes.iter().enumerate() {
            known("crash", c.sm)?;
            let overlaps = self.crashes[..i].iter().any(|d| {
                d.sm == c.sm
                    && d.window.start_s < c.window.end_s
                    && c.window.start_s < d.window.end_s
            });
            if overlaps {
                return Err(FaultError::OverlappingCrashes(c.sm));
            }
        }
        Ok(())
    }

    /// Whether security manager `sm` is down at `at_s`.
    pub fn is_down(&self, sm: MemberId, at_s: f64) -> bool {
        self.crashes
            .iter()
            .any(|c| c.sm == sm.0 && c.window.contains(at_s))
    }

    /// How a message sent from `from` to `to` at `at_s` travels: lost (no copy) when a
    /// partition cuts the link or with probability `loss`; else once, or twice with
    /// probability `duplicate`, each copy late by up to `jitter_ms`. Draws from `rng`
    /// only for the faults configured.
    pub fn copies<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        from: MemberId,
        to: MemberId,
        at_s: f64,
    ) -> Copies {
        let mut copies = Copies::default();
        if self.partitions.iter().any(|p| p.cuts(from.0, to.0, at_s)) {
            return copies;
        }
        if self.loss > 0.0 && rng.random_bool(self.loss) {
            return copies;
        }
        copies.count = if self.duplicate > 0.0 && rng.random_bool(self.duplicate) {
            2
        } else {
            1
        };
        if self.jitter_ms > 0.0 {
            for delay in &mut copies.delays[..copies.count] {
                *delay = rng.random_range(0.0..=self.jitter_ms) / 1000.0;
            }
        }
        copies
    }

    /// Each crash as (manager, down at, up again at), seconds.
    pub fn crash_windows(&self) -> impl Iterator<Item = (MemberId, f64, f64)> + '_ {
        self.crashes
            .iter()
            .map(|c| (MemberId(c.sm), c.window.start_s, c.window.end_s))
    }

    /// The last time a fault ends (0 without partitions and crashes), seconds.
    pub fn last_end_s(&self) -> f64 {
        self.partitions
            .iter()
            .map(|p| p.window.end_s)
            .chain(self.crashes.iter().map(|c| c.window.end_s))
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn partitions_and_crashes_parse_or_say_what_is_wrong() {
        let p: Partition = "1,2,3|4,5@10:20.5".parse().unwrap();
        assert_eq!(p.left, [1, 2, 3]);
        assert_eq!(p.right, [4, 5]);
        assert!(p.cuts(1, 4, 10.0) && p.cuts(5, 2, 20.0));
        assert!(!p.cuts(1, 2, 15.0) && !p.cuts(1, 4, 20.5) && !p.cuts(1, 4, 9.9));
        let c: Crash = "3@5:15".parse().unwrap();
        assert_eq!((c.sm, c.window.start_s, c.window.end_s), (3, 5.0, 15.0));
        for bad in [
            "1,2|3",
            "1,2@1:2",
            "1,x|3@1:2",
            "1,2|2@1:2",
            "1|2@5:1",
            "1|2@0:1e9",
        ] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
        for bad in ["3", "x@1:2", "3@2:2", "3@-1:2", "3@1:inf"] {
            assert!(bad.parse::<Crash>().is_err(), "{bad}");
        }
    }

    #[test]
    fn no_faults_draw_nothing_and_deliver_once() {
        let faults = Faults::default();
        let mut rng = StdRng::seed_from_u64(1);
        let copies = faults.copies(&mut rng, MemberId(1), MemberId(2), 3.0);
        assert_eq!(copies.delays(), [0.0]);
        let mut fresh = StdRng::seed_from_u64(1);
        assert_eq!(rng.random::<u64>(), fresh.random::<u64>(), "no draw");
    }

    #[test]
    fn loss_duplication_and_jitter_at_their_rates() {
        let faults = Faults {
            loss: 0.1,
            duplicate: 0.05,
            jitter_ms: 20.0,
            ..Faults::default()
        };
        let mut rng = StdRng::seed_from_u64(7);
        let (mut lost, mut twice) = (0, 0);
        for _ in 0..100_000 {
            let copies = faults.copies(&mut rng, MemberId(1), MemberId(2), 0.0);
            match copies.delays().len() {
                0 => lost += 1,
                2 => twice += 1,
                _ => {}
            }
            assert!(copies.delays().iter().all(|d| (0.0..=0.02).contains(d)));
        }
        assert!((9_000..11_000).contains(&lost), "{lost}");
        assert!((4_000..5_000).contains(&twice), "{twice}");
    }

    #[test]
    fn validation_names_the_problem() {
        let managers = [MemberId(1), MemberId(2)];
        let mut faults = Faults {
            loss: 1.0,
            ..Faults::default()
        };
        assert!(matches!(
            faults.validate(&managers),
            Err(FaultError::Probability { name: "loss", .. })
        ));
        faults.loss = 0.0;
        faults.crashes.push("3@1:2".parse().unwrap());
        assert!(matches!(
            faults.validate(&managers),
            Err(FaultError::UnknownManager { id: 3, .. })
        ));
        faults.crashes[0].sm = 2;
        assert!(faults.validate(&managers).is_ok());
        faults.crashes.push("2@1.5:3".parse().unwrap());
        assert_eq!(
            faults.validate(&managers),
            Err(FaultError::OverlappingCrashes(2))
        );
        faults.crashes[1] = "2@2:3".parse().unwrap();
        assert!(faults.validate(&managers).is_ok());
        faults.crashes.pop();
        assert!(faults.is_down(MemberId(2), 1.5) && !faults.is_down(MemberId(2), 2.0));
    }
}
