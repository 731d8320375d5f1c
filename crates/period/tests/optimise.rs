//! Algorithm 3 against brute force, the paper's Figs. 12-13 with its calibration, the
//! delay objective, monotone costs, feasibility, and the adaptive policy.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use vkm_period::{
    AdaptivePolicy, Calibration, CollectionPeriod, CostModel, Load, Objective, PeriodPolicy,
    PrepModel, Structure, TimeElements, algorithm3, evaluate, optimise,
};

fn candidates() -> Vec<CollectionPeriod> {
    CollectionPeriod::range(0.5, 1.0, 0.1).unwrap()
}

fn load(vehicles_per_hour: f64) -> Load {
    Load {
        vehicles_per_hour,
        flows: 120,
        structure: Structure::Blockchain,
    }
}

/// A calibration of the shape `vkm calibrate` writes (linear preparation), with costs of
/// the order measured on the development machine.
fn measured_like() -> TimeElements {
    TimeElements {
        encrypt_s: 500e-6,
        decrypt_s: 390e-6,
        sign_s: 126e-6,
        verify_s: 76e-6,
        mining_s: 160e-6,
        backoff_s: 0.0005,
        propagation_s: 0.0001,
        prep: PrepModel::Linear {
            fixed_s: 4e-6,
            per_transaction_s: 0.25e-6,
        },
    }
}

#[test]
fn range_parsing() {
    let periods: Vec<f64> = candidates().iter().map(|p| p.seconds()).collect();
    assert_eq!(periods.len(), 6);
    assert!((periods[5] - 1.0).abs() < 1e-9);
    assert!(CollectionPeriod::range(1.0, 0.5, 0.1).is_err());
    assert!(CollectionPeriod::range(0.5, 1.0, 0.0).is_err());
    assert!(CollectionPeriod::new(0.0).is_err());
}

#[test]
fn fig12_longest_period_off_peak_short_one_saturated() {
    let paper = Calibration::paper();
    let off_peak = algorithm3(&paper, &load(3_000.0), &candidates()).unwrap();
    let saturated = algorithm3(&paper, &load(15_000.0), &candidates()).unwrap();
    assert_eq!(off_peak.seconds(), 1.0);
    assert!(saturated.seconds() <= 0.6, "{saturated:?}");
}

#[test]
fn fig13_dynamic_choice_never_worse_than_a_fixed_period() {
    let paper = Calibration::paper();
    for vph in (3_000..=15_000).step_by(1_000) {
        let l = load(f64::from(vph));
        let chosen = evaluate(&paper, &l, algorithm3(&paper, &l, &candidates()).unwrap());
        for &fixed in &candidates() {
            let e = evaluate(&paper, &l, fixed);
            assert!(
                chosen.cost_per_second_s <= e.cost_per_second_s + 1e-12,
                "{vph}: {chosen:?} vs {e:?}"
            );
        }
    }
}

#[test]
fn delay_objective_picks_the_feasible_period_with_least_delay() {
    let measured = measured_like();
    for vph in [3_000.0, 9_000.0, 15_000.0, 60_000.0] {
        let optimum = optimise(&measured, &load(vph), &candidates(), Objective::Delay);
        let best = &optimum.table[optimum.best.unwrap()];
        assert!(best.feasible);
        for e in optimum.table.iter().filter(|e| e.feasible) {
            assert!(best.mean_delay_s <= e.mean_delay_s);
        }
        // With linear costs, waiting dominates: the shortest period has the least delay.
        assert_eq!(best.period_s, 0.5);
    }
    // Paper's objective with linear costs favours the longest period (`docs/deviations.md`, decision 4).
    let paper_choice = algorithm3(&measured, &load(15_000.0), &candidates()).unwrap();
    assert_eq!(paper_choice.seconds(), 1.0);
}

#[test]
fn infeasible_periods_are_never_chosen() {
    // The paper's calibration at 4x saturated traffic: a 1 s block takes far more than 1 s.
    let paper = Calibration::paper();
    let optimum = optimise(&paper, &load(60_000.0), &candidates(), Objective::Paper);
    assert!(optimum.table.iter().any(|e| !e.feasible));
    if let Some(best) = optimum.best {
        assert!(optimum.table[best].feasible);
    }
    let hopeless = optimise(&paper, &load(1e7), &candidates(), Objective::Delay);
    assert_eq!(hopeless.best, None);
}

