//! What the nonce search needs from a header, and nothing more.

use vkm_block::BlockHeader;

use crate::Difficulty;

/// A header that can be mined: the miner needs its bytes up to the nonce, the target,
/// and a place to store the nonce it finds. Keeps the nonce search independent of the
/// full block type.
///
/// The proof-of-work preimage is `bytes_before_nonce() || nonce.to_le_bytes()`: the nonce
/// is the last field, 8 bytes little-endian.
pub trait PowHeader {
    /// The encoded header up to (not including) the nonce.
    fn bytes_before_nonce(&self) -> Vec<u8>;

    /// The difficulty the header claims.
    fn difficulty(&self) -> Difficulty;

    /// Stores a found nonce.
    fn set_nonce(&mut self, nonce: u64);
}

impl PowHeader for BlockHeader {
    fn bytes_before_nonce(&self) -> Vec<u8> {
        self.to_bytes()[..Self::NONCE_OFFSET].to_vec()
    }

    fn difficulty(&self) -> Difficulty {
        Difficulty::new(self.difficulty_bits)
    }

    fn set_nonce(&mut self, nonce: u64) {
        self.nonce = nonce;
    }
}
