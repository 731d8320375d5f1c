//! Decodes arbitrary bytes as a block; on success the re-encoding must equal the input,
//! and every accessor and Algorithm 2 must run without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_block::{Block, deserialize, serialize};

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = deserialize::<Block>(data) {
        assert_eq!(serialize(&block), data);
        let _ = block.block_hash();
        let _ = block.txids();
        let _ = vkm_pow::verify_proof(&block);
    }
});
