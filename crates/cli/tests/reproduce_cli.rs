//! `vkm reproduce --quick`: every file written, the "Scale" section, and the numbers the
//! report states equal the CSVs they come from (Table IV, the delay table, the scaling
//! study and its largest sustained networks).

#![allow(clippy::unwrap_used)] // Tests fail loudly.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{json, vkm};

/// The CSV at `path` as rows of named fields.
fn csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|line| {
            header
                .iter()
                .cloned()
                .zip(line.split(',').map(String::from))
                .collect()
        })
        .collect()
}

/// The cells of the report's table rows that start with `first` (a table's first column).
fn table_rows<'a>(report: &'a str, first: &str) -> Vec<Vec<&'a str>> {
    report
        .lines()
        .filter(|l| l.starts_with(&format!("| {first} ")))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

fn number(row: &HashMap<String, String>, key: &str) -> f64 {
    row[key].parse().unwrap()
}

#[test]
fn reproduce_writes_the_scale_study_and_its_report_states_what_the_csvs_hold() {
    let dir = tempfile_dir();
    let out = dir.to_str().unwrap();
    let v = json(&vkm(&["reproduce", "--quick", "--out", out, "--json"]));
    let files: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for name in ["scaling.csv", "scaling.png", "scaling.svg", "report.md"] {
        assert!(files.contains(&name), "{name}: {files:?}");
    }
    for f in &files {
        assert!(
            std::fs::metadata(dir.join(f)).unwrap().len() > 0,
            "{f} empty"
        );
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("## Scale"), "{report}");

    // Table IV.
    let table_iv = csv(&dir.join("table_iv.csv"));
    assert_eq!(table_iv.len(), 4);
    for row in &table_iv {
        let line = format!(
            "| {} | {:.3} ms | {:.3} ms | {:.1}x |",
            row["operation"],
            number(row, "paper_ms"),
            number(row, "vkm_ms"),
            number(row, "paper_over_vkm")
        );
        assert!(report.contains(&line), "{line}");
    }

    // The delay table.
    let delays = csv(&dir.join("delay_summary.csv"));
    assert!(!delays.is_empty());
    for row in &delays {
        let line = format!(
            "| {} | {} | {:.0} | {} / {} | {:.3} s | {:.3} s |",
            row["structure"],
            row["policy"],
            number(row, "traffic"),
            row["admitted"],
            row["crossings"],
            number(row, "delay_s_mean"),
            number(row, "delay_s_p95")
        );
        assert!(report.contains(&line), "{line}");
    }

    // The scaling study: one report row per CSV row, the same numbers.
    let scaling = csv(&dir.join("scaling.csv"));
    assert_eq!(
        scaling.len(),
        16,
        "2 calibrations x 2 verifications x 4 grids"
    );
    let rows: Vec<Vec<&str>> = ["paper", "measured"]
        .iter()
        .flat_map(|c| table_rows(&report, c))
        .filter(|cells| cells.len() == 8)
        .collect();
    assert_eq!(rows.len(), 16, "{report}");
    for (row, cells) in scaling.iter().zip(&rows) {
        assert_eq!(cells[0], row["calibration"]);
        assert_eq!(cells[1], row["verification"]);
        assert_eq!(cells[2], row["managers"]);
        assert_eq!(
            cells[3],
            format!("{} / {}", row["admitted"], row["crossings"])
        );
        assert_eq!(cells[4], row["blocks"]);
        assert_eq!(cells[5], format!("{:.3} s", number(row, "delay_s_p95")));
        assert_eq!(cells[6], format!("{:.2}", number(row, "max_cpu_share")));
        let saturated = row["saturated"] == "true";
        assert_eq!(cells[7], if saturated { "saturated" } else { "keeps up" });
        // A saturated network reports a finite share at or above 1 and a backlog.
        let share = number(row, "max_cpu_share");
        assert!(share.is_finite());
        if saturated && row["admitted"] != row["crossings"] {
            assert!(share >= 1.0 || number(row, "backlog") > 0.0, "{row:?}");
        }
    }
    // The largest sustained network per calibration and verification, from the CSV.
    for calibration in ["paper", "measured"] {
        for verification in ["every", "destination"] {
            let largest = scaling
                .iter()
                .filter(|r| r["calibration"] == calibration && r["verification"] == verification)
                .filter(|r| r["saturated"] == "false" && r["backlog"] == "0")
                .map(|r| r["managers"].parse::<u32>().unwrap())
                .max();
            let text = largest.map_or("none".to_string(), |m| format!("{m} managers"));
            let line = format!("- {calibration}, {verification} verifies: {text}");
            assert!(report.contains(&line), "{line}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A fresh folder under the system's temporary folder.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vkm-reproduce-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
