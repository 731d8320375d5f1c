//! `vkm chain verify|show|trace|export|repair`: inspect a security manager's stored
//! chain, and rebuild a damaged one.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;
use vkm_block::limits::MAX_BLOCK_BYTES;
use vkm_block::{Block, Timestamp, Txid, deserialize, serialize};
use vkm_ledger::repair::{self, Integrity};
use vkm_ledger::{Ledger, LedgerError};
use vkm_transfer::rules::KeyTransferRules;

use crate::files::{exists, read_bounded, write_new};
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
    /// Write the encoded block at a height (default: genesis) to a file, for
    /// `vkm block verify --genesis` and `vkm chain repair --genesis`.
    Export(ExportArgs),
    /// Rebuild a fresh store from the blocks of a damaged one that still validate; the
    /// damaged file is only read. Exit 0 when the new store is written (`complete` says
    /// whether everything the damaged store held was recovered).
    Repair(RepairArgs),
}

/// Arguments of `vkm chain export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Height of the block (default: 0, the genesis block).
    #[arg(long, default_value_t = 0)]
    height: u64,
    /// The file to write (refused if it exists).
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `vkm chain repair`.
#[derive(Debug, Args)]
pub struct RepairArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The new store to write (refused if it exists).
    #[arg(long)]
    out: PathBuf,
    /// The chain's genesis block, encoded (`vkm chain export --height 0` of a sound
    /// copy); default: the damaged store's own, or the only parentless block found.
    #[arg(long)]
    genesis: Option<PathBuf>,
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

fn rules() -> vkm_ledger::RuleSet {
    vkm_node::chain_rules(&KeyTransferRules::new(all_cores().get()), all_cores().get())
}

fn require_file(args: &DbArgs) -> Result<(), CliError> {
    if args.db.is_file() {
        Ok(())
    } else {
        Err(CliError::Io(format!(
            "no ledger file at {}",
            args.db.display()
        )))
    }
}

fn open(args: &DbArgs) -> Result<Ledger, CliError> {
    require_file(args)?;
    Ledger::open_read_only(&args.db, rules())
        .map_err(|e| CliError::Invalid(format!("cannot open {}: {e}", args.db.display())))
}

/// redb's page checksums, checked on a private copy before anything is read: a damaged
/// page is named as such instead of reaching redb's readers, which trust it.
fn check_pages(args: &DbArgs) -> Result<(), CliError> {
    require_file(args)?;
    let integrity = repair::check_integrity(&args.db).map_err(|e| CliError::Io(e.to_string()))?;
    match integrity {
        Integrity::Verified { unclean: false } => Ok(()),
        Integrity::Verified { unclean: true } => Err(CliError::Invalid(format!(
            "{} was not closed cleanly (a crash or a kill); its last commit is intact: a node \
             opening it recovers it, or `vkm chain repair` rebuilds a copy",
            args.db.display()
        ))),
        damaged => Err(CliError::Invalid(format!(
            "{} is damaged: {damaged}; `vkm chain repair` rebuilds a fresh store from the \
             blocks that still validate",
            args.db.display()
        ))),
    }
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
        let message = repair::panic_message(&*panic);
        Err(CliError::Invalid(format!(
            "the store is damaged: the storage layer failed reading it ({message})"
        )))
    })
}

fn inspect(command: &ChainCommand) -> Result<ExitCode, CliError> {
    match command {
        ChainCommand::Verify(args) => {
            check_pages(args)?;
            let ledger = open(args)?;
            match ledger.revalidate(Timestamp::now()) {
                Ok(summary) => {
                    if args.json {
                        print_json(&json!({
                            "height": summary.height, "tip": summary.tip.to_string(),
                            "blocks": summary.blocks, "transactions": summary.transactions,
                            "page_checksums": "verified",
                        }));
                    } else {
                        println!(
                            "sound chain: height {}, tip {}, {} blocks, {} transactions, page \
                             checksums verified",
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
            let out = vkm_p2p::api::block_json(&block, height);
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
        ChainCommand::Export(args) => {
            let ledger = open(&args.db)?;
            let block = ledger
                .block_at(args.height)
                .map_err(|e| CliError::Invalid(e.to_string()))?
                .ok_or_else(|| {
                    CliError::Invalid(format!(
                        "no block at height {} (tip is {})",
                        args.height,
                        ledger.height()
                    ))
                })?;
            write_new(&args.out, &serialize(&block), false, false)?;
            let out = json!({
                "height": args.height,
                "hash": block.block_hash().to_string(),
                "bytes": serialize(&block).len(),
                "out": args.out.display().to_string(),
            });
            if args.db.json {
                print_json(&out);
            } else {
                println!(
                    "block {} at height {} written to {}",
                    block.block_hash(),
                    args.height,
                    args.out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ChainCommand::Repair(args) => run_repair(args),
    }
}

fn run_repair(args: &RepairArgs) -> Result<ExitCode, CliError> {
    require_file(&args.db)?;
    if exists(&args.out) {
        return Err(CliError::Invalid(format!(
            "{} exists; a repair writes a new store",
            args.out.display()
        )));
    }
    let genesis = match &args.genesis {
        Some(path) => {
            let bytes = read_bounded(path, MAX_BLOCK_BYTES as u64)?;
            Some(deserialize::<Block>(&bytes).map_err(|e| {
                CliError::Invalid(format!("{} is not an encoded block: {e}", path.display()))
            })?)
        }
        None => None,
    };
    let report = repair::repair(
        &args.db.db,
        &args.out,
        genesis.as_ref(),
        rules(),
        Timestamp::now(),
    )
    .map_err(|e| CliError::Invalid(e.to_string()))?;
    let lost = report.previous.as_ref().map_or(0, |p| p.lost.len());
    let complete = lost == 0 && report.invalid.is_empty() && report.unconnected.is_empty();
    if args.db.json {
        print_json(&json!({
            "out": args.out.display().to_string(),
            "complete": complete,
            "genesis": report.genesis.to_string(),
            "found": report.found,
            "recovered": {
                "height": report.recovered.height,
                "tip": report.recovered.tip.to_string(),
                "blocks": report.recovered.blocks,
                "transactions": report.recovered.transactions,
            },
            "side_blocks": report.side_blocks,
            "invalid": report.invalid.iter().map(|(hash, error)| json!({
                "block": hash.to_string(), "error": error.to_string(),
            })).collect::<Vec<_>>(),
            "unconnected": report.unconnected.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "previous": report.previous.as_ref().map(|p| json!({
                "height": p.height, "tip": p.tip.to_string(), "lost": p.lost,
            })),
            "unreadable": report.unreadable,
            "page_checksums": report.integrity.to_string(),
        }));
    } else {
        println!(
            "rebuilt {}: height {}, tip {}, {} transactions ({} blocks found, {} on side branches)",
            args.out.display(),
            report.recovered.height,
            report.recovered.tip,
            report.recovered.transactions,
            report.found,
            report.side_blocks
        );
        println!("damaged store: {}", report.integrity);
        if let Some(p) = &report.previous {
            println!(
                "its best chain had height {}; {} of its blocks are not on the rebuilt chain",
                p.height, lost
            );
        }
        for (hash, error) in &report.invalid {
            println!("  invalid block {hash}: {error}");
        }
        for hash in &report.unconnected {
            println!("  block {hash}: parent neither found nor valid");
        }
        for what in &report.unreadable {
            println!("  unreadable: {what}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
