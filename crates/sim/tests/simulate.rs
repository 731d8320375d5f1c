//! The simulator end to end: the real security managers under virtual time, the model,
//! reproducibility, policies and replayed events.

use vkm_period::{Calibration, CollectionPeriod, Load, algorithm3};
use vkm_sim::scenario::{PolicySpec, Traffic};
use vkm_sim::traffic::Crossing;
use vkm_sim::{Mode, Run, Scenario, Structure, simulate};

/// `scenario` in `mode` with the paper's calibration and generated traffic.
fn run_paper(scenario: &Scenario, mode: Mode) -> Run {
    simulate(scenario, mode, &Calibration::paper(), None, &mut |_| {}).expect("simulation")
}

fn light(duration_s: f64, vehicles_per_hour: f64) -> Scenario {
    let mut s = Scenario::beijing_peak(duration_s);
    s.traffic = Traffic::Constant { vehicles_per_hour };
    s.vehicles.per_district = 20;
    s
}

#[test]
fn measured_blockchain_admits_every_crossing_through_real_blocks() {
    let scenario = light(3.0, 3_000.0);
    let run = run_paper(&scenario, Mode::Measured);
    let s = &run.summary;
    assert!(s.crossings > 200, "{s:?}");
    assert_eq!(s.key_transfers, s.crossings, "{s:?}");
    assert_eq!(s.refused, 0);
    assert!(s.blocks >= 3, "{s:?}");
    // Every admitted transfer went through a block of the chain that SM 1 holds.
    let in_blocks: usize = run.metrics.blocks.iter().map(|b| b.transactions).sum();
    assert_eq!(in_blocks as u64, s.key_transfers);
    assert!(
        run.metrics
            .blocks
            .iter()
            .all(|b| b.mining_s > 0.0 && b.preparation_s > 0.0)
    );
    assert!(
        run.metrics
            .blocks
            .windows(2)
            .all(|w| w[0].height + 1 == w[1].height)
    );
    // A crossing waits for its period to close, then a block: under two periods.
    assert!(s.delay_s_mean > 0.0 && s.delay_s_max < 2.0, "{s:?}");
    assert!(!run.metrics.periods.is_empty());
}

#[test]
fn measured_traditional_structures_relay_through_central_managers() {
    let mut same = light(2.0, 3_000.0);
    same.structure = Structure::SameDomain;
    let mut cross = same.clone();
    cross.structure = Structure::CrossDomain;
    let same = run_paper(&same, Mode::Measured);
    let cross = run_paper(&cross, Mode::Measured);
    for run in [&same, &cross] {
        assert_eq!(run.summary.key_transfers, run.summary.crossings);
        assert_eq!(run.summary.blocks, 0);
    }
    // The cross-domain path has one more hop with its own decrypt, re-encrypt and sign
    // (the per-transfer work, not the period, is what these delays are).
    assert!(same.summary.delay_s_mean < 0.5);
    assert!(
        cross.summary.delay_s_p50 > same.summary.delay_s_p50,
        "{:?} vs {:?}",
        cross.summary,
        same.summary
    );
}

/// Both cost modes take the security manager's decisions with one `Schedule`: on the same
/// seed and traffic they open the same mining rounds and mine the same number of blocks.
#[test]
fn model_and_measured_open_the_same_rounds_and_mine_the_same_blocks() {
    let scenario = light(4.0, 1_000.0);
    let measured = run_paper(&scenario, Mode::Measured);
    let model = run_paper(&scenario, Mode::Model);
    let (a, b) = (&measured.summary, &model.summary);
    assert_eq!(a.crossings, b.crossings, "same traffic");
    assert!(a.crossings > 50, "{a:?}");
    assert!(
        measured.metrics.rounds >= 4,
        "{:?}",
        measured.metrics.rounds
    );
    assert_eq!(measured.metrics.rounds, model.metrics.rounds, "rounds");
    assert_eq!(a.blocks, b.blocks, "blocks: {a:?} vs {b:?}");
    assert_eq!(a.key_transfers, b.key_transfers);
    assert_eq!(
        measured.metrics.periods.len(),
        model.metrics.periods.len(),
        "periods"
    );
}

