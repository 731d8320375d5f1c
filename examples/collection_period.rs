//! Pricing collection periods (Lei et al. Eq. (6) and Algorithm 3) with the paper's
//! calibration: each candidate period's transactions, processing time, Eq. (6) and mean
//! key-delivery delay at light and peak traffic, and the period Algorithm 3 picks for
//! each traffic level.
//!
//! Run: `cargo run --release --example collection_period`

use vkm::period::objective::{Objective, optimise};
use vkm::period::{Calibration, CollectionPeriod, Load, Structure, algorithm3};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let paper = Calibration::paper();
    let candidates = CollectionPeriod::range(0.5, 1.0, 0.1)?;
    let load = |vehicles_per_hour| Load {
        vehicles_per_hour,
        flows: 120,
        structure: Structure::Blockchain,
    };
    for vehicles_per_hour in [3_000.0, 15_000.0] {
        println!(
            "{vehicles_per_hour} vehicles/h, 120 flows: period, transactions, processing, Eq. (6), mean delay"
        );
        let priced = optimise(
            &paper,
            &load(vehicles_per_hour),
            &candidates,
            Objective::Paper,
        );
        for (i, e) in priced.table.iter().enumerate() {
            println!(
                "  {:.1} s  {:>6.1} tx  {:>7.3} s  {:>7.4}  {:>6.3} s{}{}",
                e.period_s,
                e.transactions,
                e.processing_s,
                e.cost_per_second_s,
                e.mean_delay_s,
                if e.feasible { "" } else { "  (cannot keep up)" },
                if priced.best == Some(i) {
                    "  <- Algorithm 3"
                } else {
                    ""
                }
            );
        }
    }
    println!("Algorithm 3 over periods 0.5-1.0 s, 120 flows, the paper's calibration:");
    for vehicles_per_hour in [1_000.0, 3_000.0, 6_000.0, 10_000.0, 15_000.0] {
        match algorithm3(&paper, &load(vehicles_per_hour), &candidates) {
            Some(period) => println!(
                "  {vehicles_per_hour:>6} vehicles/h: collect for {:.1} s",
                period.seconds()
            ),
            None => println!("  {vehicles_per_hour:>6} vehicles/h: no candidate keeps up"),
        }
    }
    Ok(())
}
