//! Reads arbitrary bytes as everything a negotiating party reads from the chain: a
//! static message (which must re-encode to the input when it decodes), a carrier, the
//! published parameters, a dynamic locking script and a revealed share. Nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_coins::Address;
use vkm_negotiate::wire::{Carrier, StaticMessage, parse_dynamic_lock, revealed_share};
use vkm_negotiate::{Group, InsecurePaperGroup};

fuzz_target!(|data: &[u8]| {
    if let Some(message) = StaticMessage::decode(data) {
        assert_eq!(message.encode(), data);
    }
    let _ = Carrier::parse(data);
    let _ = Group::decode(data, true);
    let group = Group::InsecurePaper(InsecurePaperGroup { p: 1_000_003, g: 2 });
    let _ = parse_dynamic_lock(data, &group, &Address([7; 20]));
    let _ = revealed_share(data);
});
