//! Difficulty as leading zero bits of the block hash (`docs/deviations.md`, decision 2).

use core::fmt;

use vkm_block::BlockHash;

/// Proof-of-work difficulty: the number of leading zero bits a block hash must have,
/// counted from the first byte SHA-256 outputs, most significant bit first.
///
/// 0..=255 bits; a `u8` makes anything else unrepresentable. Mining takes `2^bits` hashes
/// on average.
///
/// Lei et al. set "difficulty 3" and report a 4.11 ms mean mining time on a device doing
/// 250K hashes/s: 4.11 ms x 250,000/s = 1,027 hashes, about 2^10. Three leading zero hex
/// digits would be 2^12 (16 ms at that rate), three zero bytes 2^24 (67 s). So the paper's
/// setting corresponds to [`Difficulty::PAPER`], 10 bits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Difficulty(u8);

impl Difficulty {
    /// The paper's "difficulty 3" as measured by its mean mining time: 10 bits.
    pub const PAPER: Self = Self(10);

    /// A difficulty of `bits` leading zero bits.
    pub const fn new(bits: u8) -> Self {
        Self(bits)
    }

    /// The required number of leading zero bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Mean number of hashes to find a proof: `2^bits`.
    pub fn expected_hashes(self) -> f64 {
        2f64.powi(i32::from(self.0))
    }

    /// Whether `hash` has at least the required leading zero bits.
    pub fn is_met_by(self, hash: &BlockHash) -> bool {
        leading_zero_bits(hash.as_bytes()) >= u32::from(self.0)
    }

    /// The same check on the eight big-endian state words of a finished SHA-256 (the
    /// digest bytes are these words, big-endian, in order).
    pub(crate) fn is_met_by_words(self, words: &[u32; 8]) -> bool {
        leading_zero_bits_words(words) >= u32::from(self.0)
    }
}

impl fmt::Debug for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Difficulty({} bits)", self.0)
    }
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bits", self.0)
    }
}

/// Leading zero bits of a 32-byte digest, first byte first.
pub fn leading_zero_bits(hash: &[u8; 32]) -> u32 {
    let mut bits = 0;
    for byte in hash {
        if *byte != 0 {
            return bits + byte.leading_zeros();
        }
        bits += 8;
    }
    bits
}

fn leading_zero_bits_words(words: &[u32; 8]) -> u32 {
    let mut bits = 0;
    for word in words {
        if *word != 0 {
            return bits + word.leading_zeros();
        }
        bits += 32;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bits_from_the_first_byte() {
        let mut h = [0u8; 32];
        assert_eq!(leading_zero_bits(&h), 256);
        h[1] = 0x10;
        assert_eq!(leading_zero_bits(&h), 8 + 3);
        h[0] = 0x80;
        assert_eq!(leading_zero_bits(&h), 0);
        let mut words = [0u32; 8];
        words[1] = 0x1000_0000;
        assert_eq!(leading_zero_bits_words(&words), 32 + 3);
    }

    #[test]
    fn difficulty_checks() {
        let mut h = [0xffu8; 32];
        assert!(Difficulty::new(0).is_met_by(&BlockHash(h)));
        assert!(!Difficulty::new(1).is_met_by(&BlockHash(h)));
        h[0] = 0;
        h[1] = 0x3f;
        assert!(Difficulty::new(10).is_met_by(&BlockHash(h)));
        assert!(!Difficulty::new(11).is_met_by(&BlockHash(h)));
        assert!(Difficulty::new(255).is_met_by(&BlockHash([0; 32])));
        assert_eq!(Difficulty::PAPER.expected_hashes(), 1024.0);
    }
}
