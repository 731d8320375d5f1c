//! Reads arbitrary bytes as everything a negotiating party reads from the chain: a
//! static message (which must re-encode to the input when it decodes), a carrier, the
//! published parameters, a dynamic locking script and a revealed share; and as what a
//! party reads off the chain, a message protected with a session key (which must
//! re-encode to the input when it decodes, and is opened against fixed session keys).
//! Nothing panics.
#![no_main]

use std::sync::{LazyLock, Mutex};

use libfuzzer_sys::fuzz_target;
use vkm_block::{BlockHash, BlockHeader};
use vkm_negotiate::keys::Negotiated;
use vkm_negotiate::session::{Protected, SessionKeys};
use vkm_coins::Address;
use vkm_negotiate::wire::{Carrier, StaticMessage, parse_dynamic_lock, revealed_share};
use vkm_negotiate::{Group, InsecurePaperGroup};

/// Session keys over a fixed master key, at block 0 of a chain of default headers.
static KEYS: LazyLock<Mutex<SessionKeys>> = LazyLock::new(|| {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let (secret, _) = Group::P256.keypair(&mut rng);
    let (_, share) = Group::P256.keypair(&mut rng);
    let share = Group::P256.validate_share(&share).expect("a valid share");
    let negotiated = Negotiated {
        master: Group::P256.agree(&secret, &share).expect("agreement"),
        txids: Vec::new(),
        confirmed_in: BlockHash::ZERO,
    };
    let mut keys = SessionKeys::new(&negotiated, Address([1; 20]), Address([2; 20]), 1);
    keys.follow(0, &BlockHeader::default()).expect("block 0");
    Mutex::new(keys)
});

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Protected::decode(data) {
        assert_eq!(message.encode(), data);
        if let Ok(mut keys) = KEYS.lock() {
            let _ = keys.open(&message, b"");
        }
    }
    if let Some(message) = StaticMessage::decode(data) {
        assert_eq!(message.encode(), data);
    }
    let _ = Carrier::parse(data);
    let _ = Group::decode(data, true);
    let group = Group::InsecurePaper(InsecurePaperGroup { p: 1_000_003, g: 2 });
    let _ = parse_dynamic_lock(data, &group, &Address([7; 20]));
    let _ = revealed_share(data);
});
