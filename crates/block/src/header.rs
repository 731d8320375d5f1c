//! The block header of Lei et al. Table II.

use sha2::{Digest, Sha256};

use crate::encode::{Decode, DecodeError, Encode, Reader, Sink};
use crate::hash::{BlockHash, MerkleRoot};
use crate::primitives::Timestamp;

/// A block header: Table II of Lei et al., in the paper's field order.
///
/// The encoding is fixed-size (see [`BlockHeader::SIZE`] and `docs/formats.md`). The nonce
/// comes last, in the second 64-byte SHA-256 block, so a miner hashes the first 64 bytes
/// once per round (the midstate) and only the last block per nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BlockHeader {
    /// Format version of the block.
    pub version: u32,
    /// Hash of the parent block (all zero for genesis).
    pub prev_block: BlockHash,
    /// Merkle root over the block's transaction ids, in block order.
    pub merkle_root: MerkleRoot,
    /// Creation time of the block.
    pub timestamp: Timestamp,
    /// Proof-of-work target: leading zero bits required of the block hash.
    pub difficulty_bits: u8,
    /// The proof-of-work counter.
    pub nonce: u64,
}

impl BlockHeader {
    /// The current block format version.
    pub const VERSION: u32 = 1;

    /// Encoded size in bytes.
    pub const SIZE: usize = 4 // version
        + 32 // previous block hash
        + 32 // merkle root
        + 8 // timestamp
        + 1 // difficulty bits
        + 8; // nonce

    /// Offset of the 8-byte little-endian nonce in the encoding; nothing follows it.
    pub const NONCE_OFFSET: usize = Self::SIZE - 8;

    /// The encoded header: exactly the bytes that are double-hashed.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[0..4].copy_from_slice(&self.version.to_le_bytes());
        out[4..36].copy_from_slice(&self.prev_block.0);
        out[36..68].copy_from_slice(&self.merkle_root.0);
        out[68..76].copy_from_slice(&self.timestamp.0.to_le_bytes());
        out[76] = self.difficulty_bits;
        out[77..85].copy_from_slice(&self.nonce.to_le_bytes());
        out
    }

    /// The block hash: double SHA-256 of the encoded header.
    pub fn block_hash(&self) -> BlockHash {
        BlockHash(Sha256::digest(Sha256::digest(self.to_bytes())).into())
    }
}

impl Encode for BlockHeader {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        sink.put(&self.to_bytes());
    }

    fn encoded_len(&self) -> usize {
        Self::SIZE
    }
}

impl Decode for BlockHeader {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            version: reader.u32("header version")?,
            prev_block: Decode::decode(reader)?,
            merkle_root: Decode::decode(reader)?,
            timestamp: Decode::decode(reader)?,
            difficulty_bits: reader.u8("difficulty bits")?,
            nonce: reader.u64("nonce")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{deserialize, serialize};
    use crate::hash::dhash;

    #[test]
    fn layout_matches_documented_offsets() {
        let header = BlockHeader {
            version: 0x0403_0201,
            prev_block: BlockHash([0xaa; 32]),
            merkle_root: MerkleRoot([0xbb; 32]),
            timestamp: Timestamp(0x0807_0605_0403_0201),
            difficulty_bits: 0x11,
            nonce: 0x1817_1615_1413_1211,
        };
        let bytes = header.to_bytes();
        assert_eq!(bytes.len(), 85);
        assert_eq!(bytes[0..4], [1, 2, 3, 4]);
        assert_eq!(bytes[4..36], [0xaa; 32]);
        assert_eq!(bytes[36..68], [0xbb; 32]);
        assert_eq!(bytes[68..76], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(bytes[76], 0x11);
        assert_eq!(
            bytes[BlockHeader::NONCE_OFFSET..],
            [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
        );
        assert_eq!(serialize(&header), bytes);
        assert_eq!(deserialize::<BlockHeader>(&bytes), Ok(header));
        assert_eq!(header.block_hash().0, dhash(&bytes));
    }
}
