//! `vkm bench crypto`: the rows of Lei et al. Table IV measured here, for both sealing
//! backends, with the fast verification of registered keys beside `p256`'s reference.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use p256::elliptic_curve::sec1::ToSec1Point;
use serde_json::json;
use vkm_block::{MemberId, Timestamp, serialize};
use vkm_transfer::backend;
use vkm_transfer::directory::Directory;
use vkm_transfer::keys::{EncryptionPublic, EncryptionScheme, EncryptionSecret};
use vkm_transfer::scenario::Scenario;
use vkm_transfer::seal::Sealer;
use vkm_transfer::seal::ieee1609::Ieee1609Ecies;
use vkm_transfer::seal::ieee1609::OpeningKey;
use vkm_transfer::seal::secp256k1::EciesSecp256k1;
use vkm_transfer::signature::{FastSigner, RegisteredKey, sign, verify, verify_reference};
use vkm_transfer::transfer::{build_key_transfer, check_key_transfers};

use crate::{CliError, all_cores, print_json};

/// Table IV of Lei et al. (milliseconds, Crypto++ ECIES/ECDSA on secp160r1).
const PAPER_TABLE_IV_MS: [(&str, f64); 4] = [
    ("ecies_encrypt", 0.51027),
    ("ecies_decrypt", 0.73996),
    ("ecdsa_sign", 0.51011),
    ("ecdsa_verify", 1.10171),
];

