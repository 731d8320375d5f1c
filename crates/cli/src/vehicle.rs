//! `vkm vehicle demo`: one vehicle crossing from domain 1 to domain 2 over a real, locally
//! mined chain, with another vehicle already in domain 2; everything on the path printed:
//! the signed crossing request, the key transfer and its block, the welcome sealed to the
//! vehicle, the rekey broadcast, a BSM it reads in its new domain, and the manager's
//! refusals of a forged, a replayed and a stale request.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use p256::elliptic_curve::sec1::ToSec1Point;
use serde_json::json;
use sha2::{Digest, Sha256};
use vkm_block::{MemberId, Timestamp, Txid, serialize};
use vkm_node::sm::{Event, Refusal};
use vkm_node::vehicle::{DomainRekey, VehicleEvent, welcome_p1};
use vkm_runtime::town::has_joined;
use vkm_runtime::{Record, Town, TownConfig, World, WorldConfig};
use vkm_transfer::crossing::{CrossingRequest, RequestError, RsuId};
use zeroize::Zeroizing;

use crate::{CliError, check_difficulty, print_json};

/// `vkm vehicle` subcommands.
#[derive(Debug, Subcommand)]
pub enum VehicleCommand {
    /// One vehicle crosses from domain 1 to domain 2 and reads a BSM there.
    Demo(DemoArgs),
}

/// Arguments of `vkm vehicle demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of the keys and of the run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The chain's difficulty, leading zero bits.
    #[arg(long, default_value_t = 10)]
    difficulty_bits: u8,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

const HOUR_MS: u64 = 3_600_000;
const BSM: &[u8] = b"BSM: vehicle W at 39.9042N 116.4074E, 12.5 m/s, heading 87 deg";

fn failed(what: &str, town: &Town) -> CliError {
    let refusals: Vec<String> = town
        .refusals()
        .map(|(manager, refusal)| format!("{manager}: {refusal}"))
        .collect();
    CliError::Invalid(format!("{what} (refusals: {refusals:?})"))
}

