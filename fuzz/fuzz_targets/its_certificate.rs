//! Decodes arbitrary bytes as an IEEE 1609.2 certificate, as `vkm cert show` and a
//! security manager reading identity materials do: never a panic or an abort, the size
//! limit holds, what decodes re-encodes to the same bytes, and every accessor and the
//! signature check answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_its::{Certificate, MAX_CERTIFICATE_BYTES};

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = Certificate::from_oer(data) {
        assert!(data.len() <= MAX_CERTIFICATE_BYTES);
        assert_eq!(cert.to_oer(), data);
        let _ = (cert.id(), cert.issuer(), cert.validity(), cert.app_permissions());
        let _ = (cert.issue_permissions(), cert.verification_key(), cert.encryption_key());
        let _ = cert.hashed_id8();
        let _ = cert.verify_signature(None);
        let _ = cert.verify_signature(Some(&cert));
    }
});
