//! `vkm attack ...` and `vkm negotiate`: the contract fields, the attacks succeed on the
//! paper's designs, negotiations confirm on every channel, and the chain they leave
//! verifies.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::{json, vkm};

#[test]
fn both_attacks_recover_the_master_key_from_the_chain() {
    for attack in ["paper-small-group", "paper-dynamic-script"] {
        let v = json(&vkm(&["attack", attack, "--json"]));
        assert_eq!(v["recovered"], true, "{attack}");
        assert!(v["seconds"].as_f64().unwrap() >= 0.0);
    }
}

#[test]
fn negotiations_confirm_on_every_channel_and_print_only_hashes() {
    let dir = std::env::temp_dir().join(format!("vkm-cli-negotiate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (channel, group) in [
        ("value", "p256"),
        ("static", "ffdhe2048"),
        ("dynamic", "paper-insecure"),
    ] {
        let db = dir.join(channel);
        let out = vkm(&[
            "negotiate",
            "--channel",
            channel,
            "--group",
            group,
            "--db",
            db.to_str().unwrap(),
            "--json",
        ]);
        let v = json(&out);
        assert_eq!(v["channel"], channel);
        assert_eq!(v["group"], group);
        assert_eq!(v["confirmed"], true);
        assert_eq!(v["alice_master_key_sha256"], v["bob_master_key_sha256"]);
        assert_eq!(v["alice_master_key_sha256"].as_str().unwrap().len(), 64);
        assert_eq!(v["session_key_sha256"].as_str().unwrap().len(), 64);
        assert_eq!(v["txids"].as_array().unwrap().len(), 3);
        assert!(v["blocks"].as_u64().unwrap() >= 3);
        assert!(v["seconds"].as_f64().unwrap() > 0.0);
        // The chain left behind verifies with every rule, value transactions included.
        let chain = db.join("chain.redb");
        let verified = json(&vkm(&[
            "chain",
            "verify",
            "--db",
            chain.to_str().unwrap(),
            "--json",
        ]));
        assert_eq!(
            verified["blocks"].as_u64().unwrap(),
            v["height"].as_u64().unwrap() + 1
        );
        // A second run refuses to overwrite the chain.
        let again = vkm(&[
            "negotiate",
            "--channel",
            channel,
            "--db",
            db.to_str().unwrap(),
            "--json",
        ]);
        assert!(!again.status.success());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The contract of `--parties N` and `--drop STEP`: every pair listed with its outcome,
/// both sides' key hashes equal, and the dropped step recovered.
#[test]
fn many_parties_negotiate_every_pair_and_a_dropped_step_recovers() {
    for (channel, drop) in [
        ("value", "offer"),
        ("static", "reply"),
        ("dynamic", "confirm"),
    ] {
        let out = vkm(&[
            "negotiate",
            "--parties",
            "4",
            "--channel",
            channel,
            "--group",
            "p256",
            "--drop",
            drop,
            "--json",
        ]);
        assert!(out.status.success(), "{channel} --drop {drop}");
        let v = json(&out);
        assert_eq!(v["parties"], 4);
        let pairs = v["pairs"].as_array().unwrap();
        assert_eq!(pairs.len(), 6);
        let mut seen = std::collections::HashSet::new();
        for pair in pairs {
            let (a, b) = (pair["a"].as_u64().unwrap(), pair["b"].as_u64().unwrap());
            assert!(a < b && b < 4);
            assert!(seen.insert((a, b)));
            assert_eq!(pair["confirmed"], true);
            assert_eq!(pair["outcome"], "confirmed");
            assert_eq!(pair["a_master_key_sha256"], pair["b_master_key_sha256"]);
            assert_eq!(pair["a_master_key_sha256"].as_str().unwrap().len(), 64);
        }
        // Each pair's dropped step went again: 6 lost, 6 more submissions than 3 per pair.
        assert_eq!(v["lost"], 6);
        assert_eq!(v["submissions"], 6 * 3 + 6);
        assert!(v["blocks"].as_u64().unwrap() > 3);
        assert!(v["seconds"].as_f64().unwrap() > 0.0);
        assert!(
            v.get("alice_master_key_sha256").is_none(),
            "two-party fields for N = 2 only"
        );
    }
    assert!(!vkm(&["negotiate", "--parties", "1"]).status.success());
    assert!(!vkm(&["negotiate", "--drop", "everything"]).status.success());
}

#[test]
fn unknown_channels_and_groups_are_refused() {
    assert!(
        !vkm(&["negotiate", "--channel", "telepathy"])
            .status
            .success()
    );
    assert!(!vkm(&["negotiate", "--group", "ffdhe1024"]).status.success());
}
