//! Decodes arbitrary bytes as IEEE 1609.2 signed data (a trust list, a BSM): never a
//! panic or an abort, canonical bytes only, and verification answers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_its::{MAX_SIGNED_DATA_BYTES, SignedData};

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = SignedData::from_oer(data) {
        assert!(data.len() <= MAX_SIGNED_DATA_BYTES);
        assert_eq!(signed.to_oer(), data);
        let _ = (signed.psid(), signed.generation_time_us(), signed.payload());
        let _ = signed.verify(None);
    }
});
