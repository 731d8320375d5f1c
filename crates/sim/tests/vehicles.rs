//! Vehicles in the measured simulator: on-board units that keep their identity across
//! crossings (generated traffic and SUMO alike), are welcomed into every domain they enter,
//! and read their domain's BSMs.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use vkm_period::Calibration;
use vkm_sim::scenario::{GridSpec, Traffic};
use vkm_sim::sumo::{Districts, import_fcd};
use vkm_sim::{Mode, Scenario, simulate};

fn small(duration_s: f64, per_district: usize) -> Scenario {
    let mut s = Scenario::beijing_peak(duration_s);
    s.grid = GridSpec {
        rows: 2,
        cols: 2,
        highways_per_edge: 5,
    };
    s.traffic = Traffic::Constant {
        vehicles_per_hour: 3_000.0,
    };
    s.vehicles.per_district = per_district;
    s
}

#[test]
fn generated_vehicles_are_welcomed_and_read_their_domains_bsms() {
    let run = simulate(
        &small(4.0, 20),
        Mode::Measured,
        &Calibration::paper(),
        None,
        &mut |_| {},
    )
    .unwrap();
    let s = &run.summary;
    assert_eq!(s.key_transfers, s.crossings, "{s:?}");
    assert!(s.vehicles >= 80, "{s:?}");
    assert!(s.vehicles_enrolled > 0);
    // Every crossing is welcomed, but for vehicles that crossed on before their welcome
    // into the district they passed through (welcomed where they stay instead), and those
    // still on the air at the end.
    assert!(s.welcomes_delivered > 0);
    assert_eq!(
        s.welcomes_delivered + s.welcomes_superseded + s.welcomes_awaited,
        s.key_transfers,
        "{s:?}"
    );
    assert!(
        s.welcome_delay_s_p50 > 0.0 && s.welcome_delay_s_p95 < 3.0,
        "{s:?}"
    );
    assert!(s.bsms_opened > 0, "{s:?}");
    assert_eq!(s.bsms_failed, 0, "{s:?}");
    assert!(s.rekeys > 0 && s.rekey_bytes > 0);
    assert!(s.vehicle_request_us_mean > 0.0 && s.vehicle_join_us_mean > 0.0);
}

/// Vehicle "a" crosses from district 0 into 1 and back; "b" crosses once. The events keep
/// each SUMO vehicle one identity, and the simulator's vehicles follow them.
const FCD: &str = r#"<fcd-export>
    <timestep time="0.00">
        <vehicle id="a" x="10.0" y="10.0"/>
        <vehicle id="b" x="290.0" y="10.0"/>
    </timestep>
    <timestep time="2.00">
        <vehicle id="a" x="160.0" y="10.0"/>
        <vehicle id="b" x="290.0" y="290.0"/>
    </timestep>
    <timestep time="6.00">
        <vehicle id="a" x="20.0" y="10.0"/>
        <vehicle id="b" x="290.0" y="290.0"/>
    </timestep>
</fcd-export>"#;

#[test]
fn sumo_vehicles_keep_their_sumo_identity() {
    let events = import_fcd(FCD.as_bytes(), &Districts::Grid { rows: 2, cols: 2 }).unwrap();
    assert_eq!(events.len(), 3);
    let a: Vec<_> = events
        .iter()
        .filter(|e| e.vehicle == events[0].vehicle)
        .collect();
    assert_eq!(a.len(), 2, "{events:?}");
    assert_eq!((a[0].from, a[0].to, a[1].from, a[1].to), (0, 1, 1, 0));
    let mut scenario = small(9.0, 0);
    scenario.traffic = Traffic::Constant {
        vehicles_per_hour: 0.0,
    };
    let run = simulate(
        &scenario,
        Mode::Measured,
        &Calibration::paper(),
        Some(&events),
        &mut |_| {},
    )
    .unwrap();
    let s = &run.summary;
    assert_eq!(s.crossings, 3, "{s:?}");
    assert_eq!(s.key_transfers, 3, "{s:?}");
    assert_eq!(
        s.vehicles, 2,
        "two SUMO vehicles, two on-board units: {s:?}"
    );
    assert_eq!(s.vehicles_enrolled, 2, "{s:?}");
    assert_eq!(s.welcomes_delivered, 3, "{s:?}");
    assert_eq!(s.bsms_failed, 0);
}

/// Requests and rekeys lost on the radio: a vehicle whose welcome does not come asks the
/// domain it is in, and one that missed a rekey joins again; in the end every crossing's
/// vehicle holds its domain's key, and no member fails a BSM of its epoch.
#[test]
fn vehicles_recover_from_radio_loss() {
    let mut scenario = small(4.0, 20);
    scenario.vehicles.radio_loss = 0.2;
    scenario.faults.drain = Some(40.0);
    let run = simulate(
        &scenario,
        Mode::Measured,
        &Calibration::paper(),
        None,
        &mut |_| {},
    )
    .unwrap();
    let s = &run.summary;
    assert!(
        s.lost > 0,
        "some requests never reached their manager: {s:?}"
    );
    assert_eq!(
        s.welcomes_delivered + s.welcomes_superseded + s.welcomes_awaited,
        s.crossings,
        "{s:?}"
    );
    assert_eq!(s.welcomes_awaited, 0, "{s:?}");
    assert_eq!(s.bsms_failed, 0, "{s:?}");
    assert_eq!(s.admitted_duplicates, 0, "{s:?}");
}
