//! `vkm calibrate`: the time elements of Table III measured on this machine by running
//! vkm's own code, written as a calibration file for `vkm period optimise`.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use clap::Args;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{Timestamp, serialize, synthetic};
use vkm_period::{Calibration, PrepModel, TimeElements};
use vkm_pow::{Candidate, Difficulty, NonceTemplate, PowHeader, SearchOutcome, search};

use crate::{CliError, bench_crypto, print_json};

/// Arguments of `vkm calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Write the calibration file here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Measurements per operation (medians are used).
    #[arg(long, default_value_t = 100)]
    iterations: usize,
    /// Print the calibration as one JSON object.
    #[arg(long)]
    json: bool,
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Mean seconds to mine a header at the paper's difficulty on one thread (one security
/// manager's core), over `blocks` different headers.
fn mining_seconds(blocks: u64) -> f64 {
    let mut total = 0.0;
    for i in 0..blocks {
        let mut rng = StdRng::seed_from_u64(i);
        let block = synthetic::block(
            &mut rng,
            1,
            Difficulty::PAPER.bits(),
            Timestamp(1_700_000_000_000 + i),
        );
        let template = NonceTemplate::new(&block.header);
        let started = Instant::now();
        let outcome = search(
            &template,
            0..u64::MAX,
            NonZeroUsize::MIN,
            &AtomicBool::new(false),
        );
        total += started.elapsed().as_secs_f64();
        debug_assert!(matches!(outcome, SearchOutcome::Found { .. }));
    }
    total / blocks as f64
}

/// Median seconds to prepare a block of `n` transactions: leaf hashes, a Fisher-Yates
/// order and merkle root, the header template, and the encoded block (Table III's
/// trand + tfill + tmerkle + theader).
pub(crate) fn prep_seconds(n: usize, runs: usize) -> f64 {
    let mut rng = StdRng::seed_from_u64(n as u64);
    let mut block = synthetic::block(
        &mut rng,
        n,
        Difficulty::PAPER.bits(),
        Timestamp(1_700_000_000_000),
    );
    let samples = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let mut candidate = Candidate::new(&block.transactions);
            block.header.merkle_root = candidate.reshuffle(&mut rng);
            std::hint::black_box(NonceTemplate::new(&block.header).difficulty());
            std::hint::black_box(block.header.bytes_before_nonce());
            std::hint::black_box(serialize(&block));
            started.elapsed().as_secs_f64()
        })
        .collect();
    median(samples)
}

/// Measures this machine.
pub fn measure(iterations: usize) -> Result<Calibration, CliError> {
    let crypto = bench_crypto::measure(iterations, 0)?;
    let (small, large) = (prep_seconds(100, 21), prep_seconds(1000, 11));
    let per_transaction_s = ((large - small) / 900.0).max(0.0);
    let fixed_s = (small - 100.0 * per_transaction_s).max(0.0);
    let paper = Calibration::paper().elements;
    let elements = TimeElements {
        encrypt_s: crypto.get("ecies_encrypt_us") * 1e-6,
        decrypt_s: crypto.get("ecies_decrypt_prepared_us") * 1e-6,
        sign_s: crypto.get("ecdsa_sign_us") * 1e-6,
        verify_s: crypto.get("ecdsa_verify_registered_us") * 1e-6,
        mining_s: mining_seconds(200),
        backoff_s: paper.backoff_s,
        propagation_s: paper.propagation_s,
        prep: PrepModel::Linear {
            fixed_s,
            per_transaction_s,
        },
    };
    Ok(Calibration {
        name: "measured".into(),
        source: format!(
            "vkm calibrate on this machine ({} threads available), medians of {iterations} runs",
            crypto.threads
        ),
        elements,
        notes: vec![
            "encrypt/decrypt: IEEE 1609.2 ECIES on P-256 sealing 133-byte identity materials"
                .into(),
            "sign/verify: low-S ECDSA P-256; verify is the registered-key fast path every SM uses"
                .into(),
            format!(
                "mining: mean nonce search at {} on one thread",
                Difficulty::PAPER
            ),
            format!(
                "prep: linear fit through 100 transactions ({:.1} us) and 1,000 ({:.1} us): leaves, shuffle, merkle root, header, encoding",
                small * 1e6,
                large * 1e6
            ),
            "backoff_s, propagation_s: assumed, as in the paper calibration".into(),
        ],
    })
}

/// Runs `vkm calibrate`.
pub fn run(args: &CalibrateArgs) -> Result<ExitCode, CliError> {
    if !(1..=100_000).contains(&args.iterations) {
        return Err(CliError::Invalid("--iterations must be 1..=100000".into()));
    }
    let calibration = measure(args.iterations)?;
    let text = calibration.to_json();
    if let Some(path) = &args.out {
        std::fs::write(path, format!("{text}\n"))
            .map_err(|e| CliError::Io(format!("cannot write {}: {e}", path.display())))?;
    }
    if args.json {
        print_json(
            &serde_json::to_value(&calibration).map_err(|e| CliError::Invalid(e.to_string()))?,
        );
    } else {
        println!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
