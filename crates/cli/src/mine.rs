//! `vkm mine`: synthetic key transfers, mined into a block.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::Args;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;
use vkm_block::{Timestamp, serialize};
use vkm_pow::{Miner, MiningOutcome};

use crate::{CliError, all_cores, print_json};

/// Arguments of `vkm mine`.
#[derive(Debug, Args)]
pub struct MineArgs {
    /// Leading zero bits the block hash must have (the paper's setting is 10).
    #[arg(long)]
    difficulty_bits: u8,
    /// Number of synthetic key-transfer transactions in the block.
    #[arg(long, default_value_t = 100)]
    txs: usize,
    /// Threads for the nonce search (default: all cores).
    #[arg(long)]
    threads: Option<NonZeroUsize>,
    /// Seed of the transactions and of the transaction orders (default: random; it is
    /// printed, so a run can be repeated with it and --timestamp).
    #[arg(long)]
    seed: Option<u64>,
    /// Block timestamp in milliseconds since the Unix epoch (default: now).
    #[arg(long)]
    timestamp: Option<u64>,
    /// Write the encoded block to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `vkm mine`.
pub fn run(args: &MineArgs) -> Result<ExitCode, CliError> {
    if args.txs > vkm_block::limits::MAX_BLOCK_TRANSACTIONS {
        return Err(CliError::Invalid(format!(
            "--txs {} exceeds the block limit of {}",
            args.txs,
            vkm_block::limits::MAX_BLOCK_TRANSACTIONS
        )));
    }
    crate::check_difficulty(args.difficulty_bits)?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let threads = args.threads.unwrap_or_else(all_cores);
    crate::check_threads(threads.get())?;
    crate::announce_mining_time(args.difficulty_bits, threads.get());
    let timestamp = args.timestamp.map_or_else(Timestamp::now, Timestamp);
    let mut rng = StdRng::seed_from_u64(seed);

    let mut block =
        vkm_block::synthetic::block(&mut rng, args.txs, args.difficulty_bits, timestamp);
    let outcome = Miner::new(threads).mine(&mut block, &mut rng, &AtomicBool::new(false));
    let MiningOutcome::Mined(stats) = outcome else {
        return Err(CliError::Invalid("mining was aborted".into()));
    };

    let bytes = serialize(&block);
    if let Some(path) = &args.out {
        std::fs::write(path, &bytes)
            .map_err(|e| CliError::Io(format!("cannot write {}: {e}", path.display())))?;
    }
    let seconds = stats.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        stats.hashes as f64 / seconds
    } else {
        0.0
    };
    let hash = block.block_hash();
    if args.json {
        print_json(&json!({
            "header_hex": hex::encode(block.header.to_bytes()),
            "block_hash": hash.to_string(),
            "difficulty_bits": args.difficulty_bits,
            "nonce": block.header.nonce,
            "hashes": stats.hashes,
            "seconds": seconds,
            "hashes_per_second": rate,
            "transactions": block.transactions.len(),
            "rounds": stats.rounds,
            "threads": threads.get(),
            "seed": seed,
            "timestamp": timestamp.0,
            "merkle_root": block.header.merkle_root.to_string(),
            "block_bytes": bytes.len(),
            "out": args.out.as_ref().map(|p| p.display().to_string()),
        }));
    } else {
        println!(
            "mined block {hash}: {} transactions, nonce {}, {} hashes in {seconds:.3} s ({:.2} M/s, {} threads, seed {seed})",
            block.transactions.len(),
            block.header.nonce,
            stats.hashes,
            rate / 1e6,
            threads.get(),
        );
    }
    Ok(ExitCode::SUCCESS)
}
