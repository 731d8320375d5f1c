//! `vkm transfer demo`: one vehicle crossing one border with fresh keys, in the structure
//! asked for, with timings per step.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};
use vkm_block::{MemberId, Timestamp, Transaction, serialize};
use vkm_transfer::directory::Directory;
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::scenario::Scenario;
use vkm_transfer::signature::signing_digest;
use vkm_transfer::traditional::{RelayedTransfer, deliver, originate, relay};
use vkm_transfer::transfer::{TransferError, admit, build_key_transfer, check_key_transfer};

use crate::keygen::SchemeArg;
use crate::{CliError, print_json};

/// The structures of Lei et al. section III.B.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Structure {
    /// Fig. 5: the source SM's transaction, checked by every SM, opened by the destination.
    Blockchain,
    /// Fig. 4: SM-A-1 -> CA-A -> SM-A-2.
    SameDomain,
    /// Fig. 3: SM-A -> CA-A -> CA-B -> SM-B.
    CrossDomain,
}

/// Arguments of `vkm transfer demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Which structure to run.
    #[arg(long, value_enum, default_value_t = Structure::Blockchain)]
    structure: Structure,
    /// Encryption scheme of every member.
    #[arg(long, value_enum, default_value_t = SchemeArg::Ieee1609)]
    scheme: SchemeArg,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Times one step, recording microseconds under `name`.
fn timed<T>(timings: &mut Map<String, Value>, name: &str, step: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = step();
    timings.insert(
        format!("{name}_us"),
        json!(started.elapsed().as_secs_f64() * 1e6),
    );
    out
}

/// Runs `vkm transfer demo`.
pub fn run(args: &DemoArgs) -> Result<ExitCode, CliError> {
    let mut rng = rand::rng();
    let scheme: EncryptionScheme = args.scheme.into();
    // Two domains of two security managers: SMs 1, 2 in domain 1 and 3, 4 in domain 2.
    let world = Scenario::new(2, 2, scheme, &mut rng);
    let now = Timestamp::now();
    let vehicle = world
        .vehicle(0, now, 3_600_000, &mut rng)
        .ok_or_else(|| CliError::Invalid("no domain".into()))?;
    let source = MemberId(1);
    let destination = if args.structure == Structure::SameDomain {
        MemberId(2)
    } else {
        MemberId(3)
    };
    let keys = |id| {
        world
            .keys(id)
            .ok_or_else(|| CliError::Invalid(format!("no keys for {id}")))
    };
    let failed = |e: TransferError| CliError::Invalid(format!("transfer failed: {e}"));
    let mut timings = Map::new();

    let (encoded, preimage, signature, admitted) = match args.structure {
        Structure::Blockchain => {
            let dest = world
                .directory
                .member(destination)
                .ok_or_else(|| CliError::Invalid("no destination".into()))?;
            let tx = timed(&mut timings, "build_encrypt_sign", || {
                build_key_transfer(keys(source)?, source, 0, dest, now, &vehicle, &mut rng)
                    .map_err(failed)
            })?;
            let seen = std::collections::HashSet::new();
            timed(&mut timings, "check_verify", || {
                check_key_transfer(&tx, &world.directory, &seen)
            })
            .map_err(failed)?;
            let admitted = timed(&mut timings, "admit_decrypt_certificate", || {
                admit(&tx, keys(destination)?, destination, &world.directory, now).map_err(failed)
            })?;
            let preimage = tx.signing_preimage();
            let signature = tx.signature;
            (
                serialize(&Transaction::KeyTransfer(tx)),
                preimage,
                signature,
                admitted,
            )
        }
        Structure::SameDomain | Structure::CrossDomain => {
            let transfer = RelayedTransfer {
                destination,
                sequence: 0,
                timestamp: now,
            };
            let first = timed(&mut timings, "originate_encrypt_sign", || {
                originate(
                    keys(source)?,
                    source,
                    transfer,
                    &vehicle,
                    &world.directory,
                    &mut rng,
                )
                .map_err(failed)
            })?;
            let mut msg = first.clone();
            for (hop, name) in ["relay_ca_a", "relay_ca_b"].iter().enumerate() {
                if hop == 1 && args.structure == Structure::SameDomain {
                    break;
                }
                let relay_id = msg.receiver;
                msg = timed(
                    &mut timings,
                    &format!("{name}_verify_decrypt_encrypt_sign"),
                    || {
                        relay(&msg, keys(relay_id)?, relay_id, &world.directory, &mut rng)
                            .map_err(failed)
                    },
                )?;
            }
            let admitted = timed(&mut timings, "deliver_verify_decrypt_certificate", || {
                deliver(&msg, keys(destination)?, destination, &world.directory, now)
                    .map_err(failed)
            })?;
            (
                serialize(&first),
                first.signing_preimage(),
                first.signature,
                admitted,
            )
        }
    };

    let decrypted_ok = admitted.materials == vehicle;
    let source_public = keys(source)?.signing.verifying_key().to_sec1_point(true);
    if args.json {
        print_json(&json!({
            "structure": format!("{:?}", args.structure).to_lowercase(),
            "tx_hex": hex::encode(&encoded),
            "signing_digest": hex::encode(signing_digest(&preimage)),
            "source_signing_public": hex::encode(source_public.as_bytes()),
            "signature": hex::encode(signature.0),
            "decrypted_ok": decrypted_ok,
            "source": source.0,
            "destination": destination.0,
            "timings_us": timings,
        }));
    } else {
        println!(
            "{:?}: vehicle moved from {source} to {destination}, identity materials {} ({} bytes on the wire)",
            args.structure,
            if decrypted_ok {
                "recovered intact"
            } else {
                "CORRUPTED"
            },
            encoded.len()
        );
        for (step, us) in &timings {
            println!("  {step}: {:.1}", us.as_f64().unwrap_or(0.0));
        }
    }
    Ok(if decrypted_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