fn elements() -> impl Strategy<Value = TimeElements> {
    let t = || 0.0f64..0.01;
    let prep = prop_oneof![
        (t(), 0.0f64..1e-4).prop_map(|(fixed_s, per_transaction_s)| PrepModel::Linear {
            fixed_s,
            per_transaction_s
        }),
        (t(), 0.0f64..0.01).prop_map(|(scale_s, rate_per_transaction)| PrepModel::Exponential {
            scale_s,
            rate_per_transaction
        }),
    ];
    (t(), t(), t(), t(), t(), t(), t(), prep).prop_map(|(e, d, s, v, m, bo, p, prep)| {
        TimeElements {
            encrypt_s: e,
            decrypt_s: d,
            sign_s: s,
            verify_s: v,
            mining_s: m,
            backoff_s: bo,
            propagation_s: p,
            prep,
        }
    })
}

fn structure() -> impl Strategy<Value = Structure> {
    prop_oneof![
        Just(Structure::Blockchain),
        Just(Structure::SameDomain),
        Just(Structure::CrossDomain)
    ]
}

proptest! {
    #[test]
    fn algorithm3_is_the_brute_force_argmin(
        model in elements(),
        vph in 0.0f64..30_000.0,
        flows in 1u32..300,
        structure in structure(),
        periods in proptest::collection::vec(0.05f64..3.0, 1..12),
    ) {
        let candidates: Vec<_> = periods.iter().map(|&p| CollectionPeriod::new(p).unwrap()).collect();
        let l = Load { vehicles_per_hour: vph, flows, structure };
        let mut brute: Option<(f64, f64)> = None;
        for &c in &candidates {
            let n = vph / 3600.0 * c.seconds() * f64::from(flows);
            let processing = model.processing_s(structure, n);
            if processing > c.seconds() {
                continue;
            }
            let cost = processing / c.seconds();
            if brute.is_none_or(|(best, _)| cost < best) {
                brute = Some((cost, c.seconds()));
            }
        }
        prop_assert_eq!(algorithm3(&model, &l, &candidates).map(|p| p.seconds()), brute.map(|(_, p)| p));
    }

    #[test]
    fn costs_grow_with_transactions(model in elements(), structure in structure(), a in 0.0f64..2000.0, b in 0.0f64..2000.0) {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(model.processing_s(structure, low) <= model.processing_s(structure, high));
    }

    #[test]
    fn no_objective_chooses_an_infeasible_period(
        model in elements(),
        vph in 0.0f64..100_000.0,
        structure in structure(),
        delay in any::<bool>(),
    ) {
        let objective = if delay { Objective::Delay } else { Objective::Paper };
        let optimum = optimise(&model, &Load { vehicles_per_hour: vph, flows: 120, structure }, &candidates(), objective);
        if let Some(best) = optimum.best {
            prop_assert!(optimum.table[best].feasible);
        } else {
            prop_assert!(optimum.table.iter().all(|e| !e.feasible));
        }
    }
}

/// Poisson-distributed crossings per period (normal approximation, fine at these rates).
fn crossings(rng: &mut StdRng, mean: f64) -> u64 {
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (mean + mean.sqrt() * z).round().max(0.0) as u64
}

#[test]
fn adaptive_policy_follows_traffic_without_oscillating() {
    let paper = Calibration::paper();
    let mut policy = AdaptivePolicy::new(
        paper.clone(),
        candidates(),
        Objective::Paper,
        120,
        Structure::Blockchain,
    )
    .unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let mut period = policy.current();
    let mut run = |policy: &mut AdaptivePolicy<Calibration>,
                   period: &mut CollectionPeriod,
                   vph: f64,
                   seconds: f64| {
        let mut t = 0.0;
        let mut switches = 0;
        while t < seconds {
            let mean = vph / 3600.0 * 120.0 * period.seconds();
            let next = policy.next_period(crossings(&mut rng, mean), *period);
            if next != *period {
                switches += 1;
            }
            t += period.seconds();
            *period = next;
        }
        switches
    };
    // Off-peak for ten minutes: settles on what Algorithm 3 picks for the true traffic.
    run(&mut policy, &mut period, 3_000.0, 300.0);
    let settled = run(&mut policy, &mut period, 3_000.0, 300.0);
    assert_eq!(settled, 0, "no switching at constant traffic");
    assert_eq!(
        Some(period),
        algorithm3(&paper, &load(3_000.0), &candidates())
    );
    // Rush hour: moves to Algorithm 3's choice for saturated traffic, then stays.
    run(&mut policy, &mut period, 15_000.0, 600.0);
    let settled = run(&mut policy, &mut period, 15_000.0, 300.0);
    assert_eq!(settled, 0, "no switching at constant traffic");
    assert_eq!(
        Some(period),
        algorithm3(&paper, &load(15_000.0), &candidates())
    );
    let estimate = policy.estimated_vehicles_per_hour().unwrap();
    assert!((estimate - 15_000.0).abs() < 750.0, "{estimate}");
}
