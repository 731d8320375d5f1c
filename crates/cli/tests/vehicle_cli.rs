//! `vkm vehicle demo`'s contract: its JSON fields, and a welcome any IEEE 1609.2 ECIES
//! implementation opens with the printed key (here `vkm ecies decrypt`).
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::{json, vkm};

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use p256::pkcs8::EncodePrivateKey;
use serde_json::Value;

/// Writes a secret key file readable by its owner only (the CLI refuses others).
fn write_private(path: &Path, secret: &p256::SecretKey) {
    let _ = std::fs::remove_file(path);
    std::fs::write(
        path,
        secret.to_pkcs8_pem(Default::default()).unwrap().as_bytes(),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn the_demo_prints_every_contract_field_and_its_welcome_opens_elsewhere() {
    let out = json(&vkm(&["vehicle", "demo", "--json", "--seed", "4"]));
    for field in [
        "crossing_request_hex",
        "txid",
        "block_hash",
        "rekey_message_hex",
        "vehicle_encryption_secret_hex",
        "group_key_sha256",
        "bsm_plaintext_hex",
    ] {
        assert!(out[field].is_string(), "missing {field}: {out}");
    }
    for field in [
        "opened_by_vehicle",
        "forged_request_refused",
        "replayed_request_refused",
        "stale_request_refused",
    ] {
        assert_eq!(out[field], Value::Bool(true), "{field}: {out}");
    }
    assert_eq!(out["crossing_request_hex"].as_str().unwrap().len(), 2 * 270);
    assert!(
        out["block_hash"].as_str().unwrap().starts_with("00"),
        "proof of work"
    );
    for field in ["nonce", "ciphertext", "aad"] {
        assert!(out["bsm"][field].is_string(), "bsm.{field}");
    }

    // The welcome, as `vkm ecies encrypt` prints a ciphertext, opens with the vehicle's
    // key through `vkm ecies decrypt`: 28 bytes (the manager's handle, the leaf, the key).
    let dir = std::env::temp_dir().join(format!("vkm-vehicle-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret_hex = out["vehicle_encryption_secret_hex"].as_str().unwrap();
    let secret = p256::SecretKey::from_slice(&hex::decode(secret_hex).unwrap()).unwrap();
    let pem = dir.join("vehicle.pem");
    write_private(&pem, &secret);
    let welcome = dir.join("welcome.json");
    std::fs::write(&welcome, out["welcome"].to_string()).unwrap();
    let opened = json(&vkm(&[
        "ecies",
        "decrypt",
        "--recipient-secret-file",
        pem.to_str().unwrap(),
        "--input",
        welcome.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(opened["plaintext"].as_str().unwrap().len(), 2 * 28);
    // Another key does not open it.
    let other = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    write_private(&pem, &other);
    let refused = vkm(&[
        "ecies",
        "decrypt",
        "--recipient-secret-file",
        pem.to_str().unwrap(),
        "--input",
        welcome.to_str().unwrap(),
        "--json",
    ]);
    assert!(!refused.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
