//! The key-transfer commands' contract: keygen files, ECIES round trip through JSON, the
//! transfer demo's fields, bench crypto's fields.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::{json, vkm};

use std::path::PathBuf;

use serde_json::Value;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vkm-transfer-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn keygen_then_ecies_round_trip_through_files() {
    let dir = temp_dir("keys");
    let entry = json(&vkm(&[
        "keygen",
        "--out",
        dir.to_str().unwrap(),
        "--name",
        "sm-a",
        "--json",
    ]));
    assert_eq!(entry["name"], "sm-a");
    let public = entry["encryption_public"].as_str().unwrap();
    assert_eq!(public.len(), 66, "compressed SEC1 hex");
    assert!(entry["signing_public"].as_str().unwrap().len() == 66);
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sm-a.public.json")).unwrap())
            .unwrap();
    assert_eq!(on_disk["encryption_public"], entry["encryption_public"]);

    let sealed = json(&vkm(&[
        "ecies",
        "encrypt",
        "--recipient-public",
        public,
        "--plaintext",
        "00112233445566778899",
        "--json",
    ]));
    for field in [
        "ephemeral_public",
        "wrapped_key",
        "tag",
        "nonce",
        "ciphertext",
        "p1",
    ] {
        assert!(sealed[field].is_string(), "missing {field}");
    }
    assert_eq!(sealed["wrapped_key"].as_str().unwrap().len(), 32);
    assert_eq!(sealed["ciphertext"].as_str().unwrap().len(), 2 * (10 + 16));
    let input = dir.join("sealed.json");
    std::fs::write(&input, sealed.to_string()).unwrap();
    let secret = dir.join("sm-a.encryption.pem");
    let opened = json(&vkm(&[
        "ecies",
        "decrypt",
        "--recipient-secret-file",
        secret.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(opened["plaintext"], "00112233445566778899");

    // Tampered: non-zero exit, one line, no detail.
    let mut tampered = sealed.clone();
    tampered["tag"] = Value::String("00".repeat(16));
    std::fs::write(&input, tampered.to_string()).unwrap();
    let failed = vkm(&[
        "ecies",
        "decrypt",
        "--recipient-secret-file",
        secret.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert_eq!(stderr.trim(), "error: cannot open the sealed message");

    // Bad input is refused with a reason, not a panic.
    let bad = vkm(&[
        "ecies",
        "encrypt",
        "--recipient-public",
        "02ff",
        "--plaintext",
        "00",
    ]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(!stderr.contains("panicked"));
    assert!(stderr.contains("not a P-256 public key"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn keygen_never_overwrites_or_writes_through_a_link_and_secrets_stay_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("keep");
    let out = dir.to_str().unwrap();
    let keygen = |extra: &[&str]| {
        let mut args = vec!["keygen", "--out", out, "--name", "sm", "--json"];
        args.extend_from_slice(extra);
        vkm(&args)
    };
    let first = json(&keygen(&[]));
    let signing = dir.join("sm.signing.pem");
    let before = std::fs::read(&signing).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&signing), 0o600);
    assert_eq!(mode(&dir.join("sm.encryption.pem")), 0o600);

    // Again: refused, every file as it was.
    let again = keygen(&[]);
    assert!(!again.status.success());
    let stderr = String::from_utf8(again.stderr).unwrap();
    assert!(stderr.contains("refusing to overwrite"), "{stderr}");
    assert_eq!(std::fs::read(&signing).unwrap(), before);

    // --force replaces them, still private.
    let second = json(&keygen(&["--force"]));
    assert_ne!(first["signing_public"], second["signing_public"]);
    assert_ne!(std::fs::read(&signing).unwrap(), before);
    assert_eq!(mode(&signing), 0o600);

    // A symbolic link where a key goes: refused; with --force the link is replaced and
    // its target untouched.
    let target = dir.join("elsewhere.txt");
    std::fs::write(&target, "do not touch").unwrap();
    let linked = dir.join("ln.signing.pem");
    std::os::unix::fs::symlink(&target, &linked).unwrap();
    let link_keygen = |extra: &[&str]| {
        let mut args = vec!["keygen", "--out", out, "--name", "ln"];
        args.extend_from_slice(extra);
        vkm(&args)
    };
    assert!(!link_keygen(&[]).status.success());
    assert!(link_keygen(&["--force"]).status.success());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "do not touch");
    assert!(!std::fs::symlink_metadata(&linked).unwrap().is_symlink());

    // A secret file others can read is refused when used.
    let secret = dir.join("sm.encryption.pem");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let input = dir.join("none.json");
    std::fs::write(&input, "{}").unwrap();
    let refused = vkm(&[
        "ecies",
        "decrypt",
        "--recipient-secret-file",
        secret.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(stderr.contains("accessible to others"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn transfer_demo_runs_every_structure() {
    for structure in ["blockchain", "same-domain", "cross-domain"] {
        let v = json(&vkm(&[
            "transfer",
            "demo",
            "--structure",
            structure,
            "--json",
        ]));
        assert_eq!(v["decrypted_ok"], true, "{structure}");
        assert_eq!(v["signing_digest"].as_str().unwrap().len(), 64);
        assert_eq!(v["signature"].as_str().unwrap().len(), 128);
        assert_eq!(v["source_signing_public"].as_str().unwrap().len(), 66);
        assert!(!v["tx_hex"].as_str().unwrap().is_empty());
        let steps = v["timings_us"].as_object().unwrap().len();
        let expected = match structure {
            "blockchain" => 3,
            "same-domain" => 3,
            _ => 4,
        };
        assert_eq!(steps, expected, "{structure}: {v}");
    }
    // The blockchain demo's signature verifies over its digest with the printed key.
    let v = json(&vkm(&["transfer", "demo", "--json"]));
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(
        &hex::decode(v["source_signing_public"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let sig =
        p256::ecdsa::Signature::from_slice(&hex::decode(v["signature"].as_str().unwrap()).unwrap())
            .unwrap();
    key.verify_prehash(
        &hex::decode(v["signing_digest"].as_str().unwrap()).unwrap(),
        &sig,
    )
    .unwrap();
}

#[test]
fn bench_crypto_reports_table_iv_fields() {
    let v = json(&vkm(&[
        "bench",
        "crypto",
        "--iterations",
        "3",
        "--block-txs",
        "20",
        "--json",
    ]));
    for field in [
        "ecies_encrypt_us",
        "ecies_decrypt_us",
        "ecdsa_sign_us",
        "ecdsa_verify_us",
        "ecdsa_verify_registered_us",
        "ecdh_p256_us",
        "ecdh_p256_rust_crypto_us",
        "ecdh_backend_speedup",
    ] {
        assert!(v[field].as_f64().unwrap() > 0.0, "{field}: {v}");
    }
    // The CLI is built with AWS-LC.
    assert_eq!(v["backend"], "aws-lc", "{v}");
}
