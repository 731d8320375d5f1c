//! Opens arbitrary bytes as a sealed message with both backends: never a panic; a parsed
//! IEEE 1609.2 message re-encodes to the same bytes.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use p256::elliptic_curve::Generate;
use rand::SeedableRng;
use vkm_transfer::seal::Sealer;
use vkm_transfer::seal::ieee1609::{Ieee1609Ecies, SealedMessage};
use vkm_transfer::seal::secp256k1::EciesSecp256k1;

static KEYS: LazyLock<(p256::SecretKey, k256::SecretKey)> = LazyLock::new(|| {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    (p256::SecretKey::generate_from_rng(&mut rng), k256::SecretKey::generate_from_rng(&mut rng))
});

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = SealedMessage::from_bytes(data) {
        assert_eq!(message.to_bytes(), data);
    }
    let _ = Ieee1609Ecies.open(&KEYS.0, b"", data);
    let _ = EciesSecp256k1.open(&KEYS.1, b"", data);
});
