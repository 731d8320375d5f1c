//! `vkm rekey bench`: contract fields, and LKH against flat.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::{json, vkm};

#[test]
fn lkh_wraps_fewer_keys_than_flat() {
    let lkh = json(&vkm(&[
        "rekey",
        "bench",
        "--members",
        "2000",
        "--churn",
        "20",
        "--scheme",
        "lkh",
        "--json",
    ]));
    let flat = json(&vkm(&[
        "rekey",
        "bench",
        "--members",
        "2000",
        "--churn",
        "20",
        "--scheme",
        "flat",
        "--json",
    ]));
    for v in [&lkh, &flat] {
        for field in ["wrapped_keys", "bytes", "micros"] {
            assert!(v[field].as_f64().unwrap() > 0.0, "{field}: {v}");
        }
    }
    assert_eq!(flat["wrapped_keys"], 2000);
    assert!(lkh["wrapped_keys"].as_u64().unwrap() * 5 <= 2000, "{lkh}");
    assert!(
        !vkm(&["rekey", "bench", "--members", "10", "--churn", "11"])
            .status
            .success()
    );
}
