//! The simulator's speed: simulated seconds of Beijing at peak traffic (500 crossings a
//! second) per wall-clock second, in model mode (one simulated minute) and in measured
//! mode (two simulated seconds, every ECIES, ECDSA and nonce search executed), the latter
//! with the nodes' checks run ahead on the other cores and without (`_sequential`, the
//! baseline). Criterion reports the wall time of one run; the ratio to the simulated time
//! is the speed against real time (`vkm simulate --json` prints it as
//! `speed_vs_real_time`; `vkm bench sim` compares the two measured variants).

use criterion::{Criterion, criterion_group, criterion_main};
use vkm::period::Calibration;
use vkm::sim::{Mode, Options, Scenario, simulate_with};

fn sim(c: &mut Criterion) {
    let calibration = Calibration::paper();
    let mut g = c.benchmark_group("sim/beijing_peak");
    g.sample_size(10);
    let ahead = Options::default();
    let sequential = ahead.with_threads(0);
    for (name, mode, seconds, options) in [
        ("model_60s", Mode::Model, 60.0, ahead),
        ("measured_2s", Mode::Measured, 2.0, ahead),
        ("measured_2s_sequential", Mode::Measured, 2.0, sequential),
    ] {
        let scenario = Scenario::beijing_peak(seconds);
        g.bench_function(name, |b| {
            b.iter(|| {
                let run = simulate_with(&scenario, mode, &calibration, None, options, &mut |_| {})
                    .expect("simulation");
                assert_eq!(run.summary.key_transfers, run.summary.crossings);
                run.summary.simulated_seconds
            })
        });
    }
    g.finish();
}

criterion_group!(benches, sim);
criterion_main!(benches);
