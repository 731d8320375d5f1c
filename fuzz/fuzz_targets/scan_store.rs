//! Scans arbitrary bytes for encoded blocks as `vkm chain repair` scans a damaged store:
//! never panics, and every block found holds together (its hash is its header's, its merkle
//! root and proof of work hold) and is encoded, contiguous, somewhere in the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_block::serialize;
use vkm_ledger::repair::scan_blocks;

fuzz_target!(|data: &[u8]| {
    for difficulty in [None, Some(0), Some(8)] {
        for (hash, block) in scan_blocks(data, difficulty) {
            assert_eq!(block.block_hash(), hash);
            let encoded = serialize(&block);
            assert!(data.windows(encoded.len()).any(|w| w == encoded.as_slice()));
        }
    }
});