#[test]
fn model_runs_are_reproducible_from_the_seed() {
    let scenario = Scenario::beijing_peak(20.0);
    let a = run_paper(&scenario, Mode::Model);
    let b = run_paper(&scenario, Mode::Model);
    assert_eq!(a.metrics, b.metrics);
    let mut other = scenario.clone();
    other.seed += 1;
    let c = run_paper(&other, Mode::Model);
    assert_ne!(a.metrics.transfers, c.metrics.transfers);
    assert_eq!(a.summary.key_transfers, a.summary.crossings);
    // About 500 transactions per 1 s block at peak (Eq. 5: 15,000 x 120 / 3,600).
    assert!(
        (400.0..600.0).contains(&a.summary.transactions_per_block),
        "{:?}",
        a.summary
    );
}

#[test]
fn model_follows_the_cost_model_per_structure() {
    // With the paper's costs at 3,000 vehicles/hour, the same-domain relay processes each
    // transfer at once; the blockchain waits for the period; cross-domain adds a hop.
    let run = |structure| {
        let mut s = light(30.0, 3_000.0);
        s.structure = structure;
        run_paper(&s, Mode::Model).summary
    };
    let (chain, same, cross) = (
        run(Structure::Blockchain),
        run(Structure::SameDomain),
        run(Structure::CrossDomain),
    );
    assert!(same.delay_s_mean < cross.delay_s_mean);
    assert!(cross.delay_s_mean < chain.delay_s_mean);
    // Blockchain: half a period of waiting on average plus processing (Eq. 4).
    assert!((0.5..1.0).contains(&chain.delay_s_mean), "{chain:?}");
}

#[test]
fn algorithm3_policy_uses_the_period_algorithm3_chooses() {
    let mut scenario = Scenario::beijing_peak(10.0);
    let candidates_s = vec![0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
    scenario.policy = PolicySpec::Algorithm3 {
        candidates_s: candidates_s.clone(),
    };
    let calibration = Calibration::paper();
    let candidates: Vec<CollectionPeriod> = candidates_s
        .iter()
        .map(|&s| CollectionPeriod::new(s).unwrap())
        .collect();
    let load = Load {
        vehicles_per_hour: 15_000.0,
        flows: 120,
        structure: vkm_period::Structure::Blockchain,
    };
    let chosen = algorithm3(&calibration, &load, &candidates).unwrap();
    let run = run_paper(&scenario, Mode::Model);
    // The first period is the first candidate; every later one is Algorithm 3's choice.
    let lengths: Vec<f64> = run.metrics.periods.iter().map(|p| p.length_s).collect();
    assert!(lengths.len() > 5);
    assert!(
        lengths[1..].iter().all(|&l| l == chosen.seconds()),
        "{lengths:?} vs {chosen:?}"
    );
}

#[test]
fn replayed_events_are_the_traffic() {
    let scenario = light(1.0, 0.0);
    let events: Vec<Crossing> = (0..50u32)
        .map(|i| Crossing {
            at: f64::from(i) * 0.1,
            vehicle: u64::from(i),
            from: (i % 9) as usize,
            to: ((i + 1) % 9) as usize,
        })
        .collect();
    for mode in [Mode::Model, Mode::Measured] {
        let run = simulate(
            &scenario,
            mode,
            &Calibration::paper(),
            Some(&events),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(run.summary.crossings, 50, "{mode:?}");
        assert_eq!(run.summary.key_transfers, 50, "{mode:?}");
        assert!(run.summary.simulated_seconds >= 4.9);
    }
}

#[test]
fn shipped_scenarios_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let scenario = Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert!(scenario.duration_s > 0.0);
        count += 1;
    }
    assert!(count >= 3);
}

