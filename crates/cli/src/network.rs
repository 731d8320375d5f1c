//! `vkm network run`: the security managers' network in real time, in one process.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::json;
use vkm_period::Grid;
use vkm_runtime::network::{NetworkConfig, Structure, run};

use crate::simulate::PolicyArg;
use crate::{CliError, FaultArgs, LinkArgs, VehicleArgs, print_json, progress_bar};

/// Structures on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StructureArg {
    /// Security managers mining a chain.
    Blockchain,
    /// Central managers relaying.
    Traditional,
}

/// Arguments of `vkm network run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Security managers (one per domain, laid out as a grid as square as possible).
    #[arg(long, default_value_t = 9)]
    sms: u32,
    /// Which structure.
    #[arg(long, value_enum, default_value_t = StructureArg::Blockchain)]
    structure: StructureArg,
    /// Vehicles per hour on each road (the paper: 3,000 off-peak to 15,000 saturated).
    #[arg(long, default_value_t = 15_000.0)]
    traffic: f64,
    /// Collection period, seconds (the fixed policy's).
    #[arg(long, default_value_t = 1.0)]
    period: f64,
    /// Period policy: the dynamic period of Lei et al. runs live with `adaptive`.
    #[arg(long, value_enum, default_value_t = PolicyArg::Fixed)]
    policy: PolicyArg,
    /// `paper`, `measured` or a calibration file: what the period policy prices
    /// periods with.
    #[arg(long, default_value = "paper")]
    calibration: String,
    /// Chain difficulty, leading zero bits (the paper's setting is 10).
    #[arg(long, default_value_t = 10)]
    difficulty_bits: u8,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seed of keys and traffic.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Folder for the ledger files (default: a fresh temporary folder, removed after).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Append one JSON line per committed block to this file.
    #[arg(long)]
    events: Option<PathBuf>,
    #[command(flatten)]
    link: LinkArgs,
    #[command(flatten)]
    faults: FaultArgs,
    #[command(flatten)]
    vehicles: VehicleArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// The vehicles' numbers as JSON fields of `network run`.
fn vehicle_fields(stats: &vkm_runtime::FleetStats) -> serde_json::Map<String, serde_json::Value> {
    let serde_json::Value::Object(fields) = serde_json::json!({
        "vehicles": stats.vehicles,
        "vehicles_enrolled": stats.enrolled,
        "welcomes_delivered": stats.welcomes_delivered,
        "welcomes_superseded": stats.welcomes_superseded,
        "welcomes_awaited": stats.welcomes_awaited,
        "welcome_delay_s_p50": stats.welcome_delay_s(0.5),
        "welcome_delay_s_p95": stats.welcome_delay_s(0.95),
        "bsms_opened": stats.bsms_opened,
        "bsms_failed": stats.bsms_failed,
        "rekeys": stats.rekeys,
        "rekey_bytes": stats.rekey_bytes,
        "vehicle_request_us_mean": stats.request_us_mean(),
        "vehicle_join_us_mean": stats.join_us_mean(),
    }) else {
        return serde_json::Map::new();
    };
    fields
}

