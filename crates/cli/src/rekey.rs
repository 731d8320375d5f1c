//! `vkm rekey bench`: one batch rekey of a group of N members with K joins and K leaves.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand, ValueEnum};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;
use vkm_block::serialize;
use vkm_rekey::{Flat, GroupKeyScheme, Lkh, VehicleId};

use crate::{CliError, print_json};

/// `vkm rekey` subcommands.
#[derive(Debug, Subcommand)]
pub enum RekeyCommand {
    /// Time one batch rekey.
    Bench(BenchArgs),
}

/// Rekeying schemes on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemeArg {
    /// The new group key wrapped under every member's key.
    Flat,
    /// Logical key hierarchy (4-ary), batch rekeying.
    Lkh,
}

/// Arguments of `vkm rekey bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Members in the group.
    #[arg(long)]
    members: u64,
    /// Members leaving and joining in the period (each).
    #[arg(long)]
    churn: u64,
    /// The scheme.
    #[arg(long, value_enum, default_value_t = SchemeArg::Lkh)]
    scheme: SchemeArg,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn measure<S: GroupKeyScheme>(
    mut scheme: S,
    args: &BenchArgs,
) -> Result<(usize, usize, f64), CliError> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let all: Vec<VehicleId> = (0..args.members).map(VehicleId).collect();
    scheme
        .rekey(&all, &[], &mut rng)
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let step = (args.members / args.churn.max(1)).max(1);
    let leaves: Vec<VehicleId> = (0..args.churn).map(|i| VehicleId(i * step)).collect();
    let joins: Vec<VehicleId> = (args.members..args.members + args.churn)
        .map(VehicleId)
        .collect();
    let started = Instant::now();
    let rekey = scheme
        .rekey(&joins, &leaves, &mut rng)
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let micros = started.elapsed().as_secs_f64() * 1e6;
    Ok((
        rekey.message.keys.len(),
        serialize(&rekey.message).len(),
        micros,
    ))
}

/// Runs `vkm rekey ...`.
pub fn run(command: &RekeyCommand) -> Result<ExitCode, CliError> {
    let RekeyCommand::Bench(args) = command;
    if !(1..=10_000_000).contains(&args.members) || args.churn > args.members {
        return Err(CliError::Invalid(
            "--members must be 1..=10000000 and --churn at most --members".into(),
        ));
    }
    let mut seed_rng = StdRng::seed_from_u64(args.seed ^ 0xa5);
    let (wrapped, bytes, micros) = match args.scheme {
        SchemeArg::Flat => measure(Flat::new(&mut seed_rng), args)?,
        SchemeArg::Lkh => measure(Lkh::new(4, &mut seed_rng), args)?,
    };
    let scheme = format!("{:?}", args.scheme).to_lowercase();
    if args.json {
        print_json(&json!({
            "scheme": scheme, "members": args.members, "churn": args.churn,
            "wrapped_keys": wrapped, "bytes": bytes, "micros": micros,
        }));
    } else {
        println!(
            "{scheme}: {} members, {} joins and {} leaves: {wrapped} wrapped keys, {bytes} bytes, {micros:.0} us",
            args.members, args.churn, args.churn
        );
    }
    Ok(ExitCode::SUCCESS)
}