/// Lei's design makes every manager check every transfer: on 25 managers at peak with the
/// paper's check cost (and a cheap linear block preparation, so that only the checks
/// count) the busiest manager needs more than its CPU. Verified by the destination only,
/// the same traffic is admitted in full, with a fraction of the CPU.
#[test]
fn checks_by_the_destination_only_break_the_growth_with_the_network() {
    use vkm_period::PrepModel;
    use vkm_sim::scenario::Verification;
    let mut costs = Calibration::paper();
    costs.elements.prep = PrepModel::Linear {
        fixed_s: 0.0,
        per_transaction_s: 1e-6,
    };
    let run = |verification| {
        let mut s = Scenario::beijing_peak(10.0);
        s.grid.rows = 5;
        s.grid.cols = 5;
        s.verification = verification;
        simulate(&s, Mode::Model, &costs, None, &mut |_| {})
            .unwrap()
            .summary
    };
    let every = run(Verification::Every);
    let destination = run(Verification::Destination);
    assert_eq!(every.crossings, destination.crossings, "same traffic");
    assert!(every.saturated, "{every:?}");
    assert!(every.max_cpu_share >= 1.0 && every.max_cpu_share.is_finite());
    assert!(every.backlog > 0);
    // Each manager says whether it kept up: 25 districts, their loads adding up to the
    // summary's, and every one of them behind (each checks the whole network's transfers).
    for summary in [&every, &destination] {
        let loads = &summary.node_loads;
        assert_eq!(loads.len(), 25);
        assert_eq!(
            loads.iter().map(|l| l.crossings_in).sum::<u64>(),
            summary.crossings
        );
        assert_eq!(
            loads.iter().map(|l| l.not_admitted_in).sum::<u64>(),
            summary.not_admitted
        );
        let busiest = loads.iter().map(|l| l.cpu_share).fold(0.0, f64::max);
        assert_eq!(busiest, summary.max_cpu_share);
    }
    let behind = every
        .node_loads
        .iter()
        .filter(|l| l.cpu_share >= 1.0)
        .count();
    assert!(behind > 20, "{:?}", every.node_loads);
    assert!(destination.node_loads.iter().all(|l| l.cpu_share < 1.0));
    assert!(!destination.saturated, "{destination:?}");
    assert_eq!(destination.key_transfers, destination.crossings);
    assert_eq!(destination.backlog, 0);
    assert!(
        destination.max_cpu_share < every.max_cpu_share / 2.0,
        "{} vs {}",
        destination.max_cpu_share,
        every.max_cpu_share
    );
}

/// The model's events grow with crossings plus managers times periods: 400 managers run.
#[test]
fn a_20x20_grid_runs_in_model_mode() {
    let mut s = Scenario::beijing_peak(1.0);
    s.grid.rows = 20;
    s.grid.cols = 20;
    s.traffic = Traffic::Constant {
        vehicles_per_hour: 1_000.0,
    };
    let mut costs = Calibration::paper();
    costs.elements.verify_s = 50e-6;
    costs.elements.prep = vkm_period::PrepModel::Linear {
        fixed_s: 0.0,
        per_transaction_s: 1e-6,
    };
    let run = simulate(&s, Mode::Model, &costs, None, &mut |_| {}).unwrap();
    assert!(run.summary.crossings > 1_000, "{:?}", run.summary);
    assert_eq!(run.summary.key_transfers, run.summary.crossings);
    assert!(!run.summary.saturated);
}

#[test]
fn destination_only_verification_is_refused_in_measured_mode() {
    let mut s = light(1.0, 1_000.0);
    s.verification = vkm_sim::scenario::Verification::Destination;
    let err = simulate(&s, Mode::Measured, &Calibration::paper(), None, &mut |_| {})
        .expect_err("refused");
    assert!(err.to_string().contains("model mode"), "{err}");
}
