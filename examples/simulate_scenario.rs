//! A scenario from a TOML file, simulated: Beijing at peak traffic (Lei et al. IV.A:
//! 3 x 3 districts, 120 flows, 15,000 vehicles/h per flow), shortened: 20 s with the
//! paper's cost model, 3 s with the security managers themselves (real cryptography and
//! proof of work, measured costs), then the metrics a reader compares:
//! crossings, blocks, key-delivery delay, the busiest manager's CPU share.
//!
//! Run: `cargo run --release --example simulate_scenario`

use vkm::period::Calibration;
use vkm::sim::{Mode, Scenario, simulate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/sim/scenarios/beijing-peak.toml"
    );
    let mut scenario = Scenario::from_toml(&std::fs::read_to_string(path)?)?;
    println!("{} ({path}):", scenario.name);
    for (mode, seconds) in [(Mode::Model, 20.0), (Mode::Measured, 3.0)] {
        scenario.duration_s = seconds;
        let started = std::time::Instant::now();
        let run = simulate(&scenario, mode, &Calibration::paper(), None, &mut |_| {})?;
        let s = &run.summary;
        println!(
            "  {:<8} {seconds:>2} s: {:>6} crossings, {:>6} key transfers in {:>3} blocks ({:.0} per block); \
             delay p50 {:.3} s, p95 {:.3} s; busiest manager's CPU {:.1} %; ran in {:.1} s",
            s.mode,
            s.crossings,
            s.key_transfers,
            s.blocks,
            s.transactions_per_block,
            s.delay_s_p50,
            s.delay_s_p95,
            100.0 * s.max_cpu_share,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
