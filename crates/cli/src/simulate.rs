//! `vkm simulate`: the discrete-event simulator on a scenario file or flags, and
//! `vkm sumo import`: SUMO floating-car data to cross-border events.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use vkm_sim::scenario::{
    GridSpec, MAX_GRID_SIDE, MAX_SCENARIO_BYTES, NetworkModel, PolicySpec, Traffic, VehicleSpec,
    Verification,
};
use vkm_sim::sumo::{Districts, import_fcd};
use vkm_sim::traffic::{Crossing, read_events, write_events};
use vkm_sim::{Mode, Options, Scenario, Structure, simulate_with};

use crate::files::{Bounded, MAX_SMALL_BYTES, open_bounded, read_text};
use crate::period::load_calibration;
use crate::{CliError, FaultArgs, LinkArgs, VehicleArgs, print_json, progress_bar};

/// Largest events or FCD file read, bytes.
const MAX_INPUT_BYTES: u64 = 4 << 30;

/// Cost modes on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Every ECIES, ECDSA and nonce search runs; measured durations are charged.
    Measured,
    /// Costs from a calibration; no cryptography runs.
    Model,
}

/// Structures on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StructureArg {
    /// Security managers mining a chain.
    Blockchain,
    /// Traditional, one central manager: SM -> CA -> SM.
    SameDomain,
    /// Traditional, a central manager per district: SM -> CA -> CA -> SM.
    CrossDomain,
}

/// Period policies on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PolicyArg {
    /// `--period` always.
    Fixed,
    /// Algorithm 3 once for the traffic.
    Algorithm3,
    /// Re-chosen at every period end from the observed rate.
    Adaptive,
}

impl PolicyArg {
    /// The policy: `period_s` for the fixed one, Lei et al.'s candidates for the others.
    pub fn spec(self, period_s: f64) -> PolicySpec {
        let candidates_s = vkm_period::policy::default_candidates();
        match self {
            Self::Fixed => PolicySpec::Fixed { period_s },
            Self::Algorithm3 => PolicySpec::Algorithm3 { candidates_s },
            Self::Adaptive => PolicySpec::Adaptive {
                candidates_s,
                time_constant_s: 10.0,
            },
        }
    }
}

/// Which managers check each key transfer's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerificationArg {
    /// Every security manager (Lei et al.).
    Every,
    /// The transfer's destination only.
    Destination,
}

/// Arguments of `vkm simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// A TOML scenario; the flags below build one otherwise.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Cost mode.
    #[arg(long, value_enum, default_value_t = ModeArg::Measured)]
    mode: ModeArg,
    /// `paper`, `measured` (measures this machine first) or a calibration file: the model
    /// mode's costs and the adaptive policies' prices.
    #[arg(long, default_value = "paper")]
    calibration: String,
    /// Replay these cross-border events (`vkm sumo import`) instead of generated traffic.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Write transfers.csv, blocks.csv, periods.csv and summary.json here.
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Structure.
    #[arg(long, value_enum, default_value_t = StructureArg::Blockchain)]
    structure: StructureArg,
    /// Vehicles per hour on each flow.
    #[arg(long, default_value_t = 15_000.0)]
    traffic: f64,
    /// Period policy.
    #[arg(long, value_enum, default_value_t = PolicyArg::Fixed)]
    policy: PolicyArg,
    /// Collection period, seconds (fixed policy).
    #[arg(long, default_value_t = 1.0)]
    period: f64,
    /// Grid rows x columns of districts.
    #[arg(long, default_value = "3x3")]
    grid: String,
    /// Two-way highways per shared edge.
    #[arg(long, default_value_t = 5)]
    highways: u32,
    /// Chain difficulty, leading zero bits.
    #[arg(long, default_value_t = 10)]
    difficulty_bits: u8,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    link: LinkArgs,
    #[command(flatten)]
    faults: FaultArgs,
    /// The vehicles (a scenario file sets them in its `[vehicles]` table instead).
    #[command(flatten)]
    vehicles: VehicleArgs,
    /// Which managers check each key transfer's signature (model mode): `every` (Lei et
    /// al.) or `destination` (its destination only).
    #[arg(long, value_enum, default_value_t = VerificationArg::Every)]
    verification: VerificationArg,
    /// Measured mode: worker threads running the nodes' checks ahead (0: none; default:
    /// one per core but one). What is charged to the nodes does not change, but more
    /// threads than spare cores inflate the measured costs.
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// `vkm sumo` subcommands.
#[derive(Debug, Subcommand)]
pub enum SumoCommand {
    /// Convert SUMO floating-car data into cross-border events.
    Import(ImportArgs),
}

