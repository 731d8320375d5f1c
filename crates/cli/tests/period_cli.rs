//! `vkm period optimise` and `vkm calibrate`: contract fields and choices.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::{json, vkm};

#[test]
fn optimise_prints_the_contract_fields_and_follows_fig12() {
    let off_peak = json(&vkm(&["period", "optimise", "--traffic", "3000", "--json"]));
    assert_eq!(off_peak["best_period_s"], 1.0);
    let table = off_peak["table"].as_array().unwrap();
    assert_eq!(table.len(), 6);
    for row in table {
        for field in [
            "period_s",
            "transactions",
            "processing_s",
            "cost_per_second_s",
            "mean_delay_s",
            "feasible",
        ] {
            assert!(!row[field].is_null(), "missing {field}: {row}");
        }
    }
    assert!(
        (table[5]["transactions"].as_f64().unwrap() - 100.0).abs() < 1e-9,
        "Eq. (5)"
    );
    let saturated = json(&vkm(&[
        "period",
        "optimise",
        "--traffic",
        "15000",
        "--roads",
        "120",
        "--periods",
        "0.5:1.0:0.1",
        "--json",
    ]));
    assert_eq!(saturated["best_period_s"], 0.5);
    let none = json(&vkm(&["period", "optimise", "--traffic", "1e7", "--json"]));
    assert!(none["best_period_s"].is_null());
}

#[test]
fn calibrate_writes_a_file_optimise_reads() {
    let path = std::env::temp_dir().join(format!("vkm-measured-{}.json", std::process::id()));
    let written = json(&vkm(&[
        "calibrate",
        "--iterations",
        "3",
        "--out",
        path.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(written["name"], "measured");
    assert_eq!(written["prep"]["kind"], "linear");
    for field in ["encrypt_s", "decrypt_s", "sign_s", "verify_s", "mining_s"] {
        assert!(written[field].as_f64().unwrap() > 0.0, "{field}");
    }
    let chosen = json(&vkm(&[
        "period",
        "optimise",
        "--traffic",
        "15000",
        "--calibration",
        path.to_str().unwrap(),
        "--objective",
        "delay",
        "--json",
    ]));
    assert_eq!(chosen["calibration"], "measured");
    let best = chosen["best_period_s"].as_f64().unwrap();
    let rows = chosen["table"].as_array().unwrap();
    let best_row = rows
        .iter()
        .find(|r| r["period_s"].as_f64() == Some(best))
        .unwrap();
    assert_eq!(best_row["feasible"], true);
    for row in rows.iter().filter(|r| r["feasible"] == true) {
        assert!(
            best_row["mean_delay_s"].as_f64().unwrap() <= row["mean_delay_s"].as_f64().unwrap()
        );
    }
}

#[test]
fn bad_period_arguments_are_refused() {
    for args in [
        &["period", "optimise", "--traffic", "-5"][..],
        &[
            "period",
            "optimise",
            "--traffic",
            "100",
            "--periods",
            "1:0.5:0.1",
        ],
        &["period", "optimise", "--traffic", "100", "--periods", "abc"],
        &["period", "optimise", "--traffic", "100", "--roads", "0"],
        &[
            "period",
            "optimise",
            "--traffic",
            "100",
            "--calibration",
            "/nonexistent.json",
        ],
    ] {
        let out = vkm(args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.starts_with("error:") && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}
