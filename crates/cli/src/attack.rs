//! `vkm attack`: the weaknesses of Chen et al.'s literal design, demonstrated.

use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;
use serde_json::json;
use vkm_negotiate::insecure::pow_mod;
use vkm_negotiate::{InsecurePaperGroup, baby_step_giant_step};

use crate::{CliError, print_json};

/// `vkm attack` subcommands.
#[derive(Debug, Subcommand)]
pub enum AttackCommand {
    /// The paper's 8-digit group: recover a secret exponent from the public share.
    PaperSmallGroup {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `vkm attack ...`.
pub fn run(command: &AttackCommand) -> Result<ExitCode, CliError> {
    let AttackCommand::PaperSmallGroup { json } = command;
    let mut rng = rand::rng();
    let group = InsecurePaperGroup::generate(&mut rng);
    let (alice, share_a) = group.keypair(&mut rng);
    let (_, share_b) = group.keypair(&mut rng);
    let started = Instant::now();
    let recovered = baby_step_giant_step(group.p, group.g, share_a);
    let seconds = started.elapsed().as_secs_f64();
    // Recovered means: the exponent found gives Alice's share, hence her master key.
    let ok = recovered.is_some_and(|x| {
        pow_mod(group.g, x, group.p) == share_a
            && group.agree(x, share_b) == group.agree(alice, share_b)
    });
    if *json {
        print_json(
            &json!({ "attack": "paper-small-group", "recovered": ok, "seconds": seconds, "p": group.p, "g": group.g }),
        );
    } else {
        println!(
            "paper's 8-digit group (p = {}, g = {}): Alice's exponent {} in {:.3} ms",
            group.p,
            group.g,
            if ok { "recovered" } else { "not recovered" },
            seconds * 1e3
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
