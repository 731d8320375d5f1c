//! The protocol under faults, in virtual time: random schedules of lost, duplicated and
//! late messages, partitions and crashes on a small network; after the drain every
//! crossing is admitted exactly once, the managers agree on one tip, and every stored
//! chain revalidates.

use proptest::prelude::*;
use vkm_period::Calibration;
use vkm_sim::scenario::{FaultSpec, GridSpec, Traffic};
use vkm_sim::{Mode, Options, Run, Scenario, simulate_with};

/// Four managers (2 x 2 districts), a few hundred crossings over `duration_s`.
fn small(duration_s: f64, seed: u64, faults: FaultSpec) -> Scenario {
    let mut s = Scenario::beijing_peak(duration_s);
    s.seed = seed;
    s.grid = GridSpec {
        rows: 2,
        cols: 2,
        highways_per_edge: 5,
    };
    s.traffic = Traffic::Constant {
        vehicles_per_hour: 3_000.0,
    };
    s.faults = faults;
    // The faults concern the managers; a few vehicles per district keep runs short.
    s.vehicles.per_district = 10;
    s
}

fn run(scenario: &Scenario) -> Run {
    simulate_with(
        scenario,
        Mode::Measured,
        &Calibration::paper(),
        None,
        Options::default().with_threads(0).with_revalidation(),
        &mut |_| {},
    )
    .expect("simulation")
}

/// What every run with faults must end with.
fn assert_settled(run: &Run) {
    let s = &run.summary;
    assert!(s.crossings > 50, "{s:?}");
    assert_eq!(s.lost, 0, "{s:?}");
    assert_eq!(s.admitted_duplicates, 0, "{s:?}");
    assert_eq!(s.admitted_unique, s.crossings, "{s:?}");
    assert_eq!(s.chains_revalidated, Some(true), "{s:?}");
    assert_eq!(s.refusals.values().sum::<u64>(), s.refused, "{s:?}");
    let tips: std::collections::HashSet<_> = s.nodes.iter().map(|n| n.tip.clone()).collect();
    assert!(s.nodes.iter().all(|n| n.up), "{s:?}");
    assert_eq!(tips.len(), 1, "one chain: {:?}", s.nodes);
    // Members read their domain's BSMs through it all: a restarted manager's group starts
    // over with epochs its vehicles never saw, and they enrol again.
    assert_eq!(s.bsms_failed, 0, "{s:?}");
    assert!(s.bsms_opened > 0, "{s:?}");
}

fn window(start: f64, length: f64) -> String {
    format!("{start:.1}:{:.1}", start + length)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn random_fault_schedules_settle_with_nothing_lost_or_admitted_twice(
        seed in 0u64..1_000,
        loss in 0.0f64..0.2,
        duplicate in 0.0f64..0.1,
        jitter_ms in 0.0f64..30.0,
        partition in proptest::option::of((0.5f64..4.0, 0.5f64..3.0)),
        crash in proptest::option::of((1u32..=4, 0.5f64..4.0, 0.5f64..3.0)),
    ) {
        let faults = FaultSpec {
            loss,
            duplicate,
            jitter_ms,
            partition: partition
                .map(|(start, length)| format!("1,2|3,4@{}", window(start, length)))
                .into_iter()
                .collect(),
            crash: crash
                .map(|(sm, start, length)| format!("{sm}@{}", window(start, length)))
                .into_iter()
                .collect(),
            drain: None,
        };
        assert_settled(&run(&small(6.0, seed, faults)));
    }
}

/// A manager down for a stretch of the traffic comes back, catches up on the blocks it
/// missed within a few periods, and nothing is lost; the two sides of a partition end on
/// one chain with the losing side's transfers mined again.
#[test]
fn a_crashed_manager_catches_up_and_a_healed_partition_ends_on_one_chain() {
    let crashed = run(&small(
        8.0,
        3,
        FaultSpec {
            crash: vec!["2@1:6".into()],
            ..FaultSpec::default()
        },
    ));
    assert_settled(&crashed);
    let s = &crashed.summary;
    assert!(s.blocks_synced > 0 && s.sync_requests > 0, "{s:?}");
    assert!(
        s.catch_up_s_max > 0.0 && s.catch_up_s_max < 3.0,
        "caught up within a few periods: {s:?}"
    );

    let partitioned = run(&small(
        8.0,
        4,
        FaultSpec {
            partition: vec!["1,2|3,4@1:5".into()],
            ..FaultSpec::default()
        },
    ));
    assert_settled(&partitioned);
    assert!(
        partitioned.summary.rebroadcasts > 0,
        "{:?}",
        partitioned.summary
    );
}

/// Without faults the fault machinery changes nothing: no rebroadcast, no block fetched,
/// one catching-up request per manager at its start.
#[test]
fn without_faults_nothing_is_sent_again() {
    let s = run(&small(3.0, 1, FaultSpec::default())).summary;
    assert_eq!(s.lost, 0);
    assert_eq!(s.rebroadcasts, 0, "{s:?}");
    assert_eq!(s.blocks_synced, 0, "{s:?}");
    assert_eq!(s.sync_requests, 4, "{s:?}");
}

/// A manager down longer than the freshness window (10 s): the crossing requests its RSUs
/// held for it are stale when it is back, refused as such (counted by kind: these
/// crossings' transfers are lost), and their vehicles, never welcomed, ask the domain they
/// are in directly and join it.
#[test]
fn requests_held_past_the_freshness_window_are_refused_as_stale_and_their_vehicles_join() {
    let run = run(&small(
        8.0,
        3,
        FaultSpec {
            crash: vec!["2@1:16".into()],
            ..FaultSpec::default()
        },
    ));
    let s = &run.summary;
    assert!(s.lost > 0, "{s:?}");
    assert_eq!(s.refused, s.lost, "{s:?}");
    let stale = [("request_stale".to_owned(), s.lost)].into_iter().collect();
    assert_eq!(s.refusals, stale, "{s:?}");
    assert_eq!(s.admitted_duplicates, 0, "{s:?}");
    assert_eq!(
        s.welcomes_awaited, 0,
        "every vehicle in its domain at the end: {s:?}"
    );
    assert_eq!(s.bsms_failed, 0, "{s:?}");
    assert!(s.nodes.iter().all(|n| n.up), "{s:?}");
    let tips: std::collections::HashSet<_> = s.nodes.iter().map(|n| n.tip.clone()).collect();
    assert_eq!(tips.len(), 1, "one chain: {:?}", s.nodes);
}
