//! Decodes arbitrary bytes as a block header; on success the re-encoding must equal the
//! input, and the hash and the proof-of-work check must agree with the midstate search.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_block::{BlockHeader, deserialize, serialize};
use vkm_pow::{Difficulty, NonceTemplate};

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = deserialize::<BlockHeader>(data) {
        assert_eq!(serialize(&header), data);
        let hash = header.block_hash();
        assert_eq!(NonceTemplate::new(&header).hash(header.nonce), hash.0);
        let _ = Difficulty::new(header.difficulty_bits).is_met_by(&hash);
    }
});
