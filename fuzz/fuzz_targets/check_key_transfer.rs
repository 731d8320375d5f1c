//! Decodes arbitrary bytes as a transaction and, when it is a key transfer, runs every
//! security manager's checks and the destination's admission against a fixed keyed
//! scenario: never a panic, whatever the bytes.
#![no_main]

use std::collections::HashSet;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use vkm_block::{Timestamp, Transaction, deserialize};
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::scenario::Scenario;
use vkm_transfer::transfer::{admit, check_key_transfer};

/// Seed of the scenario; `fuzz/seeds/check_key_transfer` holds transfers made with it.
static WORLD: LazyLock<Scenario> =
    LazyLock::new(|| Scenario::new(2, 1, EncryptionScheme::Ieee1609P256, &mut rand::rngs::StdRng::seed_from_u64(0)));

fuzz_target!(|data: &[u8]| {
    let Ok(Transaction::KeyTransfer(tx)) = deserialize::<Transaction>(data) else {
        return;
    };
    let _ = check_key_transfer(&tx, &WORLD.directory, &HashSet::new());
    if let Some(keys) = WORLD.keys(tx.destination) {
        let _ = admit(&tx, keys, tx.destination, &WORLD.directory, Timestamp(tx.timestamp.0));
    }
});
