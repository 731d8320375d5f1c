//! `vkm block verify`: decode a block file and run Algorithm 2.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use vkm_block::limits::MAX_BLOCK_BYTES;
use vkm_block::{Block, deserialize};
use vkm_pow::{ProofError, verify_proof};

use crate::{CliError, print_json};

/// Reads at most `MAX_BLOCK_BYTES + 1` bytes, so an oversize file is refused without
/// being read whole.
fn read_bounded(path: &Path) -> Result<Vec<u8>, CliError> {
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::Io(format!("cannot open {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(MAX_BLOCK_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Io(format!("cannot read {}: {e}", path.display())))?;
    Ok(bytes)
}

/// Runs `vkm block verify`.
pub fn run(path: &Path, json: bool) -> Result<ExitCode, CliError> {
    let bytes = read_bounded(path)?;
    let (check, result) = if bytes.len() > MAX_BLOCK_BYTES {
        (
            "decode",
            Err(format!(
                "block file exceeds the limit of {MAX_BLOCK_BYTES} bytes"
            )),
        )
    } else {
        match deserialize::<Block>(&bytes) {
            Err(e) => ("decode", Err(e.to_string())),
            Ok(block) => match verify_proof(&block) {
                Ok(hash) => ("ok", Ok((block, hash))),
                Err(e @ ProofError::MerkleRootMismatch { .. }) => {
                    ("merkle_root", Err(e.to_string()))
                }
                Err(e) => ("work", Err(e.to_string())),
            },
        }
    };
    match result {
        Ok((block, hash)) => {
            if json {
                print_json(&json!({
                    "valid": true,
                    // What "valid" covers: the block file alone says nothing of the chain.
                    "checked": ["decode", "merkle_root", "work"],
                    "not_checked": ["miner_signature", "transactions", "chain_context"],
                    "block_hash": hash.to_string(),
                    "difficulty_bits": block.header.difficulty_bits,
                    "nonce": block.header.nonce,
                    "transactions": block.transactions.len(),
                }));
            } else {
                println!(
                    "valid block {hash}: {} transactions (checked: decoding, merkle root, \
                     proof of work; not the miner signature, the transactions or the chain)",
                    block.transactions.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(message) => {
            if json {
                print_json(&json!({ "valid": false, "check": check, "error": message }));
            }
            eprintln!("invalid block: {message}");
            Ok(ExitCode::FAILURE)
        }
    }
}