/// Arguments of `vkm sumo import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The FCD file (`sumo --fcd-output`).
    #[arg(long)]
    fcd: PathBuf,
    /// Districts as rectangles (`xmin,ymin,xmax,ymax` lines); default: a grid over the
    /// bounding box of all positions.
    #[arg(long)]
    districts: Option<PathBuf>,
    /// The default grid, rows x columns.
    #[arg(long, default_value = "3x3")]
    grid: String,
    /// The events file to write.
    #[arg(long)]
    out: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn parse_grid(text: &str) -> Result<(u32, u32), CliError> {
    let bad = || CliError::Invalid(format!("--grid {text:?}: expected ROWSxCOLS, e.g. 3x3"));
    let (r, c) = text.split_once('x').ok_or_else(bad)?;
    let rows = r.trim().parse::<u32>().map_err(|_| bad())?;
    let cols = c.trim().parse::<u32>().map_err(|_| bad())?;
    if !(1..=MAX_GRID_SIDE).contains(&rows)
        || !(1..=MAX_GRID_SIDE).contains(&cols)
        || rows * cols < 2
    {
        return Err(CliError::Invalid(format!(
            "--grid: 1..={MAX_GRID_SIDE} rows and columns, at least 2 districts"
        )));
    }
    Ok((rows, cols))
}

/// `path` for reading, failing past [`MAX_INPUT_BYTES`] (also for devices and pipes).
fn open_limited(path: &Path) -> Result<BufReader<Bounded<std::fs::File>>, CliError> {
    Ok(BufReader::new(open_bounded(path, MAX_INPUT_BYTES)?))
}

fn scenario_from(args: &SimulateArgs) -> Result<Scenario, CliError> {
    let mut scenario = scenario_without_fault_flags(args)?;
    if args.faults.given() {
        scenario.faults = args.faults.spec();
        scenario
            .validate()
            .map_err(|e| CliError::Invalid(e.to_string()))?;
    }
    Ok(scenario)
}

fn scenario_without_fault_flags(args: &SimulateArgs) -> Result<Scenario, CliError> {
    if let Some(path) = &args.scenario {
        let text = read_text(path, MAX_SCENARIO_BYTES as u64)?;
        return Scenario::from_toml(&text)
            .map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())));
    }
    let (rows, cols) = parse_grid(&args.grid)?;
    let (per_district, radio_delay_ms, radio_loss) = args.vehicles.checked()?;
    let structure = match args.structure {
        StructureArg::Blockchain => Structure::Blockchain,
        StructureArg::SameDomain => Structure::SameDomain,
        StructureArg::CrossDomain => Structure::CrossDomain,
    };
    let scenario = Scenario {
        name: "flags".into(),
        seed: args.seed,
        duration_s: args.duration,
        difficulty_bits: args.difficulty_bits,
        structure,
        grid: GridSpec {
            rows,
            cols,
            highways_per_edge: args.highways,
        },
        traffic: Traffic::Constant {
            vehicles_per_hour: args.traffic,
        },
        policy: args.policy.spec(args.period),
        network: NetworkModel {
            backoff_ms: args.link.backoff_ms,
            propagation_ms: args.link.propagation_ms,
            ..NetworkModel::default()
        },
        faults: Default::default(),
        verification: match args.verification {
            VerificationArg::Every => Verification::Every,
            VerificationArg::Destination => Verification::Destination,
        },
        vehicles: VehicleSpec {
            per_district,
            radio_delay_ms,
            radio_loss,
        },
    };
    scenario
        .validate()
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    Ok(scenario)
}

