//! When a security manager closes a collection period and when it mines: one pure type,
//! used by the state machine ([`crate::sm::SecurityManager`]) and by the simulator's
//! model mode, so that the two cannot drift apart.
//!
//! - Periods are aligned to multiples of their length since the Unix epoch
//!   ([`period_end_after`]), so managers with the same period close it together.
//! - Each period that ends with pending transactions opens a mining round. Managers are
//!   ranked per round ([`mining_rank`]); rank `r` starts mining `r` mining slots after the
//!   period ends, unless a peer's block arrives first (which ends the round).
//! - A period that ends while this manager is still mining opens no round: the job goes
//!   on, and the transactions collected since wait for the next period.

use sha2::{Digest, Sha256};
use vkm_block::{BlockHash, MemberId, Timestamp};
use vkm_period::{CollectionPeriod, PeriodPolicy};

/// What the end of a collection period asks of the manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// No round: nothing is pending, or the manager is still mining.
    None,
    /// Rank 0: mine now.
    MineNow,
    /// Wait `slots` mining slots, then mine if round `round` is still open
    /// ([`Schedule::slot_due`]).
    Wait {
        /// The round's number.
        round: u64,
        /// The manager's rank: how many slots to wait.
        slots: u64,
    },
}

/// A closed collection period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Closed {
    /// The period that closed.
    pub length: CollectionPeriod,
    /// Transactions collected during it.
    pub collected: u64,
    /// When the next period ends.
    pub next_end: Timestamp,
    /// The mining round it opens.
    pub round: Round,
}

/// A security manager's collection periods and mining rounds.
pub struct Schedule {
    policy: Box<dyn PeriodPolicy + Send>,
    period: CollectionPeriod,
    collected: u64,
    round: u64,
    mining: bool,
    slot_ms: u64,
}

impl core::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Schedule")
            .field("period", &self.period)
            .field("collected", &self.collected)
            .field("round", &self.round)
            .field("mining", &self.mining)
            .field("slot_ms", &self.slot_ms)
            .finish_non_exhaustive()
    }
}

impl Schedule {
    /// Collecting for `period` first, then as `policy` decides; mining slots of
    /// `slot_ms` milliseconds.
    pub fn new(
        policy: Box<dyn PeriodPolicy + Send>,
        period: CollectionPeriod,
        slot_ms: u64,
    ) -> Self {
        Self {
            policy,
            period,
            collected: 0,
            round: 0,
            mining: false,
            slot_ms,
        }
    }

    /// The collection period in force.
    pub fn period(&self) -> CollectionPeriod {
        self.period
    }

    /// Transactions collected since the current period began.
    pub fn collected(&self) -> u64 {
        self.collected
    }

    /// The current round's number.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// Whether a mining job is running.
    pub fn is_mining(&self) -> bool {
        self.mining
    }

    /// Length of a mining slot, milliseconds.
    pub fn slot_ms(&self) -> u64 {
        self.slot_ms
    }

    /// When the period in force ends, seen from `now`.
    pub fn period_end(&self, now: Timestamp) -> Timestamp {
        period_end_after(now, self.period)
    }

    /// Counts one transaction collected in this period.
    pub fn collect(&mut self) {
        self.collected += 1;
    }

    /// Counts `n` transactions collected in this period (a simulator that learns of a
    /// batch at once).
    pub fn collect_many(&mut self, n: u64) {
        self.collected = self.collected.saturating_add(n);
    }

    /// The period ends at `now`: the policy chooses the next one, and a round opens if
    /// transactions are `pending` and no job is running. `rank` is asked only then.
    pub fn close_period(
        &mut self,
        now: Timestamp,
        pending: bool,
        rank: impl FnOnce() -> u64,
    ) -> Closed {
        let length = self.period;
        let collected = self.collected;
        self.period = self.policy.next_period(collected, length);
        self.collected = 0;
        let round = if !pending || self.mining {
            Round::None
        } else {
            self.round += 1;
            match rank() {
                0 => Round::MineNow,
                slots => Round::Wait {
                    round: self.round,
                    slots,
                },
            }
        };
        Closed {
            length,
            collected,
            next_end: period_end_after(now, self.period),
            round,
        }
    }

