//! `vkm bench testnet`: security managers as separate processes on this machine, driven
//! at Beijing's peak by the RSUs' tool; reports the crossing-to-admission delay against
//! the target (the collection period plus 200 ms), CPU per node, bytes on the wire per
//! key transfer and gossip amplification.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use crate::testnet::{
    ShapeArgs, TrafficOptions, cpu_seconds, get_json, spawn_node, stop_child, traffic,
};
use crate::{CliError, print_json};

/// Arguments of `vkm bench testnet`.
#[derive(Debug, Args)]
pub struct TestnetArgs {
    #[command(flatten)]
    shape: ShapeArgs,
    /// Vehicles per hour on each road (Beijing's peak: 15,000, about 500 crossings a
    /// second over the 3 x 3 grid).
    #[arg(long, default_value_t = 15_000.0)]
    traffic: f64,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Seconds to wait for the last admissions.
    #[arg(long, default_value_t = 30.0)]
    drain: f64,
    /// Seed of the traffic.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the testnet (stores and logs) here instead of a temporary folder.
    #[arg(long)]
    keep: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// The sum of a metric's samples whose labels contain `labels`.
fn metric_sum(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn metrics_text(api: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent
        .get(&format!("{api}/metrics"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default()
}

struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            stop_child(child, Duration::from_secs(20));
        }
    }
}

/// Runs `vkm bench testnet`.
pub fn run(args: &TestnetArgs) -> Result<ExitCode, CliError> {
    let options = args.shape.options(None)?;
    let temp = std::env::temp_dir().join(format!("vkm-bench-testnet-{}", std::process::id()));
    let dir = args.keep.clone().unwrap_or_else(|| temp.clone());
    let period_s = options
        .policy
        .initial_period()
        .map_err(|e| CliError::Invalid(e.to_string()))?
        .seconds();
    let testnet =
        vkm_p2p::testnet::init(&dir, &options).map_err(|e| CliError::Invalid(e.to_string()))?;
    let result = measure(args, &dir, &testnet, period_s);
    if args.keep.is_none() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    let out = result?;
    if args.json {
        print_json(&out);
    } else {
        println!(
            "{} node processes, {} crossings at {} veh/h/road: p95 {:.0} ms (target {:.0} ms, {}), {:.0} bytes on the wire per transfer, gossip amplification {:.2}, CPU per node {:.2} s",
            args.shape.sms,
            out["crossings"],
            args.traffic,
            out["delay_ms_p95"].as_f64().unwrap_or(0.0),
            out["target_p95_ms"].as_f64().unwrap_or(0.0),
            if out["within_target"] == true {
                "met"
            } else {
                "missed"
            },
            out["wire_bytes_per_transfer"].as_f64().unwrap_or(0.0),
            out["gossip_amplification"].as_f64().unwrap_or(0.0),
            out["cpu_s_per_node_mean"].as_f64().unwrap_or(0.0),
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn measure(
    args: &TestnetArgs,
    dir: &Path,
    testnet: &vkm_p2p::testnet::Testnet,
    period_s: f64,
) -> Result<Value, CliError> {
    let mut children = Children(Vec::new());
    for node in &testnet.nodes {
        children.0.push(spawn_node(
            &node.config,
            &node.config.with_file_name("node.log"),
        )?);
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    let peers = testnet.nodes.len() as u64 - 1;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !testnet.nodes.iter().all(|n| {
        get_json(&agent, &format!("{}/status", n.api))
            .is_some_and(|s| s["peers"].as_u64() == Some(peers))
    }) {
        if Instant::now() > deadline {
            return Err(CliError::Invalid(format!(
                "the nodes did not connect within 120 s; logs in {}",
                dir.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let cpu_before: Vec<f64> = children
        .0
        .iter()
        .map(|c| cpu_seconds(c.id()).unwrap_or(0.0))
        .collect();
    let started = Instant::now();
    let report = traffic(&TrafficOptions {
        dir: dir.to_path_buf(),
        vehicles_per_hour: args.traffic,
        duration_s: args.duration,
        seed: args.seed,
        drain_s: args.drain,
    })?;
    let wall = started.elapsed().as_secs_f64();
    let cpu: Vec<f64> = children
        .0
        .iter()
        .zip(&cpu_before)
        .map(|(c, before)| cpu_seconds(c.id()).unwrap_or(0.0) - before)
        .collect();
    let texts: Vec<String> = testnet.nodes.iter().map(|n| metrics_text(&n.api)).collect();
    let sum = |name: &str, labels: &str| -> f64 {
        texts.iter().map(|t| metric_sum(t, name, labels)).sum()
    };
    let wire_out = sum("libp2p_bandwidth_bytes_total", "Outbound");
    let unfiltered = sum("topic_msg_recv_counts_unfiltered_total", "key-transfers");
    let filtered = sum("topic_msg_recv_counts_total", "key-transfers");
    let published = sum("topic_msg_published_total", "key-transfers");
    let heights: Vec<u64> = testnet
        .nodes
        .iter()
        .map(|n| {
            get_json(&agent, &format!("{}/status", n.api))
                .and_then(|s| s["height"].as_u64())
                .unwrap_or(0)
        })
        .collect();
    let mut out = report.json();
    let target = period_s * 1000.0 + 200.0;
    let map = out
        .as_object_mut()
        .ok_or_else(|| CliError::Invalid("report".into()))?;
    map.insert("sms".into(), json!(args.shape.sms));
    map.insert("traffic".into(), json!(args.traffic));
    map.insert("difficulty_bits".into(), json!(args.shape.difficulty_bits));
    map.insert("period_s".into(), json!(period_s));
    map.insert("target_p95_ms".into(), json!(target));
    map.insert(
        "within_target".into(),
        json!(report.lost == 0 && map["delay_ms_p95"].as_f64().unwrap_or(f64::MAX) <= target),
    );
    map.insert("wall_s".into(), json!(wall));
    map.insert("cpu_s_per_node".into(), json!(cpu));
    map.insert(
        "cpu_s_per_node_mean".into(),
        json!(cpu.iter().sum::<f64>() / cpu.len().max(1) as f64),
    );
    map.insert(
        "cpu_share_per_node_mean".into(),
        json!(cpu.iter().sum::<f64>() / cpu.len().max(1) as f64 / wall),
    );
    map.insert("wire_bytes_out".into(), json!(wire_out));
    map.insert(
        "wire_bytes_per_transfer".into(),
        json!(wire_out / report.accepted.max(1) as f64),
    );
    map.insert("transfers_published".into(), json!(published));
    map.insert("gossip_copies_received".into(), json!(unfiltered));
    map.insert("gossip_distinct_received".into(), json!(filtered));
    map.insert(
        "gossip_amplification".into(),
        json!(if filtered > 0.0 {
            unfiltered / filtered
        } else {
            0.0
        }),
    );
    map.insert("heights".into(), json!(heights));
    Ok(out)
}
