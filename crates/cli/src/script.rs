//! `vkm script run`: run an unlocking then a locking script, in Bitcoin's assembly form.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use vkm_script::exec::eval;
use vkm_script::{Flags, NoSignatures, asm};

use crate::{CliError, print_json};

/// `vkm script` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScriptCommand {
    /// Run the unlocking script, then the locking script (with P2SH); without a
    /// transaction, signature checks fail cleanly.
    Run(RunArgs),
}

/// Arguments of `vkm script run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The unlocking script (scriptSig), assembly.
    #[arg(long, allow_hyphen_values = true)]
    sig: String,
    /// The locking script (scriptPubKey), assembly.
    #[arg(long, allow_hyphen_values = true)]
    pubkey: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `vkm script run`.
pub fn run(command: &ScriptCommand) -> Result<ExitCode, CliError> {
    let ScriptCommand::Run(args) = command;
    let unlocking = asm::parse(&args.sig).map_err(|e| CliError::Invalid(format!("--sig: {e}")))?;
    let locking =
        asm::parse(&args.pubkey).map_err(|e| CliError::Invalid(format!("--pubkey: {e}")))?;
    let flags = Flags { p2sh: true };
    let result = vkm_script::verify(&unlocking, &locking, flags, &NoSignatures);
    // The stack to show: the final one on success; on failure, what the scripts left when
    // run one after the other up to the error.
    let stack = match &result {
        Ok(stack) => stack.clone(),
        Err(_) => {
            let mut stack = Vec::new();
            if eval(&unlocking, &mut stack, &NoSignatures).is_ok() {
                let _ = eval(&locking, &mut stack, &NoSignatures);
            }
            stack
        }
    };
    let error = result.as_ref().err().map(|e| e.name());
    let items: Vec<String> = stack.iter().map(hex::encode).collect();
    if args.json {
        print_json(&json!({ "ok": result.is_ok(), "error": error, "stack": items }));
    } else {
        match error {
            None => println!("ok; stack (top last): [{}]", items.join(", ")),
            Some(name) => println!("failed: {name}; stack (top last): [{}]", items.join(", ")),
        }
    }
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