/// Runs `vkm simulate`.
pub fn run(args: &SimulateArgs) -> Result<ExitCode, CliError> {
    let scenario = scenario_from(args)?;
    let calibration = load_calibration(&args.calibration)?;
    let events: Option<Vec<Crossing>> = match &args.events {
        Some(path) => Some(
            read_events(open_limited(path)?, scenario.districts())
                .map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())))?,
        ),
        None => None,
    };
    let mode = match args.mode {
        ModeArg::Measured => Mode::Measured,
        ModeArg::Model => Mode::Model,
    };
    let bar = progress_bar(1000, &format!("simulate ({})", mode.name()));
    let mut options = Options::default();
    if let Some(threads) = args.threads {
        crate::check_threads(threads)?;
        options = options.with_threads(threads);
    }
    let run = simulate_with(
        &scenario,
        mode,
        &calibration,
        events.as_deref(),
        options,
        &mut |f| bar.set_position((f * 1000.0) as u64),
    )
    .map_err(|e| CliError::Invalid(e.to_string()))?;
    bar.finish_and_clear();
    let summary =
        serde_json::to_value(&run.summary).map_err(|e| CliError::Invalid(e.to_string()))?;
    if let Some(dir) = &args.metrics {
        let io = |e: std::io::Error| CliError::Io(format!("cannot write {}: {e}", dir.display()));
        run.metrics.write_csv(dir).map_err(io)?;
        std::fs::write(dir.join("summary.json"), format!("{summary:#}\n")).map_err(io)?;
    }
    if args.json {
        print_json(&summary);
    } else {
        let s = &run.summary;
        println!(
            "{} ({}, {}): {} crossings, {} key transfers admitted, {} blocks ({:.0} transactions each)",
            s.scenario,
            s.structure,
            s.mode,
            s.crossings,
            s.key_transfers,
            s.blocks,
            s.transactions_per_block
        );
        println!(
            "delay from crossing to admission: mean {:.3} s, p50 {:.3} s, p95 {:.3} s, max {:.3} s",
            s.delay_s_mean, s.delay_s_p50, s.delay_s_p95, s.delay_s_max
        );
        println!(
            "{:.1} simulated seconds in {:.2} s of wall time ({:.1}x real time); busiest node {:.0} % busy",
            s.simulated_seconds,
            s.wall_seconds,
            s.speed_vs_real_time,
            s.max_cpu_share * 100.0
        );
        if s.not_admitted > 0 && !s.saturated {
            println!("{} crossings not admitted at the end", s.not_admitted);
        }
        if !s.refusals.is_empty() {
            let kinds: Vec<String> = s.refusals.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!("refused: {}", kinds.join(", "));
        }
    }
    let s = &run.summary;
    if s.saturated {
        // On stderr too, so that it is seen beside --json.
        // Booked work can be astronomical (the paper's exponential block preparation priced
        // for a block of ten thousand transfers): in powers of ten past a million seconds.
        let booked = if s.backlog_s >= 1e6 {
            format!("{:.1e}", s.backlog_s)
        } else {
            format!("{:.1}", s.backlog_s)
        };
        let behind = s.node_loads.iter().filter(|l| l.cpu_share >= 1.0).count();
        eprintln!(
            "warning: saturated: {} of {} crossings not admitted, {} inputs still queued, \
             {behind} of {} nodes at or above one CPU share (the busiest {:.2}, with {booked} s \
             of work booked past the end); the delays describe only the transfers that got \
             through (node_loads in --json: each node's share and backlog)",
            s.not_admitted,
            s.crossings,
            s.backlog_inputs,
            s.node_loads.len(),
            s.max_cpu_share
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `vkm sumo import`.
pub fn run_sumo(command: &SumoCommand) -> Result<ExitCode, CliError> {
    let SumoCommand::Import(args) = command;
    let districts = match &args.districts {
        Some(path) => {
            let text = read_text(path, MAX_SMALL_BYTES)?;
            Districts::parse(&text).map_err(|e| CliError::Invalid(e.to_string()))?
        }
        None => {
            let (rows, cols) = parse_grid(&args.grid)?;
            Districts::Grid { rows, cols }
        }
    };
    let events = import_fcd(open_limited(&args.fcd)?, &districts)
        .map_err(|e| CliError::Invalid(format!("{}: {e}", args.fcd.display())))?;
    let mut out = Vec::new();
    write_events(&mut out, &events).map_err(|e| CliError::Io(e.to_string()))?;
    std::fs::write(&args.out, out)
        .map_err(|e| CliError::Io(format!("cannot write {}: {e}", args.out.display())))?;
    let vehicles = events
        .iter()
        .map(|e| e.vehicle)
        .collect::<std::collections::HashSet<_>>()
        .len();
    if args.json {
        print_json(&serde_json::json!({
            "events": events.len(),
            "vehicles": vehicles,
            "districts": districts.len(),
            "first_s": events.first().map_or(0.0, |e| e.at),
            "last_s": events.last().map_or(0.0, |e| e.at),
            "out": args.out.display().to_string(),
        }));
    } else {
        println!(
            "{} crossings of {} vehicles between {} districts written to {}",
            events.len(),
            vehicles,
            districts.len(),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
