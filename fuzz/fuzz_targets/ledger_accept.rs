//! Offers arbitrary bytes, decoded as a block, to a ledger with the key-transfer rules:
//! never a panic, and a refused block leaves the chain as it was.
#![no_main]

use std::sync::{LazyLock, Mutex};

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use vkm_block::{Block, Timestamp, deserialize};
use vkm_ledger::Ledger;
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::rules::KeyTransferRules;
use vkm_transfer::scenario::Scenario;

const T0: u64 = 1_700_000_000_000;

static LEDGER: LazyLock<Mutex<Ledger>> = LazyLock::new(|| {
    let world = Scenario::new(2, 1, EncryptionScheme::Ieee1609P256, &mut rand::rngs::StdRng::seed_from_u64(0));
    let genesis = world.genesis_block(4, Timestamp(T0));
    let dir = std::env::temp_dir().join(format!("vkm-fuzz-ledger-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ledger = Ledger::open(dir.join("chain.redb"), &genesis, KeyTransferRules::new(1).rule_set()).expect("ledger");
    Mutex::new(ledger)
});

fuzz_target!(|data: &[u8]| {
    let Ok(block) = deserialize::<Block>(data) else { return };
    let mut ledger = LEDGER.lock().unwrap_or_else(|e| e.into_inner());
    let (tip, height) = (ledger.tip(), ledger.height());
    if ledger.accept(block, Timestamp(T0 + 60_000)).is_err() {
        assert_eq!((ledger.tip(), ledger.height()), (tip, height));
    }
});
