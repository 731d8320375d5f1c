//! Decodes arbitrary bytes as IEEE 1609.2 encrypted data (sealed identity materials):
//! never a panic or an abort, and what decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_its::{EncryptedData, MAX_ENCRYPTED_DATA_BYTES, MAX_RECIPIENTS};

fuzz_target!(|data: &[u8]| {
    if let Ok(encrypted) = EncryptedData::from_oer(data) {
        assert!(data.len() <= MAX_ENCRYPTED_DATA_BYTES);
        assert!(!encrypted.recipients.is_empty() && encrypted.recipients.len() <= MAX_RECIPIENTS);
        assert_eq!(encrypted.to_oer().ok().as_deref(), Some(data));
    }
});
