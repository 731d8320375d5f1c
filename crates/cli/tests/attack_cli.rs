//! `vkm attack paper-small-group`: the contract fields, and the attack succeeds.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::{json, vkm};

#[test]
fn small_group_attack_recovers_the_exponent() {
    let v = json(&vkm(&["attack", "paper-small-group", "--json"]));
    assert_eq!(v["recovered"], true);
    assert!(v["seconds"].as_f64().unwrap() < 10.0);
    assert!(v["p"].as_u64().unwrap() < 100_000_000);
}
