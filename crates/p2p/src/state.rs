//! What the node's parts share: its status, the admissions it made (persisted, so that
//! they survive a restart), and its metrics in Prometheus text format.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use vkm_block::{BlockHash, MemberId};
use vkm_node::sm::Refusal;

/// Most admission delays kept for the metrics' quantiles (the most recent ones).
const DELAY_WINDOW: usize = 4096;

/// A vehicle admitted into this domain, as `GET /admissions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionRecord {
    /// Its position in this node's list, from 1 (continues across restarts).
    pub seq: u64,
    /// The vehicle's pseudonym, hex.
    pub pseudonym: String,
    /// The security manager it came from.
    pub from: u32,
    /// The key transfer that carried it, hex.
    pub txid: String,
    /// When it crossed (the transfer's timestamp), ms since the Unix epoch.
    pub crossed_at: u64,
    /// When it was admitted here, ms since the Unix epoch.
    pub admitted_at: u64,
    /// Found on the chain at a restart instead of recorded when admitted (a kill between
    /// the two): `admitted_at` is then the block's timestamp.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
}

/// The node's status, as `GET /status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The security manager's id.
    pub id: u32,
    /// Height of its best chain.
    pub height: u64,
    /// Its best chain's tip, hex.
    pub tip: String,
    /// Registered peers connected.
    pub peers: usize,
    /// Transactions waiting for a block.
    pub mempool: usize,
    /// Vehicles admitted into its domain since its store was created.
    pub admitted: u64,
}

/// Counters by message kind ([`vkm_node::sm::Message::kind`]).
#[derive(Debug, Default)]
pub struct KindCounters([AtomicU64; 8]);

impl KindCounters {
    /// Counts one message of `kind`.
    pub fn add(&self, kind: u8, bytes: usize) {
        let _ = bytes;
        if let Some(c) = self.0.get(usize::from(kind)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn get(&self, kind: usize) -> u64 {
        self.0[kind].load(Ordering::Relaxed)
    }
}

/// The node's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Messages received, by kind.
    pub messages_in: KindCounters,
    /// Messages sent (published or requested), by kind.
    pub messages_out: KindCounters,
    /// Payload bytes received.
    pub bytes_in: AtomicU64,
    /// Payload bytes sent.
    pub bytes_out: AtomicU64,
    /// Inputs that did not decode, or came on the wrong topic.
    pub malformed: AtomicU64,
    /// Peers blocked for sending bad input.
    pub penalties: AtomicU64,
    /// Requests dropped for exceeding a peer's rate.
    pub rate_limited: AtomicU64,
    /// Connections refused: not in the registry, or blocked.
    pub denied: AtomicU64,
    refused: Mutex<BTreeMap<&'static str, u64>>,
    delays: Mutex<Vec<f64>>,
}

/// A short name of why something was refused (a metrics label).
pub fn refusal_reason(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::UnknownDestination(_) => "unknown_destination",
        Refusal::Request { .. } => "crossing_request",
        Refusal::Build(_) => "build",
        Refusal::Change(_) => "pseudonym_change",
        Refusal::Transfer { .. } => "transfer",
        Refusal::Value { .. } => "value",
        Refusal::Registry(_) => "registry",
        Refusal::InvalidBlock { .. } => "invalid_block",
        Refusal::Admission { .. } => "admission",
        Refusal::Rekey(_) => "rekey",
        _ => "other",
    }
}

impl Metrics {
    /// Counts a refusal.
    pub fn refused(&self, reason: &'static str) {
        if let Ok(mut map) = self.refused.lock() {
            *map.entry(reason).or_default() += 1;
        }
    }

    /// Records a crossing-to-admission delay, seconds.
    pub fn delay(&self, seconds: f64) {
        if let Ok(mut delays) = self.delays.lock() {
            if delays.len() == DELAY_WINDOW {
                delays.remove(0);
            }
            delays.push(seconds);
        }
    }

    /// The metrics and `status` in Prometheus text format.
    pub fn render(&self, status: &Status) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, value: f64| {
            out.push_str(&format!(
                "# HELP vkm_{name} {help}\n# TYPE vkm_{name} gauge\nvkm_{name} {value}\n"
            ));
        };
        gauge("height", "Height of the best chain.", status.height as f64);
        gauge("peers", "Registered peers connected.", status.peers as f64);
        gauge(
            "mempool",
            "Transactions waiting for a block.",
            status.mempool as f64,
        );
        gauge(
            "admitted",
            "Vehicles admitted into the domain.",
            status.admitted as f64,
        );
        let kinds = [
            "transaction",
            "value",
            "block",
            "registry",
            "tip",
            "get_blocks",
            "blocks",
        ];
        out.push_str("# HELP vkm_messages_total Messages between managers, by direction and kind.\n# TYPE vkm_messages_total counter\n");
        for (direction, counters) in [("in", &self.messages_in), ("out", &self.messages_out)] {
            for (k, kind) in kinds.iter().enumerate() {
                out.push_str(&format!(
                    "vkm_messages_total{{direction=\"{direction}\",kind=\"{kind}\"}} {}\n",
                    counters.get(k)
                ));
            }
        }
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            out.push_str(&format!(
                "# HELP vkm_{name} {help}\n# TYPE vkm_{name} counter\nvkm_{name} {value}\n"
            ));
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "bytes_in_total",
            "Payload bytes received.",
            load(&self.bytes_in),
        );
        counter(
            &mut out,
            "bytes_out_total",
            "Payload bytes sent.",
            load(&self.bytes_out),
        );
        counter(
            &mut out,
            "malformed_total",
            "Inputs that did not decode or came on the wrong topic.",
            load(&self.malformed),
        );
        counter(
            &mut out,
            "penalties_total",
            "Peers blocked for bad input.",
            load(&self.penalties),
        );
        counter(
            &mut out,
            "rate_limited_total",
            "Requests dropped over a peer's rate.",
            load(&self.rate_limited),
        );
        counter(
            &mut out,
            "connections_denied_total",
            "Connections refused (not registered, or blocked).",
            load(&self.denied),
        );
        out.push_str("# HELP vkm_refused_total What the security manager refused, by reason.\n# TYPE vkm_refused_total counter\n");
        if let Ok(map) = self.refused.lock() {
            for (reason, n) in map.iter() {
                out.push_str(&format!("vkm_refused_total{{reason=\"{reason}\"}} {n}\n"));
            }
        }
        let mut delays = self.delays.lock().map(|d| d.clone()).unwrap_or_default();
        delays.sort_by(f64::total_cmp);
        out.push_str("# HELP vkm_admission_delay_seconds Crossing-to-admission delay of recent admissions.\n# TYPE vkm_admission_delay_seconds summary\n");
        for q in [0.5, 0.95, 0.99] {
            let v = quantile(&delays, q);
            out.push_str(&format!(
                "vkm_admission_delay_seconds{{quantile=\"{q}\"}} {v}\n"
            ));
        }
        out.push_str(&format!(
            "vkm_admission_delay_seconds_sum {}\nvkm_admission_delay_seconds_count {}\n",
            delays.iter().sum::<f64>(),
            delays.len()
        ));
        out
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Everything the node's parts share.
#[derive(Debug)]
pub struct Shared {
    /// Status, updated by the manager's thread (and the peer count by the network's).
    pub status: Mutex<Status>,
    /// Admissions, in order.
    pub admissions: Mutex<Vec<AdmissionRecord>>,
    /// Metrics.
    pub metrics: Metrics,
    log: Mutex<Option<std::fs::File>>,
    path: PathBuf,
}

