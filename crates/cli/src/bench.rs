//! `vkm bench mining`: the midstate nonce search against a naive loop, in one run.

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;
use vkm_block::{BlockHeader, MerkleRoot, dhash};
use vkm_pow::{Difficulty, NonceTemplate, PowHeader, naive_scan, search};

use crate::{CliError, all_cores, print_json};

/// Arguments of `vkm bench mining`.
#[derive(Debug, Args)]
pub struct MiningArgs {
    /// Total measuring time, shared between the two loops.
    #[arg(long, default_value_t = 4.0)]
    seconds: f64,
    /// Threads for both loops (default: all cores).
    #[arg(long)]
    threads: Option<NonZeroUsize>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Rounds of alternation: the two loops take turns, so a noisy neighbour on the shared
/// machine affects both alike.
const TURNS: u32 = 4;

/// Nonces one call of a measured loop hashes per thread.
const BATCH: u64 = 1 << 16;

/// Runs `work(start)` (which hashes `BATCH * threads` nonces from `start`) until `budget`
/// has passed; returns the nonces hashed and the time taken.
fn rate(budget: Duration, per_call: u64, work: &dyn Fn(u64)) -> (u64, Duration) {
    let started = Instant::now();
    let mut next = 0u64;
    while started.elapsed() < budget {
        work(next);
        next += per_call;
    }
    (next, started.elapsed())
}

/// Runs `vkm bench mining`.
pub fn run(args: &MiningArgs) -> Result<ExitCode, CliError> {
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(CliError::Invalid("--seconds must be in (0, 3600]".into()));
    }
    let threads = args.threads.unwrap_or_else(all_cores);
    // No hash meets 256 leading zero bits... but the type stops at 255; at 255 bits a
    // match has probability 2^-255, so both loops scan every nonce they are given.
    let header = BlockHeader {
        version: BlockHeader::VERSION,
        merkle_root: MerkleRoot(dhash(b"bench")),
        difficulty_bits: 255,
        ..BlockHeader::default()
    };
    let template = NonceTemplate::new(&header);
    let prefix = header.bytes_before_nonce();
    let difficulty = Difficulty::new(255);
    let never = AtomicBool::new(false);
    let n = threads.get();
    // The miner's own multi-threaded search, which balances work between threads.
    let midstate = |start: u64| {
        black_box(search(
            &template,
            start..start + BATCH * n as u64,
            threads,
            &never,
        ));
    };
    let one_thread = |start: u64| {
        black_box(search(
            &template,
            start..start + BATCH,
            NonZeroUsize::MIN,
            &never,
        ));
    };
    // The baseline split statically over the same threads.
    let naive = |start: u64| {
        std::thread::scope(|scope| {
            for t in 0..n as u64 {
                let from = start + t * BATCH;
                let prefix = &prefix;
                scope.spawn(move || black_box(naive_scan(prefix, difficulty, from..from + BATCH)));
            }
        });
    };

    // With several threads a third loop, the search on one thread, measures the scaling
    // in the same run.
    let loops: [(&dyn Fn(u64), u64); 3] = [
        (&midstate, BATCH * n as u64),
        (&naive, BATCH * n as u64),
        (&one_thread, BATCH),
    ];
    let used = if n > 1 { 3 } else { 2 };
    let turn = Duration::from_secs_f64(args.seconds / (used * TURNS as usize) as f64);
    let mut totals = [(0u64, Duration::ZERO); 3];
    for _ in 0..TURNS {
        for ((work, per_call), total) in loops.iter().zip(&mut totals).take(used) {
            let (h, t) = rate(turn, *per_call, *work);
            *total = (total.0 + h, total.1 + t);
        }
    }
    let per_second = |(h, t): (u64, Duration)| h as f64 / t.as_secs_f64();
    let hps = per_second(totals[0]);
    let naive_hps = per_second(totals[1]);
    let one_thread_hps = if used == 3 {
        per_second(totals[2])
    } else {
        hps
    };
    let sha_ni = sha_extensions();
    if args.json {
        print_json(&json!({
            "hashes_per_second": hps,
            "naive_hashes_per_second": naive_hps,
            "threads": threads.get(),
            "hashes_per_second_per_thread": hps / threads.get() as f64,
            "speedup": hps / naive_hps,
            "hashes_per_second_1_thread": one_thread_hps,
            "scaling": hps / one_thread_hps,
            "seconds": totals.iter().map(|t| t.1.as_secs_f64()).sum::<f64>(),
            "sha_extensions": sha_ni,
        }));
    } else {
        println!(
            "midstate {:.2} M/s, naive {:.2} M/s ({:.2}x) on {} threads ({:.2}x one thread); SHA extensions: {sha_ni}",
            hps / 1e6,
            naive_hps / 1e6,
            hps / naive_hps,
            threads.get(),
            hps / one_thread_hps,
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether the CPU has SHA instructions that `sha2` uses (SHA-NI on x86, SHA2 on ARM).
fn sha_extensions() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("sha")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("sha2")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}
