//! `vkm block verify`: decode a block file and run Algorithm 2; with the chain's genesis
//! block, also the difficulty and the miner's signature.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use vkm_block::limits::MAX_BLOCK_BYTES;
use vkm_block::{Block, Transaction, deserialize};
use vkm_ledger::Registry;
use vkm_pow::{ProofError, verify_proof};
use vkm_transfer::rules::KeyTransferRules;

use crate::files::read_bounded;
use crate::{CliError, print_json};

/// Reads and decodes a block file: the outer error is a file that cannot be read (or is
/// larger than a block may be, refused without reading it whole), the inner one a block
/// that does not decode.
fn read_block(path: &Path) -> Result<Result<Block, String>, CliError> {
    let bytes = read_bounded(path, MAX_BLOCK_BYTES as u64)?;
    Ok(deserialize::<Block>(&bytes).map_err(|e| e.to_string()))
}

/// The checks that need the chain's genesis: the difficulty it fixes, and the miner's
/// signature under the key the genesis registry gives it.
fn check_against_genesis(block: &Block, genesis: &Block) -> Result<(), (&'static str, String)> {
    if block.header.difficulty_bits != genesis.header.difficulty_bits {
        return Err((
            "difficulty",
            format!(
                "difficulty {} bits, the chain's is {}",
                block.header.difficulty_bits, genesis.header.difficulty_bits
            ),
        ));
    }
    let mut registry = Registry::default();
    for tx in &genesis.transactions {
        if let Transaction::Registry(r) = tx {
            registry.apply(r);
        }
    }
    let miner = registry.security_manager(block.miner).ok_or((
        "miner_signature",
        format!(
            "miner {} is not a security manager of the genesis registry (one registered later \
             is checked by `vkm chain verify` on a store)",
            block.miner
        ),
    ))?;
    let signatures = KeyTransferRules::new(1).rule_set().signatures;
    if !signatures.verify(miner, block.block_hash().as_bytes(), &block.miner_signature) {
        return Err((
            "miner_signature",
            format!(
                "the miner signature does not verify under {}'s key",
                block.miner
            ),
        ));
    }
    Ok(())
}

/// Runs `vkm block verify`.
pub fn run(path: &Path, genesis: Option<&Path>, json: bool) -> Result<ExitCode, CliError> {
    let genesis = match genesis {
        Some(path) => Some(read_block(path)?.map_err(|e| {
            CliError::Invalid(format!("--genesis {}: not a block: {e}", path.display()))
        })?),
        None => None,
    };
    let mut checked = vec!["decode", "merkle_root", "work"];
    if genesis.is_some() {
        checked.extend(["difficulty", "miner_signature"]);
    }
    let result = match read_block(path)? {
        Err(e) => Err(("decode", e)),
        Ok(block) => match verify_proof(&block) {
            Err(e @ ProofError::MerkleRootMismatch { .. }) => Err(("merkle_root", e.to_string())),
            Err(e) => Err(("work", e.to_string())),
            Ok(hash) => match &genesis {
                Some(g) => check_against_genesis(&block, g).map(|()| (block, hash)),
                None => Ok((block, hash)),
            },
        },
    };
    match result {
        Ok((block, hash)) => {
            let mut not_checked = vec!["transactions", "chain_context"];
            if genesis.is_none() {
                not_checked.insert(0, "miner_signature");
            }
            if json {
                print_json(&json!({
                    "valid": true,
                    // What "valid" covers: a block file alone says nothing of the chain.
                    "checked": checked,
                    "not_checked": not_checked,
                    "block_hash": hash.to_string(),
                    "difficulty_bits": block.header.difficulty_bits,
                    "nonce": block.header.nonce,
                    "miner": block.miner.0,
                    "transactions": block.transactions.len(),
                }));
            } else {
                println!(
                    "valid block {hash}: {} transactions (checked: {}; not: {})",
                    block.transactions.len(),
                    checked.join(", "),
                    not_checked.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err((check, message)) => {
            if json {
                print_json(&json!({ "valid": false, "check": check, "error": message }));
            }
            eprintln!("invalid block: {message}");
            Ok(ExitCode::FAILURE)
        }
    }
}
