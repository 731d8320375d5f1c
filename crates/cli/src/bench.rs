//! `vkm bench mining`: the midstate nonce search against a naive loop, in one run.

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

/// Hashes per second of `work` run for about `budget`, on `threads` threads, where
/// `work(start, count)` hashes `count` nonces from `start` on one thread.
fn rate(budget: Duration, threads: usize, work: &(dyn Fn(u64, u64) + Sync)) -> (u64, Duration) {
    let batch = 1u64 << 16;
    let started = Instant::now();
    let mut hashes = 0u64;
    let mut next = 0u64;
    while started.elapsed() < budget {
        std::thread::scope(|scope| {
            for t in 1..threads {
                let start = next + t as u64 * batch * 8;
                scope.spawn(move || work(start, batch * 8));
            }
            work(next, batch * 8);
        });
        next += threads as u64 * batch * 8;
        hashes += threads as u64 * batch * 8;
    }
    (hashes, started.elapsed())
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
    let midstate = |start: u64, count: u64| {
        std::hint::black_box(search(
            &template,
            start..start + count,
            NonZeroUsize::MIN,
            &never,
        ));
    };
    let naive = |start: u64, count: u64| {
        std::hint::black_box(naive_scan(&prefix, difficulty, start..start + count));
    };

    let turn = Duration::from_secs_f64(args.seconds / f64::from(2 * TURNS));
    let (mut fast, mut slow) = ((0u64, Duration::ZERO), (0u64, Duration::ZERO));
    for _ in 0..TURNS {
        let (h, t) = rate(turn, threads.get(), &midstate);
        fast = (fast.0 + h, fast.1 + t);
        let (h, t) = rate(turn, threads.get(), &naive);
        slow = (slow.0 + h, slow.1 + t);
    }
    let hps = fast.0 as f64 / fast.1.as_secs_f64();
    let naive_hps = slow.0 as f64 / slow.1.as_secs_f64();
    let sha_ni = sha_extensions();
    if args.json {
        print_json(&json!({
            "hashes_per_second": hps,
            "naive_hashes_per_second": naive_hps,
            "threads": threads.get(),
            "hashes_per_second_per_thread": hps / threads.get() as f64,
            "speedup": hps / naive_hps,
            "seconds": (fast.1 + slow.1).as_secs_f64(),
            "sha_extensions": sha_ni,
        }));
    } else {
        println!(
            "midstate {:.2} M/s, naive {:.2} M/s ({:.2}x) on {} threads; SHA extensions: {sha_ni}",
            hps / 1e6,
            naive_hps / 1e6,
            hps / naive_hps,
            threads.get()
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
