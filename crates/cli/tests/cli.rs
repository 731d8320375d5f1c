//! The `vkm` binary's contract: JSON field names, exit codes, one-line errors.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::{json, printed, vkm};

use std::path::PathBuf;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vkm-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn mine_prints_the_contract_fields_and_writes_a_valid_block() {
    let out = temp("mined.block");
    let output = vkm(&[
        "mine",
        "--difficulty-bits",
        "12",
        "--txs",
        "25",
        "--threads",
        "2",
        "--seed",
        "5",
        "--timestamp",
        "1700000000000",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let v = json(&output);
    for field in [
        "header_hex",
        "block_hash",
        "difficulty_bits",
        "nonce",
        "hashes",
        "seconds",
        "hashes_per_second",
        "transactions",
    ] {
        assert!(v.get(field).is_some(), "missing {field}: {v}");
    }
    assert_eq!(v["difficulty_bits"], 12);
    assert_eq!(v["transactions"], 25);
    let header = hex::decode(v["header_hex"].as_str().unwrap()).unwrap();
    assert_eq!(header.len(), 85);
    // block_hash is the double SHA-256 of header_hex, leading zero bits from the first byte.
    let hash = vkm_block::dhash(&header);
    assert_eq!(v["block_hash"].as_str().unwrap(), hex::encode(hash));
    assert!(vkm_pow::leading_zero_bits(&hash) >= 12);
    assert_eq!(
        u64::from_le_bytes(header[77..].try_into().unwrap()),
        v["nonce"].as_u64().unwrap()
    );

    // The same seed and timestamp mine the same block.
    let again = json(&vkm(&[
        "mine",
        "--difficulty-bits",
        "12",
        "--txs",
        "25",
        "--threads",
        "1",
        "--seed",
        "5",
        "--timestamp",
        "1700000000000",
        "--json",
    ]));
    assert_eq!(again["header_hex"], v["header_hex"]);

    let verified = vkm(&["block", "verify", out.to_str().unwrap(), "--json"]);
    assert!(verified.status.success(), "{verified:?}");
    let report = json(&verified);
    assert_eq!(report["valid"], true);
    // It says what "valid" covers, and that the miner signature is not part of it.
    assert_eq!(
        report["checked"],
        serde_json::json!(["decode", "merkle_root", "work"])
    );
    assert!(
        report["not_checked"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("miner_signature"))
    );

    // Flip a byte inside a transaction: the merkle check names itself.
    let mut bytes = std::fs::read(&out).unwrap();
    let last = bytes.len() - 70;
    bytes[last] ^= 1;
    let tampered = temp("tampered.block");
    std::fs::write(&tampered, &bytes).unwrap();
    let failed = vkm(&["block", "verify", tampered.to_str().unwrap()]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("merkle root mismatch"), "{stderr}");

    // Change the nonce: insufficient work.
    let mut bytes = std::fs::read(&out).unwrap();
    bytes[77] ^= 0xff;
    bytes[78] ^= 0xff;
    std::fs::write(&tampered, &bytes).unwrap();
    let failed = vkm(&["block", "verify", tampered.to_str().unwrap(), "--json"]);
    assert!(!failed.status.success());
    assert_eq!(printed(&failed)["check"], "work");
}

#[test]
fn verify_reports_decode_errors_with_offset() {
    let garbage = temp("garbage.block");
    std::fs::write(&garbage, [0u8; 100]).unwrap();
    let output = vkm(&["block", "verify", garbage.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("decode error at offset"), "{stderr}");

    let missing = vkm(&["block", "verify", "/nonexistent/vkm.block"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8(missing.stderr)
            .unwrap()
            .starts_with("error: cannot open")
    );
}

#[test]
fn bad_arguments_are_refused_without_panicking() {
    for args in [
        &["mine", "--difficulty-bits", "256"][..],
        &["mine", "--difficulty-bits", "8", "--threads", "0"],
        &["mine", "--difficulty-bits", "8", "--txs", "70000"],
        &["bench", "mining", "--seconds", "-1"],
        // Work that could not finish is refused up front (each would hang or sleep).
        &["mine", "--difficulty-bits", "255"],
        &["mine", "--difficulty-bits", "8", "--threads", "100000"],
        &["network", "run", "--sms", "2", "--difficulty-bits", "41"],
        &["network", "run", "--sms", "2", "--period", "1e9"],
        &["network", "run", "--sms", "2", "--period", "1e19"],
        &["simulate", "--mode", "model", "--period", "1e16"],
        &["simulate", "--mode", "model", "--threads", "100000"],
        &[
            "period",
            "optimise",
            "--traffic",
            "15000",
            "--roads",
            "120",
            "--periods",
            "1e16:1e16:1",
        ],
        &["period", "optimise", "--traffic", "1e308", "--roads", "120"],
        &["calibrate", "--iterations", "0"],
        &[
            "period",
            "optimise",
            "--traffic",
            "15000",
            "--roads",
            "4294967295",
        ],
    ] {
        let output = vkm(args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn bench_mining_reports_both_rates() {
    let v = json(&vkm(&[
        "bench",
        "mining",
        "--seconds",
        "0.2",
        "--threads",
        "1",
        "--json",
    ]));
    assert!(v["hashes_per_second"].as_f64().unwrap() > 0.0);
    assert!(v["naive_hashes_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(v["threads"], 1);
}

/// Mining at a difficulty that is allowed but slow says how long it will take before it
/// starts: the first line on stderr, read with a generous deadline; the child is then
/// stopped.
#[test]
fn slow_mining_is_announced_up_front() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_vkm"))
        .args([
            "mine",
            "--difficulty-bits",
            "40",
            "--txs",
            "1",
            "--threads",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stderr).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(std::time::Duration::from_secs(120));
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    let line = line.expect("no announcement within two minutes");
    assert!(line.contains("2^40 hashes"), "{line}");
    assert!(line.contains("hours"), "{line}");
}