/// Arguments of `vkm bench crypto`.
#[derive(Debug, Args)]
pub struct CryptoArgs {
    /// Measurements per operation (medians are reported).
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// Transactions in the block whose verification is timed.
    #[arg(long, default_value_t = 1000)]
    block_txs: usize,
    /// Skip the OpenSSL baseline (`openssl speed ecdsap256 ecdhp256`, run in the same
    /// command when an `openssl` binary is on the PATH).
    #[arg(long)]
    no_openssl: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// OpenSSL's P-256 costs on this machine, microseconds, from `openssl speed`.
#[derive(Debug, Clone, Copy)]
struct OpensslBaseline {
    sign_us: f64,
    verify_us: f64,
    ecdh_us: f64,
}

/// Runs `openssl speed -seconds 2 ecdsap256 ecdhp256` and reads its rates (`None` when
/// there is no `openssl` or its output is not understood).
fn openssl_baseline() -> Option<OpensslBaseline> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "2", "ecdsap256", "ecdhp256"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rates = |marker: &str| -> Option<Vec<f64>> {
        let line = text.lines().rev().find(|l| l.contains(marker))?;
        Some(
            line.split_whitespace()
                .filter_map(|t| t.parse::<f64>().ok())
                .collect(),
        )
    };
    let ecdsa = rates("ecdsa (nistp256)")?;
    let ecdh = rates("ecdh (nistp256)")?;
    // "256 bits ecdsa (nistp256) 0.0000s 0.0001s 40100.0 13771.9": the last two are
    // signs and verifications per second; the ecdh line ends with operations per second.
    let (sign, verify) = (ecdsa.get(ecdsa.len().checked_sub(2)?)?, ecdsa.last()?);
    let ecdh = ecdh.last()?;
    (*sign > 0.0 && *verify > 0.0 && *ecdh > 0.0).then(|| OpensslBaseline {
        sign_us: 1e6 / sign,
        verify_us: 1e6 / verify,
        ecdh_us: 1e6 / ecdh,
    })
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Microseconds one call of `op` takes.
fn micros(op: &mut dyn FnMut()) -> f64 {
    let started = Instant::now();
    op();
    started.elapsed().as_secs_f64() * 1e6
}

/// Medians measured by [`measure`], microseconds (the block in milliseconds).
#[derive(Debug, Clone)]
pub struct CryptoMedians {
    /// Operation names (`ecies_encrypt_us`, ...) with their medians, in report order.
    pub operations: Vec<(&'static str, f64)>,
    /// Building one registered key's table.
    pub table_build_us: f64,
    /// Checking the block of key transfers on all cores, milliseconds (`None` without a block).
    pub block_verify_ms: Option<f64>,
    /// Threads used for the block.
    pub threads: usize,
    /// Size of the sealed plaintext (identity materials).
    pub plaintext_bytes: usize,
}

impl CryptoMedians {
    /// The median of operation `name`.
    pub fn get(&self, name: &str) -> f64 {
        self.operations
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(f64::NAN, |(_, v)| *v)
    }
}

/// Measures Table IV's operations `iterations` times each, interleaved, and checks a block
/// of `block_txs` key transfers (none when 0).
pub fn measure(iterations: usize, block_txs: usize) -> Result<CryptoMedians, CliError> {
    if !(1..=100_000).contains(&iterations) || block_txs > 65_536 {
        return Err(CliError::Invalid(
            "--iterations must be 1..=100000 and --block-txs at most 65536".into(),
        ));
    }
    let mut rng = rand::rng();
    let now = Timestamp::now();
    // The Beijing scenario: 9 domains, one security manager each.
    let p256_world = Scenario::new(9, 1, EncryptionScheme::Ieee1609P256, &mut rng);
    let k256_world = Scenario::new(1, 1, EncryptionScheme::EciesSecp256k1, &mut rng);
    let missing = || CliError::Invalid("scenario member missing".into());
    let vehicle = p256_world
        .vehicle(0, now, 3_600_000, &mut rng)
        .ok_or_else(missing)?;
    let plaintext = serialize(&vehicle);
    let sm = |world: &Scenario| world.domains[0].security_managers[0].clone();
    let (p256_sm, k256_sm) = (sm(&p256_world), sm(&k256_world));
    let (EncryptionPublic::P256(p256_public), EncryptionSecret::P256(p256_secret)) =
        (p256_sm.keys.encryption_public(), &p256_sm.keys.encryption)
    else {
        return Err(missing());
    };
    let (EncryptionPublic::Secp256k1(k256_public), EncryptionSecret::Secp256k1(k256_secret)) =
        (k256_sm.keys.encryption_public(), &k256_sm.keys.encryption)
    else {
        return Err(missing());
    };
    let binding = [7u8; 32];
    let p256_sealed = Ieee1609Ecies
        .seal(&p256_public, &binding, &plaintext, &mut rng)
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let k256_sealed = EciesSecp256k1
        .seal(&k256_public, &binding, &plaintext, &mut rng)
        .map_err(|e| CliError::Invalid(e.to_string()))?;

    let dest = p256_world
        .directory
        .member(MemberId(2))
        .ok_or_else(missing)?;
    let tx = build_key_transfer(&p256_sm.keys, p256_sm.id, 0, dest, now, &vehicle, &mut rng)
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let preimage = tx.signing_preimage();
    let signing = &p256_sm.keys.signing;
    let signature = sign(signing, &preimage);
    let registered = RegisteredKey::new(*signing.verifying_key());

    // Interleaved: one of each operation per round, so machine noise hits all alike.
    let mut k256_rng = rand::rng();
    let names = [
        "ecies_encrypt_us",
        "ecies_decrypt_us",
        "secp256k1_ecies_encrypt_us",
        "secp256k1_ecies_decrypt_us",
        "ecdsa_sign_us",
        "ecdsa_verify_us",
        "ecdsa_verify_registered_us",
        "ecdsa_verify_awslc_us",
        "ecdsa_sign_random_nonce_us",
        "ecies_decrypt_prepared_us",
        "ecdh_p256_us",
        "ecdh_p256_rust_crypto_us",
    ];
    let fast_signer = FastSigner::new(signing).ok_or_else(missing)?;
    let opening = OpeningKey::new(p256_secret).ok_or_else(missing)?;
    // ECDH with a prepared secret, through the selected backend and through pure Rust.
    let peer_sec1 = p256_public.to_sec1_point(true);
    let ecdh_secret = backend::EcdhSecret::new(&p256_secret.to_nonzero_scalar());
    let ecdh_peer = backend::EcdhPeer::parse(peer_sec1.as_bytes());
    let (Some(ecdh_secret), Some(ecdh_peer)) = (ecdh_secret, ecdh_peer) else {
        return Err(missing());
    };
    let rust_secret = backend::rust_crypto::EcdhSecret::new(&p256_secret.to_nonzero_scalar());
    let rust_peer = backend::rust_crypto::EcdhPeer::parse(peer_sec1.as_bytes());
    let (Some(rust_secret), Some(rust_peer)) = (rust_secret, rust_peer) else {
        return Err(missing());
    };
    let mut samples = vec![Vec::with_capacity(iterations); names.len()];
    for _ in 0..iterations {
        let ops: [&mut dyn FnMut(); 12] = [
            &mut || {
                drop(std::hint::black_box(Ieee1609Ecies.seal(
                    &p256_public,
                    &binding,
                    &plaintext,
                    &mut rng,
                )))
            },
            &mut || {
                drop(std::hint::black_box(Ieee1609Ecies.open(
                    p256_secret,
                    &binding,
                    &p256_sealed,
                )))
            },
            &mut || {
                drop(std::hint::black_box(EciesSecp256k1.seal(
                    &k256_public,
                    &binding,
                    &plaintext,
                    &mut k256_rng,
                )))
            },
            &mut || {
                drop(std::hint::black_box(EciesSecp256k1.open(
                    k256_secret,
                    &binding,
                    &k256_sealed,
                )))
            },
            &mut || {
                std::hint::black_box(sign(signing, &preimage));
            },
            &mut || {
                let _ = std::hint::black_box(verify_reference(
                    signing.verifying_key(),
                    &preimage,
                    &signature,
                ));
            },
            &mut || {
                let _ = std::hint::black_box(registered.verify(&preimage, &signature));
            },
            &mut || {
                let _ =
                    std::hint::black_box(verify(signing.verifying_key(), &preimage, &signature));
            },
            &mut || {
                std::hint::black_box(fast_signer.sign(&preimage));
            },
            &mut || drop(std::hint::black_box(opening.open(&binding, &p256_sealed))),
            &mut || drop(std::hint::black_box(ecdh_secret.agree(&ecdh_peer))),
            &mut || drop(std::hint::black_box(rust_secret.agree(&rust_peer))),
        ];
        for (op, out) in ops.into_iter().zip(samples.iter_mut()) {
            out.push(micros(op));
        }
    }
    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    let table_build_us = micros(&mut || {
        drop(std::hint::black_box(RegisteredKey::new(
            *signing.verifying_key(),
        )))
    });

    // A block of key transfers from the nine security managers, checked on all cores.
    let txs = p256_world.round_robin_transfers(block_txs, &vehicle, now, &mut rng);
    let threads = all_cores().get();
    let seen = HashSet::new();
    let block_runs = if block_txs == 0 { 0 } else { 5 };
    let mut block_samples: Vec<f64> = (0..block_runs)
        .map(|_| {
            micros(&mut || {
                drop(std::hint::black_box(check_key_transfers(
                    &txs,
                    &p256_world.directory,
                    &seen,
                    threads,
                )))
            }) / 1e3
        })
        .collect();
    let block_verify_ms = (block_txs > 0).then(|| median(&mut block_samples));
    Ok(CryptoMedians {
        operations: names.iter().copied().zip(medians).collect(),
        table_build_us,
        block_verify_ms,
        threads,
        plaintext_bytes: plaintext.len(),
    })
}

/// Runs `vkm bench crypto`.
pub fn run(args: &CryptoArgs) -> Result<ExitCode, CliError> {
    if args.block_txs == 0 {
        return Err(CliError::Invalid("--block-txs must be at least 1".into()));
    }
    let m = measure(args.iterations, args.block_txs)?;
    let openssl = if args.no_openssl {
        None
    } else {
        openssl_baseline()
    };
    let block_ms = m.block_verify_ms.unwrap_or(f64::NAN);
    let medians: Vec<f64> = m.operations.iter().map(|(_, v)| *v).collect();
    let names: Vec<&str> = m.operations.iter().map(|(n, _)| *n).collect();
    let (table_build_us, threads) = (m.table_build_us, m.threads);

    if args.json {
        let mut out = serde_json::Map::new();
        for (name, value) in names.iter().zip(&medians) {
            out.insert((*name).into(), json!(value));
        }
        out.insert(
            "ecdsa_verify_speedup".into(),
            json!(medians[5] / medians[6]),
        );
        out.insert("registered_table_build_us".into(), json!(table_build_us));
        out.insert("backend".into(), json!(backend::NAME));
        out.insert(
            "ecdh_backend_speedup".into(),
            json!(m.get("ecdh_p256_rust_crypto_us") / m.get("ecdh_p256_us")),
        );
        let ratio = |ours: &str, theirs: fn(&OpensslBaseline) -> f64| {
            openssl.map_or(serde_json::Value::Null, |o| json!(m.get(ours) / theirs(&o)))
        };
        out.insert(
            "openssl_ecdsa_sign_us".into(),
            json!(openssl.map(|o| o.sign_us)),
        );
        out.insert(
            "openssl_ecdsa_verify_us".into(),
            json!(openssl.map(|o| o.verify_us)),
        );
        out.insert("openssl_ecdh_us".into(), json!(openssl.map(|o| o.ecdh_us)));
        out.insert(
            "verify_vs_openssl".into(),
            ratio("ecdsa_verify_awslc_us", |o| o.verify_us),
        );
        out.insert(
            "sign_random_nonce_vs_openssl".into(),
            ratio("ecdsa_sign_random_nonce_us", |o| o.sign_us),
        );
        out.insert(
            "sign_rfc6979_vs_openssl".into(),
            ratio("ecdsa_sign_us", |o| o.sign_us),
        );
        out.insert(
            "ecies_decrypt_vs_openssl_ecdh".into(),
            ratio("ecies_decrypt_prepared_us", |o| o.ecdh_us),
        );
        out.insert("block_verify_ms".into(), json!(block_ms));
        out.insert("block_txs".into(), json!(args.block_txs));
        out.insert("threads".into(), json!(threads));
        out.insert("iterations".into(), json!(args.iterations));
        out.insert("plaintext_bytes".into(), json!(m.plaintext_bytes));
        for (name, ms) in PAPER_TABLE_IV_MS {
            out.insert(format!("paper_{name}_us"), json!(ms * 1e3));
        }
        print_json(&serde_json::Value::Object(out));
    } else {
        println!(
            "median of {} runs (paper's Table IV in brackets):",
            args.iterations
        );
        for (i, (name, value)) in names.iter().zip(&medians).enumerate() {
            let paper = match i {
                0 | 1 => Some(PAPER_TABLE_IV_MS[i].1),
                4 | 5 => Some(PAPER_TABLE_IV_MS[i - 2].1),
                _ => None,
            };
            match paper {
                Some(ms) => println!("  {name}: {value:.1} [{:.1}]", ms * 1e3),
                None => println!("  {name}: {value:.1}"),
            }
        }
        println!("  registered key table: {table_build_us:.0} us to build");
        println!(
            "  P-256 backend: {}; its ECDH is {:.2}x the speed of pure-Rust p256's",
            backend::NAME,
            m.get("ecdh_p256_rust_crypto_us") / m.get("ecdh_p256_us")
        );
        if let Some(o) = openssl {
            println!(
                "  openssl speed here: sign {:.1} us, verify {:.1} us, ecdh {:.1} us; vkm/openssl: \
                 verify (AWS-LC) {:.2}x, sign (random nonce) {:.2}x, sign (RFC 6979) {:.2}x, \
                 ECIES decrypt (prepared) vs ECDH {:.2}x",
                o.sign_us,
                o.verify_us,
                o.ecdh_us,
                m.get("ecdsa_verify_awslc_us") / o.verify_us,
                m.get("ecdsa_sign_random_nonce_us") / o.sign_us,
                m.get("ecdsa_sign_us") / o.sign_us,
                m.get("ecies_decrypt_prepared_us") / o.ecdh_us,
            );
        }
        println!(
            "  {}-transaction block verified in {block_ms:.1} ms on {threads} threads",
            args.block_txs
        );
    }
    Ok(ExitCode::SUCCESS)
}
