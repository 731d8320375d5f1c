//! Choosing the collection period: Eq. (6) and Algorithm 3 as the paper states them, and
//! the delay-aware objective of `docs/deviations.md`, decision 4.

use serde::Serialize;

use crate::CollectionPeriod;
use crate::cost::{CostModel, Structure};
use crate::traffic::transactions_all;

/// The traffic a period is chosen for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Vehicles per hour on each flow (`nH`).
    pub vehicles_per_hour: f64,
    /// Number of flows crossing borders (`nR`; 120 in the paper's Beijing).
    pub flows: u32,
    /// The structure processing the transfers.
    pub structure: Structure,
}

/// One candidate period, priced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Evaluation {
    /// The period, seconds.
    pub period_s: f64,
    /// Expected transactions per period, Eq. (5).
    pub transactions: f64,
    /// Processing of one period's transactions, Eqs. (2)-(4).
    pub processing_s: f64,
    /// Eq. (6): processing per second of operation.
    pub cost_per_second_s: f64,
    /// Mean delay from a crossing until its keys reach the destination SM: half the period
    /// waiting for it to close, plus the processing of its block.
    pub mean_delay_s: f64,
    /// 95th percentile of that delay (a conservative bound: the 95th percentile of the
    /// wait plus the processing of a 95th-percentile Poisson number of transactions).
    pub p95_delay_s: f64,
    /// Whether processing keeps up: one period's processing takes no longer than the period.
    /// Otherwise blocks queue without bound, and the period is never chosen.
    pub feasible: bool,
}

/// `ln P(Poisson(mean) = k)` for `k` of at least a few hundred, by Stirling's series for
/// `ln k!`, written so that no two large terms cancel (`k ln(mean/k) + k - mean` instead
/// of `k ln mean - mean - k ln k + k`).
fn ln_poisson_pmf(mean: f64, k: f64) -> f64 {
    k * ((mean - k) / k).ln_1p() + (k - mean)
        - 0.5 * (2.0 * std::f64::consts::PI * k).ln()
        - 1.0 / (12.0 * k)
        + 1.0 / (360.0 * k * k * k)
}

/// Smallest `k` with `P(Poisson(mean) <= k) >= p`, computed in log space. For a large
/// mean the sum starts 20 standard deviations below it (the mass below is under 1e-80),
/// so the work grows with the square root of the mean, not with the mean.
pub fn poisson_quantile(mean: f64, p: f64) -> f64 {
    if !(mean.is_finite() && mean > 0.0) {
        return 0.0;
    }
    let mut k = if mean > 1_000.0 {
        (mean - 20.0 * mean.sqrt()).floor()
    } else {
        0.0
    };
    let mut log_pmf = if k > 0.0 {
        ln_poisson_pmf(mean, k)
    } else {
        -mean
    };
    let mut cdf = 0.0;
    let limit = mean + 20.0 * mean.sqrt() + 20.0;
    while k < limit {
        cdf += log_pmf.exp();
        if cdf >= p {
            return k;
        }
        k += 1.0;
        log_pmf += ((mean - k) / k).ln_1p();
    }
    k
}

/// Prices `period` for `load`.
pub fn evaluate<M: CostModel + ?Sized>(
    model: &M,
    load: &Load,
    period: CollectionPeriod,
) -> Evaluation {
    let t = period.seconds();
    let transactions = transactions_all(load.vehicles_per_hour, period, load.flows);
    let processing_s = model.processing_s(load.structure, transactions);
    let p95_transactions = poisson_quantile(transactions, 0.95);
    Evaluation {
        period_s: t,
        transactions,
        processing_s,
        cost_per_second_s: processing_s / t,
        mean_delay_s: t / 2.0 + processing_s,
        p95_delay_s: 0.95 * t + model.processing_s(load.structure, p95_transactions),
        feasible: processing_s <= t,
    }
}

/// What a period is chosen to minimise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Eq. (6): processing time per second (the paper's Algorithm 3).
    #[default]
    Paper,
    /// Mean delay from a crossing until the keys reach the destination.
    Delay,
}

impl Objective {
    /// The value minimised.
    pub fn score(self, e: &Evaluation) -> f64 {
        match self {
            Self::Paper => e.cost_per_second_s,
            Self::Delay => e.mean_delay_s,
        }
    }
}

/// The candidates priced, and the index of the best feasible one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Optimum {
    /// Index into the candidates of the best period; `None` if none is feasible.
    pub best: Option<usize>,
    /// Every candidate, priced, in the candidates' order.
    pub table: Vec<Evaluation>,
}

/// Index of the feasible evaluation with the lowest score (the first on ties).
pub fn best_feasible(table: &[Evaluation], objective: Objective) -> Option<usize> {
    table
        .iter()
        .enumerate()
        .filter(|(_, e)| e.feasible)
        .min_by(|(_, a), (_, b)| objective.score(a).total_cmp(&objective.score(b)))
        .map(|(i, _)| i)
}

/// Prices every candidate and picks the best feasible one under `objective`.
pub fn optimise<M: CostModel + ?Sized>(
    model: &M,
    load: &Load,
    candidates: &[CollectionPeriod],
    objective: Objective,
) -> Optimum {
    let table: Vec<Evaluation> = candidates
        .iter()
        .map(|&p| evaluate(model, load, p))
        .collect();
    Optimum {
        best: best_feasible(&table, objective),
        table,
    }
}

/// Algorithm 3 of Lei et al.: Eq. (6) for every candidate period at traffic `nH`, and the
/// argmin. As everywhere in vkm, periods whose processing exceeds the period are not
/// candidates (`docs/deviations.md`).
pub fn algorithm3<M: CostModel + ?Sized>(
    model: &M,
    load: &Load,
    candidates: &[CollectionPeriod],
) -> Option<CollectionPeriod> {
    let best = optimise(model, load, candidates, Objective::Paper).best?;
    candidates.get(best).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_quantiles() {
        assert_eq!(poisson_quantile(0.0, 0.95), 0.0);
        // Known values: Poisson(4) 95% quantile is 8; Poisson(100) is 117.
        assert_eq!(poisson_quantile(4.0, 0.95), 8.0);
        assert_eq!(poisson_quantile(100.0, 0.95), 117.0);
        // Large means do not underflow: close to mean + 1.645 sqrt(mean).
        let q = poisson_quantile(10_000.0, 0.95);
        assert!((q - 10_165.0).abs() < 3.0, "{q}");
        // Either side of where the sum starts below the mean, the same quantile.
        let below = poisson_quantile(1_000.0, 0.95);
        let above = poisson_quantile(1_000.000_001, 0.95);
        assert_eq!(below, above);
        assert_eq!(below, 1_052.0);
        // A huge mean answers at once (the work follows the square root).
        let q = poisson_quantile(1e12, 0.95);
        assert!((q - (1e12 + 1.644_854 * 1e6)).abs() < 10.0, "{q}");
    }
}
