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

#[test]
fn unknown_channels_and_groups_are_refused() {
    assert!(
        !vkm(&["negotiate", "--channel", "telepathy"])
            .status
            .success()
    );
    assert!(!vkm(&["negotiate", "--group", "ffdhe1024"]).status.success());
}
