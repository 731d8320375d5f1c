//! `vkm bench sim`: the simulator in measured mode at Beijing peak traffic, against real
//! time, with the nodes' checks run ahead on the other cores and without (the baseline),
//! alternated in one process.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use vkm_period::Calibration;
use vkm_sim::{Mode, Options, Scenario, Summary, simulate_with};

use crate::{CliError, print_json};

/// Arguments of `vkm bench sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Seconds of peak traffic per run (about 500 key transfers a second).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Runs of each variant (medians are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `vkm bench sim`.
pub fn run(args: &SimArgs) -> Result<ExitCode, CliError> {
    if !(args.seconds > 0.0 && args.seconds <= 3600.0) || args.runs == 0 || args.runs > 100 {
        return Err(CliError::Invalid(
            "--seconds must be in (0, 3600] and --runs in 1..=100".into(),
        ));
    }
    let scenario = Scenario::beijing_peak(args.seconds);
    let calibration = Calibration::paper();
    let ahead = Options::default();
    let variants = [
        ("sequential", Options::default().with_threads(0)),
        ("ahead", ahead),
    ];
    let mut results: Vec<Vec<Summary>> = vec![Vec::new(); variants.len()];
    for _ in 0..args.runs {
        for ((_, options), runs) in variants.iter().zip(&mut results) {
            let run = simulate_with(
                &scenario,
                Mode::Measured,
                &calibration,
                None,
                *options,
                &mut |_| {},
            )
            .map_err(|e| CliError::Invalid(e.to_string()))?;
            if run.summary.key_transfers != run.summary.crossings {
                return Err(CliError::Invalid(format!(
                    "{} of {} crossings admitted",
                    run.summary.key_transfers, run.summary.crossings
                )));
            }
            runs.push(run.summary);
        }
    }
    let stat = |runs: &[Summary], f: fn(&Summary) -> f64| median(runs.iter().map(f).collect());
    let speed = |runs: &[Summary]| stat(runs, |s| s.speed_vs_real_time);
    let share = |runs: &[Summary]| stat(runs, |s| s.max_cpu_share);
    let [sequential, with_ahead] = [&results[0], &results[1]];
    let ratio = speed(with_ahead) / speed(sequential);
    if args.json {
        print_json(&json!({
            "scenario": "beijing-peak",
            "simulated_seconds": results[0].first().map_or(0.0, |s| s.simulated_seconds),
            "key_transfers": results[0].first().map_or(0, |s| s.key_transfers),
            "runs": args.runs,
            "threads": ahead.threads,
            "sequential_speed_vs_real_time": speed(sequential),
            "ahead_speed_vs_real_time": speed(with_ahead),
            "speedup": ratio,
            "sequential_max_cpu_share": share(sequential),
            "ahead_max_cpu_share": share(with_ahead),
        }));
    } else {
        println!(
            "measured mode, Beijing peak, {} s of traffic, median of {} runs each:",
            args.seconds, args.runs
        );
        for ((name, options), runs) in variants.iter().zip(&results) {
            println!(
                "  {name:<10} ({} worker threads): {:.2}x real time, busiest SM {:.1} % busy",
                options.threads,
                speed(runs),
                share(runs) * 100.0
            );
        }
        println!("  checks run ahead: {ratio:.2}x faster");
    }
    Ok(ExitCode::SUCCESS)
}
