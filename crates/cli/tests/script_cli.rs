//! `vkm script run`: the contract fields.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::{json, printed, vkm};

#[test]
fn runs_scripts_and_names_errors() {
    let ok = json(&vkm(&[
        "script",
        "run",
        "--sig",
        "2 11",
        "--pubkey",
        "23 EXPONENT",
        "--json",
    ]));
    assert_eq!(ok["ok"], true);
    assert!(ok["error"].is_null());
    assert_eq!(ok["stack"][0], "01");

    let out = vkm(&[
        "script",
        "run",
        "--sig",
        "1",
        "--pubkey",
        "2 EQUALVERIFY",
        "--json",
    ]);
    assert!(!out.status.success());
    let failed = printed(&out);
    assert_eq!(failed["ok"], false);
    assert_eq!(failed["error"], "EQUALVERIFY");

    // CHECKSIG without a transaction fails cleanly.
    let sig = printed(&vkm(&[
        "script", "run", "--sig", "1 1", "--pubkey", "CHECKSIG", "--json",
    ]));
    assert_eq!(sig["error"], "EVAL_FALSE");

    let bad = vkm(&["script", "run", "--sig", "NOTANOPCODE", "--pubkey", "1"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8(bad.stderr)
            .unwrap()
            .starts_with("error: --sig")
    );
}
