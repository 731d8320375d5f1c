//! Decodes arbitrary bytes as identity materials (pseudonym and certificate) and as a
//! traditional-structure relay message; on success the re-encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_block::{deserialize, serialize};
use vkm_transfer::certificate::IdentityMaterials;
use vkm_transfer::traditional::RelayMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(materials) = deserialize::<IdentityMaterials>(data) {
        assert_eq!(serialize(&materials), data);
        let _ = materials.certificate.signing_preimage();
    }
    if let Ok(message) = deserialize::<RelayMessage>(data) {
        assert_eq!(serialize(&message), data);
    }
});
