//! `vkm attack`: the weaknesses of Chen et al.'s literal design, demonstrated from the
//! chain alone.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use vkm_negotiate::attack::{AttackReport, literal_dynamic_script, small_group};

use crate::negotiate::chain_folder;
use crate::{CliError, print_json};

/// Arguments of each attack.
#[derive(Debug, Args)]
pub struct AttackArgs {
    /// Keep the chain in this folder (default: a temporary folder, removed afterwards).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// `vkm attack` subcommands.
#[derive(Debug, Subcommand)]
pub enum AttackCommand {
    /// The paper's 8-digit group: Alice and Bob negotiate in the value channel; an
    /// observer reads the chain and recovers the master key by baby-step giant-step.
    PaperSmallGroup(AttackArgs),
    /// The paper's dynamic script `a g p OP_Exponent ...`: an observer reads the secret
    /// exponent from the chain and computes the master key (over ffdhe2048).
    PaperDynamicScript(AttackArgs),
}

/// Runs `vkm attack ...`.
pub fn run(command: &AttackCommand) -> Result<ExitCode, CliError> {
    let mut rng = rand::rng();
    let (name, args) = match command {
        AttackCommand::PaperSmallGroup(args) => ("paper-small-group", args),
        AttackCommand::PaperDynamicScript(args) => ("paper-dynamic-script", args),
    };
    let (dir, _guard) = chain_folder(args.db.as_deref(), name)?;
    let db = dir.join("chain.redb");
    let report: AttackReport = match command {
        AttackCommand::PaperSmallGroup(_) => small_group(&db, &mut rng),
        AttackCommand::PaperDynamicScript(_) => literal_dynamic_script(&db, &mut rng),
    }
    .map_err(|e| CliError::Invalid(e.to_string()))?;
    if args.json {
        print_json(&json!({
            "attack": name,
            "recovered": report.recovered,
            "seconds": report.seconds,
            "blocks_read": report.blocks,
        }));
    } else {
        println!(
            "{name}: the observer {} the master key from {} blocks in {:.3} ms",
            if report.recovered {
                "recovered"
            } else {
                "did not recover"
            },
            report.blocks,
            report.seconds * 1e3
        );
    }
    Ok(if report.recovered {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