impl Shared {
    /// State for manager `id` whose admissions are recorded in `path` (one JSON line
    /// each), reading those already there (a torn last line is ignored).
    pub fn open(id: MemberId, path: &Path) -> std::io::Result<Self> {
        let mut admissions = Vec::new();
        if let Ok(file) = std::fs::File::open(path) {
            for line in std::io::BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<AdmissionRecord>(&line) {
                    Ok(record) => admissions.push(record),
                    Err(_) => break,
                }
            }
        }
        // Rewritten without a torn tail, so appends start on a clean line.
        let mut text = String::new();
        for record in &admissions {
            text.push_str(&serde_json::to_string(record).unwrap_or_default());
            text.push('\n');
        }
        std::fs::write(path, text)?;
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        let status = Status {
            id: id.0,
            ..Status::default()
        };
        Ok(Self {
            status: Mutex::new(status),
            admissions: Mutex::new(admissions),
            metrics: Metrics::default(),
            log: Mutex::new(Some(file)),
            path: path.to_path_buf(),
        })
    }

    /// Appends an admission (its `seq` assigned here), to memory and to the file.
    pub fn record(&self, mut record: AdmissionRecord) -> std::io::Result<()> {
        let Ok(mut list) = self.admissions.lock() else {
            return Ok(());
        };
        record.seq = list.last().map_or(1, |r| r.seq + 1);
        if let Ok(mut log) = self.log.lock()
            && let Some(file) = log.as_mut()
        {
            let mut line = serde_json::to_string(&record).unwrap_or_default();
            line.push('\n');
            file.write_all(line.as_bytes())?;
        }
        list.push(record);
        Ok(())
    }

    /// Admissions after `seq`, at most `limit`.
    pub fn admissions_after(&self, seq: u64, limit: usize) -> Vec<AdmissionRecord> {
        let Ok(list) = self.admissions.lock() else {
            return Vec::new();
        };
        let start = list.partition_point(|r| r.seq <= seq);
        list[start..].iter().take(limit).cloned().collect()
    }

    /// The txids already recorded.
    pub fn recorded_txids(&self) -> std::collections::HashSet<String> {
        self.admissions
            .lock()
            .map(|l| l.iter().map(|r| r.txid.clone()).collect())
            .unwrap_or_default()
    }

    /// Updates the chain part of the status.
    pub fn set_chain(&self, height: u64, tip: BlockHash, mempool: usize, admitted: u64) {
        if let Ok(mut s) = self.status.lock() {
            s.height = height;
            s.tip = tip.to_string();
            s.mempool = mempool;
            s.admitted = admitted;
        }
    }

    /// Updates the peer count.
    pub fn set_peers(&self, peers: usize) {
        if let Ok(mut s) = self.status.lock() {
            s.peers = peers;
        }
    }

    /// A copy of the status.
    pub fn status(&self) -> Status {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Where admissions are recorded.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn admissions_survive_a_torn_tail() {
        let path = std::env::temp_dir().join(format!("vkm-p2p-adm-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let shared = Shared::open(MemberId(1), &path).unwrap();
        let record = |txid: &str| AdmissionRecord {
            seq: 0,
            pseudonym: "00".into(),
            from: 2,
            txid: txid.into(),
            crossed_at: 1,
            admitted_at: 2,
            recovered: false,
        };
        shared.record(record("aa")).unwrap();
        shared.record(record("bb")).unwrap();
        drop(shared);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"{\"seq\":3,\"pseu").unwrap();
        let shared = Shared::open(MemberId(1), &path).unwrap();
        assert_eq!(shared.admissions_after(0, 10).len(), 2);
        shared.record(record("cc")).unwrap();
        let after = shared.admissions_after(1, 10);
        assert_eq!(after.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
        assert!(
            shared
                .metrics
                .render(&shared.status())
                .contains("vkm_height 0")
        );
        std::fs::remove_file(&path).unwrap();
    }
}
