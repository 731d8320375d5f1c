//! `vkm network run` and `vkm chain verify|show|trace`: a short run of a small network,
//! its summary fields, its events file, and the stored chain it leaves.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::{json, printed, vkm};

use serde_json::Value;

#[test]
fn short_run_then_inspect_the_chain() {
    let dir = std::env::temp_dir().join(format!("vkm-network-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let events = dir.with_extension("events");
    let _ = std::fs::remove_file(&events);
    let summary = json(&vkm(&[
        "network",
        "run",
        "--sms",
        "4",
        "--traffic",
        "6000",
        "--period",
        "0.5",
        "--duration",
        "2",
        "--difficulty-bits",
        "8",
        "--db",
        dir.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
        "--json",
    ]));
    for field in [
        "blocks",
        "transactions",
        "orphans",
        "reorgs",
        "delay_ms_p50",
        "delay_ms_p95",
        "delay_ms_max",
        "per_sm",
    ] {
        assert!(!summary[field].is_null(), "missing {field}: {summary}");
    }
    let crossings = summary["crossings"].as_u64().unwrap();
    assert!(crossings > 0);
    assert_eq!(
        summary["admitted"].as_u64().unwrap(),
        crossings,
        "every vehicle admitted: {summary}"
    );
    assert_eq!(summary["per_sm"].as_array().unwrap().len(), 4);
    for sm in summary["per_sm"].as_array().unwrap() {
        // Refusals by kind add up to the count.
        let by_kind: u64 = sm["refusals"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(Some(by_kind), sm["refused"].as_u64(), "{sm}");
    }
    assert!(summary["blocks"].as_u64().unwrap() >= 1);

    let lines = std::fs::read_to_string(&events).unwrap();
    let first: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert!(first["sm"].is_u64() && first["height"].is_u64() && first["hash"].is_string());

    let db = dir.join("sm-1.redb");
    let verified = json(&vkm(&[
        "chain",
        "verify",
        "--db",
        db.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(verified["height"], summary["blocks"]);
    let tip = json(&vkm(&[
        "chain",
        "show",
        "--db",
        db.to_str().unwrap(),
        "--height",
        "1",
        "--json",
    ]));
    let txid = tip["txids"][0].as_str().unwrap();
    let traced = json(&vkm(&[
        "chain",
        "trace",
        "--db",
        db.to_str().unwrap(),
        "--tx",
        txid,
        "--json",
    ]));
    assert_eq!(traced["height"], 1);
    assert_eq!(traced["position"], 0);

    // Inspection never changes a byte of the store.
    let bytes = std::fs::read(&db).unwrap();
    assert!(
        vkm(&["chain", "verify", "--db", db.to_str().unwrap()])
            .status
            .success()
    );
    assert!(
        vkm(&["chain", "show", "--db", db.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        bytes,
        "inspection wrote to the store"
    );

    // The genesis block exported, a block checked against it (miner signature included),
    // then with its signature or its miner changed.
    let genesis = dir.join("genesis.block");
    let block1 = dir.join("block1.block");
    for (height, file) in [("0", &genesis), ("1", &block1)] {
        let exported = vkm(&[
            "chain",
            "export",
            "--db",
            db.to_str().unwrap(),
            "--height",
            height,
            "--out",
            file.to_str().unwrap(),
        ]);
        assert!(exported.status.success(), "{exported:?}");
    }
    let checked = json(&vkm(&[
        "block",
        "verify",
        block1.to_str().unwrap(),
        "--genesis",
        genesis.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(checked["valid"], true, "{checked}");
    assert!(
        checked["checked"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("miner_signature"))
    );
    let block_bytes = std::fs::read(&block1).unwrap();
    // Header (85 bytes), miner (4), signature (64).
    for (offset, value) in [(85 + 4 + 20, None), (85, Some([0xffu8; 4]))] {
        let mut bytes = block_bytes.clone();
        match value {
            None => bytes[offset] ^= 1,
            Some(v) => bytes[offset..offset + 4].copy_from_slice(&v),
        }
        let forged = dir.join("forged.block");
        std::fs::write(&forged, &bytes).unwrap();
        let out = vkm(&[
            "block",
            "verify",
            forged.to_str().unwrap(),
            "--genesis",
            genesis.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(printed(&out)["check"], "miner_signature");
        // Without the genesis the same file passes what a block file alone can show.
        assert!(
            vkm(&["block", "verify", forged.to_str().unwrap()])
                .status
                .success()
        );
    }

    // An intact store rebuilds completely.
    let rebuilt = dir.join("rebuilt.redb");
    let report = json(&vkm(&[
        "chain",
        "repair",
        "--db",
        db.to_str().unwrap(),
        "--out",
        rebuilt.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["recovered"]["height"], summary["blocks"]);
    assert_eq!(report["recovered"]["tip"], verified["tip"]);
    let again = vkm(&[
        "chain",
        "repair",
        "--db",
        db.to_str().unwrap(),
        "--out",
        rebuilt.to_str().unwrap(),
    ]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing output is refused"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        bytes,
        "repair wrote to the store"
    );
    let _ = std::fs::remove_file(&rebuilt);

    // Every 4 KiB page zeroed in turn: each inspection answers or refuses with a typed
    // error (exit 1 for an invalid block, 2 for damage), never panics, and leaves the
    // damaged file as it was.
    let damaged = dir.join("damaged.redb");
    let mut repaired = 0;
    for page in 0..bytes.len().div_ceil(4096) {
        let mut copy = bytes.clone();
        let end = ((page + 1) * 4096).min(copy.len());
        copy[page * 4096..end].fill(0);
        std::fs::write(&damaged, &copy).unwrap();
        let mut verified = true;
        for args in [
            vec!["chain", "verify", "--db", damaged.to_str().unwrap()],
            vec![
                "chain",
                "trace",
                "--db",
                damaged.to_str().unwrap(),
                "--tx",
                txid,
            ],
        ] {
            let out = vkm(&args);
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert!(
                !stderr.contains("panicked"),
                "page {page} {args:?}: {stderr}"
            );
            assert!(
                matches!(out.status.code(), Some(0..=2)),
                "page {page} {args:?}: {:?} {stderr}",
                out.status
            );
            assert_eq!(
                std::fs::read(&damaged).unwrap(),
                copy,
                "page {page} {args:?}"
            );
            verified &= out.status.success();
        }
        // Where inspection refused (and on every 16th page), a repair rebuilds a store
        // that verifies, never panics, and leaves the damaged file as it was.
        if !verified || page % 16 == 0 {
            let rebuilt = dir.join(format!("rebuilt-{page}.redb"));
            let out = vkm(&[
                "chain",
                "repair",
                "--db",
                damaged.to_str().unwrap(),
                "--out",
                rebuilt.to_str().unwrap(),
                "--json",
            ]);
            let stderr = String::from_utf8(out.stderr.clone()).unwrap();
            assert!(!stderr.contains("panicked"), "page {page}: {stderr}");
            assert_eq!(std::fs::read(&damaged).unwrap(), copy, "page {page} repair");
            if out.status.success() {
                repaired += 1;
                let report = json(&out);
                assert!(
                    report["recovered"]["height"].as_u64().unwrap()
                        <= summary["blocks"].as_u64().unwrap()
                );
                assert!(
                    vkm(&["chain", "verify", "--db", rebuilt.to_str().unwrap()])
                        .status
                        .success(),
                    "page {page}: the rebuilt store does not verify: {report}"
                );
            } else {
                assert_eq!(out.status.code(), Some(2), "page {page}: {stderr}");
            }
            let _ = std::fs::remove_file(&rebuilt);
        }
    }
    assert!(repaired > 0, "no repair succeeded");

    let missing = vkm(&["chain", "verify", "--db", "/nonexistent/sm.redb"]);
    assert!(!missing.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&events);
}

#[test]
fn traditional_structure_runs_on_the_same_traffic() {
    let summary = json(&vkm(&[
        "network",
        "run",
        "--sms",
        "4",
        "--structure",
        "traditional",
        "--traffic",
        "6000",
        "--duration",
        "1",
        "--json",
    ]));
    assert_eq!(summary["blocks"], 0);
    assert_eq!(summary["admitted"], summary["crossings"]);
    assert_eq!(
        summary["per_sm"].as_array().unwrap().len(),
        8,
        "4 SMs and 4 central managers"
    );
}

/// The dynamic collection period runs live: at light traffic the adaptive policy moves
/// every manager to the longest candidate period (Lei et al. Fig. 12: longer periods win
/// when traffic is light), where the fixed policy stays at its 0.5 s.
#[test]
fn the_adaptive_policy_runs_live() {
    let run = |policy: &str| {
        json(&vkm(&[
            "network",
            "run",
            "--sms",
            "4",
            "--traffic",
            "600",
            "--duration",
            "4",
            "--difficulty-bits",
            "8",
            "--period",
            "0.5",
            "--policy",
            policy,
            "--json",
        ]))
    };
    let periods = |summary: &serde_json::Value| -> Vec<f64> {
        summary["per_sm"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["period_s"].as_f64().unwrap())
            .collect()
    };
    let fixed = run("fixed");
    assert_eq!(fixed["policy"], "fixed");
    assert!(periods(&fixed).iter().all(|&p| p == 0.5), "{fixed}");
    let adaptive = run("adaptive");
    assert_eq!(adaptive["policy"], "adaptive");
    assert_eq!(adaptive["admitted"], adaptive["crossings"], "{adaptive}");
    assert!(periods(&adaptive).iter().all(|&p| p == 1.0), "{adaptive}");
}

/// Lost, duplicated and late messages and a crashed manager on the in-process network:
/// every crossing admitted once, one chain at the end, every store sound.
#[test]
fn faults_lose_nothing_and_end_on_one_chain() {
    let dir = std::env::temp_dir().join(format!("vkm-network-faults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let summary = json(&vkm(&[
        "network",
        "run",
        "--sms",
        "4",
        "--traffic",
        "6000",
        "--period",
        "0.5",
        "--duration",
        "4",
        "--difficulty-bits",
        "8",
        "--loss",
        "0.1",
        "--duplicate",
        "0.05",
        "--jitter-ms",
        "10",
        "--crash",
        "2@1:2.5",
        "--vehicles-per-district",
        "30",
        "--db",
        dir.to_str().unwrap(),
        "--json",
    ]));
    let crossings = summary["crossings"].as_u64().unwrap();
    assert!(crossings > 0, "{summary}");
    assert_eq!(summary["lost"], 0, "{summary}");
    // The vehicles' contract fields: faults between managers cost no BSM.
    for field in [
        "vehicles",
        "welcomes_delivered",
        "bsms_opened",
        "bsms_failed",
    ] {
        assert!(summary[field].is_u64(), "{field} in {summary}");
    }
    for field in ["welcome_delay_s_p50", "welcome_delay_s_p95"] {
        assert!(summary[field].is_f64(), "{field} in {summary}");
    }
    assert!(
        summary["welcomes_delivered"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert_eq!(summary["bsms_failed"], 0, "{summary}");
    assert_eq!(summary["admitted_duplicates"], 0, "{summary}");
    assert_eq!(summary["admitted_unique"].as_u64().unwrap(), crossings);
    assert!(summary["sync_requests"].as_u64().unwrap() > 0, "{summary}");
    let nodes = summary["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    assert!(
        nodes
            .iter()
            .all(|n| n["up"] == true && n["tip"] == nodes[0]["tip"]),
        "{summary}"
    );
    for sm in 1..=4 {
        let db = dir.join(format!("sm-{sm}.redb"));
        let verified = json(&vkm(&[
            "chain",
            "verify",
            "--db",
            db.to_str().unwrap(),
            "--json",
        ]));
        assert_eq!(verified["tip"], nodes[0]["tip"]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A network killed with SIGKILL loses no committed block: every block a manager
/// reported committed (the events file is written after the commit) is on the chain its
/// store holds when reopened (through redb's recovery, on a copy).
#[cfg(unix)]
#[test]
fn a_killed_network_loses_no_committed_block() {
    use std::collections::HashMap;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let dir = std::env::temp_dir().join(format!("vkm-network-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("events.jsonl");
    let db = dir.join("db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vkm"))
        .args([
            "network",
            "run",
            "--sms",
            "4",
            "--traffic",
            "6000",
            "--period",
            "0.5",
            "--duration",
            "600",
            "--difficulty-bits",
            "8",
            "--vehicles-per-district",
            "20",
            "--db",
            db.to_str().unwrap(),
            "--events",
            events.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The last hash each manager committed at each height (a reorganisation commits a
    // height again; a line cut by the kill is skipped).
    let committed = || {
        let mut committed: HashMap<(u64, u64), String> = HashMap::new();
        for line in std::fs::read_to_string(&events).unwrap_or_default().lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                let key = (v["sm"].as_u64().unwrap(), v["height"].as_u64().unwrap());
                committed.insert(key, v["hash"].as_str().unwrap().to_string());
            }
        }
        committed
    };
    // Wait, with a generous deadline, until a few blocks are committed everywhere.
    let deadline = Instant::now() + Duration::from_secs(240);
    while committed().len() < 16 {
        assert!(Instant::now() < deadline, "no blocks committed in time");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let committed = committed();
    let mut rebuilt = HashMap::new();
    for sm in 1..=4u64 {
        let store = db.join(format!("sm-{sm}.redb"));
        let out = dir.join(format!("reopened-{sm}.redb"));
        let report = json(&vkm(&[
            "chain",
            "repair",
            "--db",
            store.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]));
        assert_eq!(report["complete"], true, "sm {sm}: {report}");
        rebuilt.insert(sm, out);
    }
    let mut checked = 0;
    for ((sm, height), hash) in &committed {
        // A later block at a height replaced by a reorganisation is in the events file too;
        // the store holds the last one committed there, or a longer chain that replaced it
        // after the kill's last line: both are on the reopened chain or above it.
        let shown = json(&vkm(&[
            "chain",
            "show",
            "--db",
            rebuilt[sm].to_str().unwrap(),
            "--height",
            &height.to_string(),
            "--json",
        ]));
        assert_eq!(&shown["hash"], hash, "sm {sm} height {height}");
        checked += 1;
    }
    assert!(checked >= 16);
    let _ = std::fs::remove_dir_all(&dir);
}