    /// When a manager of rank `slots` starts mining after a period ending at `now`.
    pub fn slot_time(&self, now: Timestamp, slots: u64) -> Timestamp {
        Timestamp(now.0 + slots * self.slot_ms)
    }

    /// Whether the mining slot of `round` is still due: the round is the current one and
    /// no job is running.
    pub fn slot_due(&self, round: u64) -> bool {
        round == self.round && !self.mining
    }

    /// A mining job started.
    pub fn started_mining(&mut self) {
        self.mining = true;
    }

    /// The running job (if any) ended: solved, or stale. Returns whether one was running.
    pub fn stopped_mining(&mut self) -> bool {
        std::mem::take(&mut self.mining)
    }

    /// The chain moved (a block connected): the round is over, and pending mining slots
    /// are for a tip that is gone. Returns whether a job was running and must be aborted
    /// (Algorithm 1).
    pub fn chain_moved(&mut self) -> bool {
        self.round += 1;
        self.stopped_mining()
    }
}

/// The next end of a period after `now`: periods are aligned to multiples of their
/// length since the Unix epoch, so security managers with the same period close it
/// together.
pub fn period_end_after(now: Timestamp, period: CollectionPeriod) -> Timestamp {
    let length = ((period.seconds() * 1000.0).round() as u64).max(1);
    Timestamp((now.0 / length + 1) * length)
}

/// The rank of security manager `me` among `managers` (which may include `me`) in the
/// mining round on `tip` at `height`: its position when they are ordered by
/// `SHA-256(tip || height || id)`. Rank `r` starts mining `r` mining slots after the
/// period ends; every manager computes the same order.
pub fn mining_rank(
    tip: &BlockHash,
    height: u64,
    me: MemberId,
    managers: impl IntoIterator<Item = MemberId>,
) -> u64 {
    let key = |id: MemberId| {
        Sha256::new()
            .chain_update(tip.0)
            .chain_update(height.to_le_bytes())
            .chain_update(id.0.to_le_bytes())
            .finalize()
    };
    let mine = key(me);
    managers
        .into_iter()
        .filter(|&id| id != me && key(id) < mine)
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use vkm_period::FixedPolicy;

    fn schedule() -> Schedule {
        let period = CollectionPeriod::new(1.0).expect("period");
        Schedule::new(Box::new(FixedPolicy(period)), period, 100)
    }

    #[test]
    fn a_round_opens_only_with_pending_transactions_and_no_running_job() {
        let mut s = schedule();
        s.collect();
        let closed = s.close_period(Timestamp(1_000), false, || unreachable!());
        assert_eq!(closed.round, Round::None);
        assert_eq!(closed.collected, 1);
        assert_eq!(closed.next_end, Timestamp(2_000));
        assert_eq!(s.collected(), 0);

        assert_eq!(
            s.close_period(Timestamp(2_000), true, || 0).round,
            Round::MineNow
        );
        s.started_mining();
        // Still mining: the period closes, no round opens, the rank is not asked.
        let closed = s.close_period(Timestamp(3_000), true, || unreachable!());
        assert_eq!(closed.round, Round::None);
        assert!(s.stopped_mining());
        let closed = s.close_period(Timestamp(4_000), true, || 3);
        assert_eq!(closed.round, Round::Wait { round: 2, slots: 3 });
        assert_eq!(s.slot_time(Timestamp(4_000), 3), Timestamp(4_300));
        assert!(s.slot_due(2));
    }

    #[test]
    fn a_moved_chain_ends_the_round_and_aborts_the_job() {
        let mut s = schedule();
        let Round::Wait { round, .. } = s.close_period(Timestamp(1_000), true, || 1).round else {
            panic!("rank 1 waits");
        };
        assert!(!s.chain_moved(), "nothing was mining");
        assert!(!s.slot_due(round), "the slot is for a tip that is gone");
        s.started_mining();
        assert!(s.chain_moved(), "the job is aborted");
        assert!(!s.is_mining());
    }

    #[test]
    fn periods_align_to_their_length() {
        let half = CollectionPeriod::new(0.5).expect("period");
        assert_eq!(period_end_after(Timestamp(1_234), half), Timestamp(1_500));
        assert_eq!(period_end_after(Timestamp(1_500), half), Timestamp(2_000));
    }
}
