//! `vkm chain verify|show|trace`: inspect a security manager's stored chain.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use vkm_block::{Block, Timestamp, Transaction, Txid, serialize};
use vkm_ledger::{Ledger, LedgerError};
use vkm_transfer::rules::KeyTransferRules;

use crate::{CliError, all_cores, print_json};

/// `vkm chain` subcommands.
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Revalidate a stored chain from genesis; exit 0 only when sound.
    Verify(DbArgs),
    /// Show the tip, or the block at a height.
    Show(ShowArgs),
    /// Find a transaction: its block, position and merkle inclusion proof.
    Trace(TraceArgs),
}

/// A ledger file.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// The ledger file (for example `sm-1.redb` in a `vkm network run --db` folder).
    #[arg(long)]
    db: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Arguments of `vkm chain show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Height of the block to show (default: the tip).
    #[arg(long)]
    height: Option<u64>,
}

/// Arguments of `vkm chain trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The transaction id, hex.
    #[arg(long)]
    tx: String,
}

fn open(args: &DbArgs) -> Result<Ledger, CliError> {
    if !args.db.is_file() {
        return Err(CliError::Io(format!(
            "no ledger file at {}",
            args.db.display()
        )));
    }
    Ledger::open_read_only(
        &args.db,
        vkm_node::chain_rules(&KeyTransferRules::new(all_cores().get()), all_cores().get()),
    )
    .map_err(|e| CliError::Invalid(format!("cannot open {}: {e}", args.db.display())))
}

fn block_json(block: &Block, height: u64) -> serde_json::Value {
    let kinds: Vec<&str> = block
        .transactions
        .iter()
        .map(|tx| match tx {
            Transaction::KeyTransfer(_) => "key_transfer",
            Transaction::Value(_) => "value",
            Transaction::Registry(_) => "registry",
        })
        .collect();
    json!({
        "height": height,
        "hash": block.block_hash().to_string(),
        "prev_block": block.header.prev_block.to_string(),
        "merkle_root": block.header.merkle_root.to_string(),
        "timestamp": block.header.timestamp.0,
        "difficulty_bits": block.header.difficulty_bits,
        "nonce": block.header.nonce,
        "miner": block.miner.0,
        "transactions": block.transactions.len(),
        "txids": block.txids().iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        "kinds": kinds,
        "bytes": serialize(block).len(),
    })
}

/// Runs `vkm chain ...`. The store is opened read-only: inspection never changes a byte
/// of it. A panic inside the storage layer (redb on a damaged file) is contained here and
/// reported as damage, with a non-zero exit.
pub fn run(command: &ChainCommand) -> Result<ExitCode, CliError> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inspect(command)));
    std::panic::set_hook(hook);
    result.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        Err(CliError::Invalid(format!(
            "the store is damaged: the storage layer failed reading it ({message})"
        )))
    })
}

fn inspect(command: &ChainCommand) -> Result<ExitCode, CliError> {
    match command {
        ChainCommand::Verify(args) => {
            let ledger = open(args)?;
            match ledger.revalidate(Timestamp::now()) {
                Ok(summary) => {
                    if args.json {
                        print_json(&json!({
                            "height": summary.height, "tip": summary.tip.to_string(),
                            "blocks": summary.blocks, "transactions": summary.transactions,
                        }));
                    } else {
                        println!(
                            "sound chain: height {}, tip {}, {} blocks, {} transactions",
                            summary.height, summary.tip, summary.blocks, summary.transactions
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(LedgerError::Invalid { hash, error }) => {
                    if args.json {
                        print_json(
                            &json!({ "valid": false, "block": hash.to_string(), "error": error.to_string() }),
                        );
                    }
                    eprintln!("invalid block {hash}: {error}");
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(CliError::Invalid(e.to_string())),
            }
        }
        ChainCommand::Show(args) => {
            let ledger = open(&args.db)?;
            let height = args.height.unwrap_or(ledger.height());
            let block = ledger
                .block_at(height)
                .map_err(|e| CliError::Invalid(e.to_string()))?
                .ok_or_else(|| {
                    CliError::Invalid(format!(
                        "no block at height {height} (tip is {})",
                        ledger.height()
                    ))
                })?;
            let out = block_json(&block, height);
            if args.db.json {
                print_json(&out);
            } else {
                println!("{out:#}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ChainCommand::Trace(args) => {
            let ledger = open(&args.db)?;
            let txid: Txid = args
                .tx
                .parse()
                .map_err(|_| CliError::Invalid("--tx must be 64 hex digits".into()))?;
            let location = ledger
                .transaction(&txid)
                .map_err(|e| CliError::Invalid(e.to_string()))?
                .ok_or_else(|| {
                    CliError::Invalid(format!("transaction {txid} is not on the chain"))
                })?;
            let header = ledger
                .block(&location.block)
                .map_err(|e| CliError::Invalid(e.to_string()))?
                .map(|b| b.header.merkle_root.to_string());
            let out = json!({
                "txid": txid.to_string(),
                "block": location.block.to_string(),
                "height": location.height,
                "position": location.position,
                "merkle_root": header,
                "proof": {
                    "index": location.proof.index,
                    "leaf_count": location.proof.leaf_count,
                    "hashes": location.proof.hashes.iter().map(hex::encode).collect::<Vec<_>>(),
                },
                "transaction_hex": hex::encode(serialize(&location.transaction)),
            });
            if args.db.json {
                print_json(&out);
            } else {
                println!("{out:#}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
