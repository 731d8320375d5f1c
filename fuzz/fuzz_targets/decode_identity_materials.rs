//! Decodes arbitrary bytes as identity materials (an IEEE 1609.2 ticket) and as a
//! traditional-structure relay message; on success the re-encoding must equal the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_block::{deserialize, serialize};
use vkm_transfer::certificate::IdentityMaterials;
use vkm_transfer::traditional::RelayMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(materials) = deserialize::<IdentityMaterials>(data) {
        assert_eq!(serialize(&materials), data);
        let certificate = &materials.certificate;
        let _ = (certificate.id(), certificate.hashed_id8(), certificate.issuer());
        let _ = (certificate.verifying_key(), certificate.encryption_public());
        let _ = certificate.ticket().tbs_digest();
    }
    if let Ok(message) = deserialize::<RelayMessage>(data) {
        assert_eq!(serialize(&message), data);
    }
});
