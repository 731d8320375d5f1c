//! Conformance: Bitcoin Core's own script test cases (`data/script_tests.json`), every case
//! that needs neither Bitcoin's signature hash (secp256k1 signatures) nor verification
//! flags beyond P2SH and STRICTENC, and does not rely on NOP4 being a no-op (it is
//! OP_EXPONENT here). Each case left out is counted under its reason; the counts are
//! printed (`cargo test -p vkm-script --test bitcoin_core -- --nocapture`).
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::collections::BTreeMap;

use serde_json::Value;
use vkm_script::{Flags, NoSignatures, asm, verify};

/// Why a case is left out, if it is.
fn left_out(case: &[Value]) -> Option<String> {
    if case[0].is_array() {
        return Some("segwit witness".into());
    }
    let (sig, pubkey, flags) = (case[0].as_str()?, case[1].as_str()?, case[2].as_str()?);
    for flag in flags.split(',').filter(|f| !f.is_empty()) {
        if flag != "P2SH" && flag != "STRICTENC" {
            return Some(format!("flag {flag}"));
        }
    }
    let tokens: Vec<&str> = sig
        .split_whitespace()
        .chain(pubkey.split_whitespace())
        .collect();
    if tokens
        .iter()
        .any(|t| matches!(t.trim_start_matches("OP_"), "NOP4"))
    {
        return Some("NOP4 is OP_EXPONENT".into());
    }
    let signature_op = tokens.iter().any(|t| {
        matches!(
            t.trim_start_matches("OP_"),
            "CHECKSIG" | "CHECKSIGVERIFY" | "CHECKMULTISIG" | "CHECKMULTISIGVERIFY"
        )
    });
    // A DER-encoded secp256k1 signature (raw hex starting with the 0x30 sequence tag,
    // whether or not its push byte is in the same token) or a secp256k1 public key
    // checked under STRICTENC: the outcome depends on Bitcoin's signature hash and curve.
    let bitcoin_signature = tokens.iter().any(|t| {
        let t = t.to_ascii_lowercase();
        let hex = t.strip_prefix("0x").unwrap_or("");
        hex.len() >= 16 && (hex.starts_with("30") || (hex.len() > 4 && &hex[2..4] == "30"))
    });
    // With P2SH the signature operation may sit inside the pushed redeem script.
    let redeem_may_check = flags.contains("P2SH") && bitcoin_signature;
    if redeem_may_check || (signature_op && (bitcoin_signature || flags.contains("STRICTENC"))) {
        return Some("secp256k1 signatures or STRICTENC key rules".into());
    }
    None
}

#[test]
fn bitcoin_core_script_tests() {
    let json: Value = serde_json::from_str(include_str!("data/script_tests.json")).unwrap();
    let mut run = 0;
    let mut passed = 0;
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in json.as_array().unwrap() {
        let case = case.as_array().unwrap();
        if case.len() < 4 {
            continue; // a comment
        }
        if let Some(reason) = left_out(case) {
            *skipped.entry(reason).or_default() += 1;
            continue;
        }
        run += 1;
        let (sig, pubkey, flags, expected) = (
            case[0].as_str().unwrap(),
            case[1].as_str().unwrap(),
            case[2].as_str().unwrap(),
            case[3].as_str().unwrap(),
        );
        let flags = Flags {
            p2sh: flags.split(',').any(|f| f == "P2SH"),
        };
        let outcome = match (asm::parse(sig), asm::parse(pubkey)) {
            (Ok(s), Ok(p)) => match verify(&s, &p, flags, &NoSignatures) {
                Ok(_) => "OK".to_string(),
                Err(e) => e.name().to_string(),
            },
            (Err(e), _) | (_, Err(e)) => format!("asm error {e}"),
        };
        if outcome == expected {
            passed += 1;
        } else {
            failures.push(format!(
                "[{sig:?}, {pubkey:?}, {flags:?}] expected {expected}, got {outcome}"
            ));
        }
    }
    let left: usize = skipped.values().sum();
    println!("Bitcoin Core script tests: {run} run, {passed} passed, {left} left out");
    for (reason, count) in &skipped {
        println!("  left out, {reason}: {count}");
    }
    for failure in failures.iter().take(40) {
        println!("  FAILED {failure}");
    }
    assert!(
        failures.is_empty(),
        "{} of {run} cases failed",
        failures.len()
    );
}
