//! Checking a mined block, Algorithm 2 of Lei et al. (III.B.4).

use vkm_block::{Block, BlockHash, MerkleRoot};

use crate::Difficulty;
use crate::difficulty::leading_zero_bits;

/// Which check of Algorithm 2 a block failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The header's merkle root is not the root of the payload.
    #[error("merkle root mismatch: header has {header}, transactions give {computed}")]
    MerkleRootMismatch {
        /// The root in the header.
        header: MerkleRoot,
        /// The root recomputed from the transactions.
        computed: MerkleRoot,
    },
    /// The block hash has fewer leading zero bits than the header's difficulty.
    #[error(
        "insufficient work: block hash {hash} has {actual} leading zero bits, difficulty requires {required}"
    )]
    InsufficientWork {
        /// The block hash.
        hash: BlockHash,
        /// Its leading zero bits.
        actual: u32,
        /// The difficulty in bits.
        required: u8,
    },
}

/// Algorithm 2: recomputes the merkle root from the payload, then checks the header hash
/// against the header's difficulty. Returns the block hash when both hold.
///
/// Whether the difficulty is the one the chain expects, and the miner's signature, are
/// the ledger's checks.
pub fn verify_proof(block: &Block) -> Result<BlockHash, ProofError> {
    let computed = block.compute_merkle_root();
    if computed != block.header.merkle_root {
        return Err(ProofError::MerkleRootMismatch {
            header: block.header.merkle_root,
            computed,
        });
    }
    let hash = block.block_hash();
    let required = Difficulty::new(block.header.difficulty_bits);
    if !required.is_met_by(&hash) {
        return Err(ProofError::InsufficientWork {
            hash,
            actual: leading_zero_bits(hash.as_bytes()),
            required: required.bits(),
        });
    }
    Ok(hash)
}
