//! What the node's parts share: its status, the admissions it made (persisted, so that
//! they survive a restart), and its metrics in Prometheus text format.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use serde::{Deserialize, Serialize};
use vkm_block::{BlockHash, MemberId};

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

/// Labels of the message counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// `in` or `out`.
    pub direction: &'static str,
    /// The message kind ([`vkm_node::wire::kind_name`]).
    pub kind: &'static str,
}

/// Labels of the refusal counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why ([`vkm_node::Refusal::kind`]).
    pub reason: &'static str,
}

/// The node's metrics, registered in a Prometheus registry (with libp2p's bandwidth and
/// gossipsub metrics beside them).
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Messages between managers, by direction and kind.
    pub messages: Family<MessageLabels, Counter>,
    /// Payload bytes between managers, by direction and kind.
    pub message_bytes: Family<MessageLabels, Counter>,
    /// Inputs that did not decode, or came on the wrong topic.
    pub malformed: Counter,
    /// Peers blocked for sending bad input.
    pub penalties: Counter,
    /// Requests dropped for exceeding a peer's rate.
    pub rate_limited: Counter,
    /// Connections refused: not in the registry, or blocked.
    pub denied: Counter,
    /// What the manager refused, by reason.
    pub refused: Family<ReasonLabels, Counter>,
    /// Crossing-to-admission delays, seconds.
    pub delay: Histogram,
    height: Gauge,
    peers: Gauge,
    mempool: Gauge,
    admitted: Gauge,
}

impl Metrics {
    /// Metrics registered in `registry` under the prefix `vkm`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            messages: Family::default(),
            message_bytes: Family::default(),
            malformed: Counter::default(),
            penalties: Counter::default(),
            rate_limited: Counter::default(),
            denied: Counter::default(),
            refused: Family::default(),
            delay: Histogram::new(exponential_buckets(0.05, 2.0, 12)),
            height: Gauge::default(),
            peers: Gauge::default(),
            mempool: Gauge::default(),
            admitted: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("vkm");
        r.register(
            "messages",
            "Messages between managers, by direction and kind",
            metrics.messages.clone(),
        );
        r.register(
            "message_bytes",
            "Payload bytes between managers, by direction and kind",
            metrics.message_bytes.clone(),
        );
        r.register(
            "malformed",
            "Inputs that did not decode or came on the wrong topic",
            metrics.malformed.clone(),
        );
        r.register(
            "penalties",
            "Peers blocked for bad input",
            metrics.penalties.clone(),
        );
        r.register(
            "rate_limited",
            "Requests dropped over a peer's rate",
            metrics.rate_limited.clone(),
        );
        r.register(
            "connections_denied",
            "Connections refused (not registered, or blocked)",
            metrics.denied.clone(),
        );
        r.register(
            "refused",
            "What the security manager refused, by reason",
            metrics.refused.clone(),
        );
        r.register(
            "admission_delay_seconds",
            "Crossing-to-admission delay of the vehicles admitted",
            metrics.delay.clone(),
        );
        r.register("height", "Height of the best chain", metrics.height.clone());
        r.register("peers", "Registered peers connected", metrics.peers.clone());
        r.register(
            "mempool",
            "Transactions waiting for a block",
            metrics.mempool.clone(),
        );
        r.register(
            "admitted",
            "Vehicles admitted into the domain",
            metrics.admitted.clone(),
        );
        metrics
    }

    /// Counts a message of `kind` and its bytes, `in` or `out`.
    pub fn message(&self, direction: &'static str, kind: u8, bytes: usize) {
        let labels = MessageLabels {
            direction,
            kind: vkm_node::wire::kind_name(kind),
        };
        self.messages.get_or_create(&labels).inc();
        self.message_bytes
            .get_or_create(&labels)
            .inc_by(bytes as u64);
    }

    /// Counts a refusal.
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&ReasonLabels { reason }).inc();
    }
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
    registry: Registry,
    log: Mutex<Option<std::fs::File>>,
    path: PathBuf,
}

impl Shared {
    /// State for manager `id` whose admissions are recorded in `path` (one JSON line
    /// each), reading those already there (a torn last line is ignored); `metrics` are
    /// registered in `registry`.
    pub fn open(
        id: MemberId,
        path: &Path,
        metrics: Metrics,
        registry: Registry,
    ) -> std::io::Result<Self> {
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
            metrics,
            registry,
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
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.metrics.height.set(gauge(height));
        self.metrics.mempool.set(gauge(mempool as u64));
        self.metrics.admitted.set(gauge(admitted));
        if let Ok(mut s) = self.status.lock() {
            s.height = height;
            s.tip = tip.to_string();
            s.mempool = mempool;
            s.admitted = admitted;
        }
    }

    /// Updates the peer count.
    pub fn set_peers(&self, peers: usize) {
        self.metrics.peers.set(peers as i64);
        if let Ok(mut s) = self.status.lock() {
            s.peers = peers;
        }
    }

    /// A copy of the status.
    pub fn status(&self) -> Status {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Every metric (vkm's, libp2p's bandwidth and gossipsub's) in the OpenMetrics text
    /// format Prometheus reads.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
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
        let open = || {
            let mut registry = Registry::default();
            let metrics = Metrics::register(&mut registry);
            Shared::open(MemberId(1), &path, metrics, registry).unwrap()
        };
        let shared = open();
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
        let shared = open();
        assert_eq!(shared.admissions_after(0, 10).len(), 2);
        shared.record(record("cc")).unwrap();
        let after = shared.admissions_after(1, 10);
        assert_eq!(after.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
        shared.set_chain(4, BlockHash([0; 32]), 0, 3);
        shared.metrics.refused("transfer");
        let text = shared.render_metrics();
        assert!(text.contains("vkm_height 4"), "{text}");
        assert!(
            text.contains("vkm_refused_total{reason=\"transfer\"} 1"),
            "{text}"
        );
        std::fs::remove_file(&path).unwrap();
    }
}