/// Runs `vkm vehicle demo`.
pub fn run(args: &DemoArgs) -> Result<ExitCode, CliError> {
    check_difficulty(args.difficulty_bits)?;
    let invalid = |e: vkm_runtime::RuntimeError| CliError::Invalid(e.to_string());
    let start = Timestamp::now();
    let mut world = World::new(WorldConfig::new(2, args.difficulty_bits, start, args.seed));
    let mut town = Town::new(&world, start, TownConfig::default()).map_err(invalid)?;
    let (sm1, sm2) = (MemberId(1), MemberId(2));

    // Vehicle V in domain 1 and vehicle W in domain 2 come online and join their groups.
    let v_pseudonym = world
        .pseudonym(0, start, HOUR_MS)
        .ok_or_else(|| CliError::Invalid("no domain 1".into()))?;
    let w_pseudonym = world
        .pseudonym(1, start, HOUR_MS)
        .ok_or_else(|| CliError::Invalid("no domain 2".into()))?;
    let v = town.add_vehicle(v_pseudonym.clone(), 0);
    let w = town.add_vehicle(w_pseudonym, 1);
    for (vehicle, destination) in [(v, sm1), (w, sm2)] {
        town.to_vehicle(
            vehicle,
            VehicleEvent::Approach {
                destination,
                rsu: RsuId(0),
            },
        );
    }
    let until = |town: &Town, ms: u64| Timestamp(town.now().0 + ms);
    let enrolled = town
        .run_until(until(&town, 30_000), |records| {
            records
                .iter()
                .filter(|r| matches!(r, Record::Joined { .. }))
                .count()
                == 2
        })
        .map_err(invalid)?;
    if !enrolled {
        return Err(failed("the vehicles did not join their domains", &town));
    }

    // V approaches the border RSU 1 of domain 1 and crosses into domain 2.
    town.to_vehicle(
        v,
        VehicleEvent::Approach {
            destination: sm2,
            rsu: RsuId(1),
        },
    );
    let crossed = town
        .run_until(until(&town, 60_000), |records| has_joined(records, v, sm2))
        .map_err(invalid)?;
    if !crossed {
        return Err(failed("the vehicle was not welcomed into domain 2", &town));
    }
    let request = town
        .last_request(v)
        .cloned()
        .ok_or_else(|| failed("no crossing request", &town))?;
    let txid: Txid = town
        .records()
        .iter()
        .find_map(|r| match r {
            Record::Admitted { manager, admission }
                if *manager == sm2 && admission.vehicle.materials == request.materials =>
            {
                admission.txid
            }
            _ => None,
        })
        .ok_or_else(|| failed("no admission", &town))?;
    let ledger = town.managers()[1].ledger();
    let block_hash = ledger
        .transaction_height(&txid)
        .map_err(|e| CliError::Invalid(e.to_string()))?
        .and_then(|height| ledger.hash_at(height))
        .ok_or_else(|| failed("the transfer is on no block", &town))?;
    let pseudonym = request.materials.pseudonym;
    let rekey: std::sync::Arc<DomainRekey> = town
        .records()
        .iter()
        .find_map(|r| match r {
            Record::Rekeyed(rekey)
                if rekey.domain == sm2
                    && rekey.welcomes.iter().any(|w| w.pseudonym == pseudonym) =>
            {
                Some(rekey.clone())
            }
            _ => None,
        })
        .ok_or_else(|| failed("no welcome", &town))?;
    let sealed = rekey
        .welcomes
        .iter()
        .find(|w| w.pseudonym == pseudonym)
        .ok_or_else(|| failed("no welcome", &town))?;
    let p1 = welcome_p1(sm2, &pseudonym, rekey.message.epoch);

    // W, in domain 2 since the start, broadcasts a BSM under the current group key.
    town.to_vehicle(w, VehicleEvent::Beacon(BSM.to_vec()));
    let opened = town
        .run_until(until(&town, 1_000), |records| {
            records
                .iter()
                .any(|r| matches!(r, Record::Opened { vehicle, payload } if *vehicle == v && payload == BSM))
        })
        .map_err(invalid)?;
    let bsm = town
        .last_bsm(w)
        .cloned()
        .ok_or_else(|| failed("W sent no BSM", &town))?;
    let group_key = town
        .vehicle(v)
        .and_then(|car| car.keys().group_key())
        .map(|(_, key)| hex::encode(Sha256::digest(key.as_bytes())))
        .ok_or_else(|| failed("V holds no group key", &town))?;

    // Three bad requests offered to domain 1's manager: forged (V's materials, another
    // pseudonym's signature), replayed (V's request again), stale (a minute old).
    let thief = world
        .pseudonym(0, start, HOUR_MS)
        .ok_or_else(|| CliError::Invalid("no domain 1".into()))?;
    let now = town.now();
    let mut forged = CrossingRequest::sign(&thief, sm2, RsuId(1), now);
    forged.materials = request.materials.clone();
    let stale = CrossingRequest::sign(&v_pseudonym, sm2, RsuId(1), Timestamp(now.0 - 60_000));
    let before = town.records().len();
    for bad in [forged, request.clone(), stale] {
        town.to_manager(
            0,
            Event::Crossing {
                request: bad,
                via: RsuId(1),
            },
        );
    }
    town.run_until(until(&town, 100), |_| false)
        .map_err(invalid)?;
    let refused = |want: fn(&RequestError) -> bool| {
        town.records()[before..].iter().any(|r| {
            matches!(r, Record::Refused { manager, refusal: Refusal::Request { error, .. } }
                if *manager == sm1 && want(error))
        })
    };
    let forged_refused = refused(|e| *e == RequestError::BadSignature);
    let replayed_refused = refused(|e| *e == RequestError::Replayed);
    let stale_refused = refused(|e| matches!(e, RequestError::Stale { .. }));

    let secret = Zeroizing::new(hex::encode(v_pseudonym.encryption.to_bytes()));
    let request_hex = hex::encode(serialize(&request));
    let rekey_hex = hex::encode(serialize(&*rekey));
    let out = json!({
        "crossing_request_hex": request_hex,
        "txid": txid.to_string(),
        "block_hash": block_hash.to_string(),
        "welcome": {
            "ephemeral_public": hex::encode(sealed.sealed.key.ephemeral_public.to_sec1_point(true).as_bytes()),
            "wrapped_key": hex::encode(sealed.sealed.key.wrapped_key),
            "tag": hex::encode(sealed.sealed.key.tag),
            "nonce": hex::encode(sealed.sealed.nonce),
            "ciphertext": hex::encode(&sealed.sealed.ciphertext),
            "p1": hex::encode(p1),
        },
        "rekey_message_hex": rekey_hex,
        "vehicle_encryption_secret_hex": secret.as_str(),
        "group_key_sha256": group_key,
        "bsm": {
            "nonce": hex::encode(bsm.nonce),
            "ciphertext": hex::encode(&bsm.ciphertext),
            "aad": hex::encode(bsm.epoch.to_le_bytes()),
        },
        "bsm_plaintext_hex": hex::encode(BSM),
        "opened_by_vehicle": opened,
        "forged_request_refused": forged_refused,
        "replayed_request_refused": replayed_refused,
        "stale_request_refused": stale_refused,
    });
    if args.json {
        print_json(&out);
    } else {
        println!(
            "vehicle V ({}) crosses from domain 1 to domain 2",
            hex::encode(pseudonym.0)
        );
        println!(
            "  crossing request ({} bytes, signed with its pseudonym key): {request_hex}",
            request_hex.len() / 2
        );
        println!("  key transfer {txid}");
        println!("  mined in block {block_hash}");
        println!(
            "  welcome sealed to its pseudonym's encryption key (IEEE 1609.2 ECIES), in the rekey to epoch {} ({} bytes, {} wrapped keys)",
            rekey.message.epoch,
            rekey_hex.len() / 2,
            rekey.message.keys.len()
        );
        println!("  its domain-2 group key: SHA-256 {group_key}");
        println!(
            "  BSM from vehicle W read by V: {}",
            if opened {
                String::from_utf8_lossy(BSM).into_owned()
            } else {
                "NOT READ".into()
            }
        );
        println!(
            "domain 1's manager refused a forged request: {forged_refused}, a replayed one: {replayed_refused}, a stale one: {stale_refused}"
        );
    }
    let all = opened && forged_refused && replayed_refused && stale_refused;
    Ok(if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
