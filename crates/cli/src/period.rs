//! `vkm period optimise`: Algorithm 3 and the delay-aware objective over candidate
//! collection periods.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use vkm_period::{Calibration, CollectionPeriod, Load, Objective, Structure, optimise};

use crate::{CliError, calibrate, print_json};

/// `vkm period` subcommands.
#[derive(Debug, Subcommand)]
pub enum PeriodCommand {
    /// Price candidate periods and choose one (Algorithm 3, or the delay objective).
    Optimise(OptimiseArgs),
}

/// Objectives on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ObjectiveArg {
    /// Eq. (6): processing time per second (the paper's Algorithm 3).
    Paper,
    /// Mean delay from a crossing until the keys reach the destination.
    Delay,
}

/// Structures on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StructureArg {
    /// Eq. (4).
    Blockchain,
    /// Eq. (3).
    SameDomain,
    /// Eq. (2).
    CrossDomain,
}

/// Arguments of `vkm period optimise`.
#[derive(Debug, Args)]
pub struct OptimiseArgs {
    /// Vehicles per hour on each road (flow).
    #[arg(long)]
    traffic: f64,
    /// Roads (one-way flows) crossing borders; 120 in the paper's Beijing.
    #[arg(long, default_value_t = 120)]
    roads: u32,
    /// Candidate periods as start:end:step seconds, end included.
    #[arg(long, default_value = "0.5:1.0:0.1")]
    periods: String,
    /// `paper`, `measured` (measures this machine now, a few seconds), or a calibration
    /// file written by `vkm calibrate`.
    #[arg(long, default_value = "paper")]
    calibration: String,
    /// What to minimise.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::Paper)]
    objective: ObjectiveArg,
    /// Which structure processes the transfers.
    #[arg(long, value_enum, default_value_t = StructureArg::Blockchain)]
    structure: StructureArg,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn parse_periods(text: &str) -> Result<Vec<CollectionPeriod>, CliError> {
    let bad = || {
        CliError::Invalid(format!(
            "--periods {text:?}: expected start:end:step seconds"
        ))
    };
    let parts: Vec<f64> = text
        .split(':')
        .map(|p| p.trim().parse::<f64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    match parts[..] {
        [start, end, step] => CollectionPeriod::range(start, end, step)
            .map_err(|e| CliError::Invalid(format!("--periods: {e}"))),
        [single] => CollectionPeriod::new(single)
            .map(|p| vec![p])
            .map_err(|e| CliError::Invalid(format!("--periods: {e}"))),
        _ => Err(bad()),
    }
}

/// Loads `paper`, measures `measured`, or reads a file.
pub fn load_calibration(name: &str) -> Result<Calibration, CliError> {
    match name {
        "paper" => Ok(Calibration::paper()),
        "measured" => calibrate::measure(50),
        path => {
            let text =
                crate::files::read_text(std::path::Path::new(path), crate::files::MAX_SMALL_BYTES)?;
            Calibration::from_json(&text).map_err(|e| CliError::Invalid(format!("{path}: {e}")))
        }
    }
}

/// Runs `vkm period ...`.
pub fn run(command: &PeriodCommand) -> Result<ExitCode, CliError> {
    let PeriodCommand::Optimise(args) = command;
    if !(args.traffic.is_finite() && (0.0..=1e8).contains(&args.traffic)) {
        return Err(CliError::Invalid(
            "--traffic must be 0..=1e8 vehicles per hour on a road".into(),
        ));
    }
    if !(1..=100_000).contains(&args.roads) {
        return Err(CliError::Invalid("--roads must be 1..=100000".into()));
    }
    if args.traffic * f64::from(args.roads) > 1e10 {
        return Err(CliError::Invalid(
            "--traffic times --roads must be at most 1e10 vehicles per hour".into(),
        ));
    }
    let candidates = parse_periods(&args.periods)?;
    let calibration = load_calibration(&args.calibration)?;
    let (objective, objective_name) = match args.objective {
        ObjectiveArg::Paper => (Objective::Paper, "paper"),
        ObjectiveArg::Delay => (Objective::Delay, "delay"),
    };
    let (structure, structure_name) = match args.structure {
        StructureArg::Blockchain => (Structure::Blockchain, "blockchain"),
        StructureArg::SameDomain => (Structure::SameDomain, "same-domain"),
        StructureArg::CrossDomain => (Structure::CrossDomain, "cross-domain"),
    };
    let load = Load {
        vehicles_per_hour: args.traffic,
        flows: args.roads,
        structure,
    };
    let optimum = optimise(&calibration, &load, &candidates, objective);
    let best = optimum.best.map(|i| candidates[i].seconds());
    if args.json {
        print_json(&json!({
            "best_period_s": best,
            "objective": objective_name,
            "structure": structure_name,
            "calibration": calibration.name,
            "traffic": args.traffic,
            "roads": args.roads,
            "table": optimum.table,
        }));
    } else {
        println!(
            "{} calibration, {} objective, {structure_name}, {} vehicles/hour on {} roads",
            calibration.name, objective_name, args.traffic, args.roads
        );
        println!("period_s  transactions  processing_s  cost_per_second_s  mean_delay_s  feasible");
        for (i, e) in optimum.table.iter().enumerate() {
            let mark = if optimum.best == Some(i) {
                " <- best"
            } else {
                ""
            };
            println!(
                "{:8.3}  {:12.1}  {:12.4}  {:17.4}  {:12.4}  {}{mark}",
                e.period_s,
                e.transactions,
                e.processing_s,
                e.cost_per_second_s,
                e.mean_delay_s,
                e.feasible
            );
        }
        if best.is_none() {
            println!("no candidate period keeps up with this traffic");
        }
    }
    Ok(ExitCode::SUCCESS)
}