/// Rows and columns of the most square grid of `n` domains.
/// Runs `vkm network run`.
pub fn run_command(args: &RunArgs) -> Result<ExitCode, CliError> {
    crate::check_difficulty(args.difficulty_bits)?;
    // One mining worker per security manager.
    crate::announce_mining_time(args.difficulty_bits, 1);
    if !(2..=64).contains(&args.sms) {
        return Err(CliError::Invalid("--sms must be 2..=64".into()));
    }
    if !(args.traffic.is_finite() && args.traffic >= 0.0 && args.traffic <= 1e6) {
        return Err(CliError::Invalid(
            "--traffic must be 0..=1000000 vehicles per hour".into(),
        ));
    }
    if !(args.duration.is_finite() && args.duration > 0.0 && args.duration <= 24.0 * 3600.0) {
        return Err(CliError::Invalid(
            "--duration must be positive, at most a day".into(),
        ));
    }
    for (name, value) in [
        ("--backoff-ms", args.link.backoff_ms),
        ("--propagation-ms", args.link.propagation_ms),
    ] {
        if !(value.is_finite() && (0.0..=10_000.0).contains(&value)) {
            return Err(CliError::Invalid(format!("{name} must be 0..=10000")));
        }
    }
    let (vehicles_per_domain, radio_delay_ms, radio_loss) = args.vehicles.checked()?;
    let policy = args.policy.spec(args.period);
    let period = policy
        .initial_period()
        .map_err(|e| CliError::Invalid(format!("--period: {e}")))?;
    let calibration = crate::period::load_calibration(&args.calibration)?;
    let (faults, drain) = args.faults.faults()?;
    if !faults.is_none() && matches!(args.structure, StructureArg::Traditional) {
        return Err(CliError::Invalid(
            "faults apply to the blockchain structure".into(),
        ));
    }
    let temp =
        std::env::temp_dir().join(format!("vkm-network-{}-{}", std::process::id(), args.seed));
    let db_dir = args.db.clone().unwrap_or_else(|| temp.clone());
    let config = NetworkConfig {
        grid: Grid::near_square(args.sms),
        structure: match args.structure {
            StructureArg::Blockchain => Structure::Blockchain,
            StructureArg::Traditional => Structure::Traditional,
        },
        vehicles_per_hour: args.traffic,
        period,
        policy,
        calibration,
        difficulty_bits: args.difficulty_bits,
        duration: Duration::from_secs_f64(args.duration),
        seed: args.seed,
        db_dir,
        backoff_ms: args.link.backoff_ms,
        propagation_ms: args.link.propagation_ms,
        events: args.events.clone(),
        faults,
        drain,
        vehicles_per_domain,
        radio_delay: Duration::from_secs_f64(radio_delay_ms / 1000.0),
        radio_loss,
    };
    let bar = progress_bar(1000, "network run");
    let result = run(&config, &mut |f| bar.set_position((f * 1000.0) as u64));
    bar.finish_and_clear();
    if args.db.is_none() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    let report = result.map_err(|e| CliError::Invalid(e.to_string()))?;
    let per_sm: Vec<_> = report
        .nodes
        .iter()
        .map(|n| {
            json!({
                "id": n.id, "crossings": n.crossings, "admitted": n.admitted, "blocks_mined": n.blocks_mined,
                "refused": n.refused, "refusals": n.refusals, "busy_s": n.busy_s, "cpu_share": n.cpu_share, "backlog_s": n.backlog_s,
                "up": n.up, "height": n.height, "tip": n.tip.map(|t| t.to_string()),
                "rekeys": n.rekeys, "wrapped_keys": n.wrapped_keys, "period_s": n.period_s,
            })
        })
        .collect();
    if args.json {
        let mut out = json!({
            "structure": format!("{:?}", config.structure).to_lowercase(),
            "sms": args.sms,
            "traffic": args.traffic,
            "roads": vkm_runtime::network::grid_flows(&config.grid).len(),
            "period_s": args.period,
            "policy": format!("{:?}", args.policy).to_lowercase(),
            "difficulty_bits": args.difficulty_bits,
            "seconds": report.seconds,
            "crossings": report.crossings,
            "admitted": report.admitted,
            "not_admitted": report.not_admitted,
            "saturated": report.saturated,
            "admitted_unique": report.admitted_unique,
            "admitted_duplicates": report.admitted_duplicates,
            "lost": report.not_admitted,
            "rebroadcasts": report.fault_counters.rebroadcasts,
            "sync_requests": report.fault_counters.sync_requests,
            "blocks_synced": report.fault_counters.blocks_synced,
            "nodes": report.nodes.iter().filter(|n| n.height.is_some() || !n.up).map(|n| json!({
                "id": n.id, "up": n.up, "height": n.height, "tip": n.tip.map(|t| t.to_string()),
            })).collect::<Vec<_>>(),
            "blocks": report.blocks,
            "transactions": report.transactions,
            "orphans": report.orphans,
            "reorgs": report.reorgs,
            "delay_ms_p50": report.delay_ms.p50,
            "delay_ms_p95": report.delay_ms.p95,
            "delay_ms_max": report.delay_ms.max,
            "delay_ms_mean": report.delay_ms.mean,
            "per_sm": per_sm,
        });
        if let Some(fields) = out.as_object_mut() {
            fields.extend(vehicle_fields(&report.vehicles));
        }
        print_json(&out);
    } else {
        println!(
            "{:?}, {} SMs, {} vehicles/hour/road, period {} s: {} crossings, {} admitted; {} blocks, {} transactions, {} orphans, {} reorgs",
            config.structure,
            args.sms,
            args.traffic,
            args.period,
            report.crossings,
            report.admitted,
            report.blocks,
            report.transactions,
            report.orphans,
            report.reorgs
        );
        println!(
            "key delivery delay: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            report.delay_ms.p50, report.delay_ms.p95, report.delay_ms.max
        );
        for n in &report.nodes {
            println!(
                "  node {}: busy {:.1} % of the run, {} admitted, {} mined, {:.1} s of backlog",
                n.id,
                n.cpu_share * 100.0,
                n.admitted,
                n.blocks_mined,
                n.backlog_s
            );
        }
    }
    if report.saturated {
        let backlog = report.nodes.iter().map(|n| n.backlog_s).fold(0.0, f64::max);
        eprintln!(
            "warning: saturated: {} of {} crossings not admitted; the busiest node needed \
             {backlog:.1} s after the end to work through its queue; the delays describe only \
             the vehicles admitted",
            report.not_admitted, report.crossings
        );
    }
    Ok(ExitCode::SUCCESS)
}
