//! What a simulation measures: per vehicle the delay from crossing to admission, per
//! block its preparation, mining and verification times, per period its transactions;
//! written as CSV, summarised as JSON.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

/// One vehicle's key transfer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TransferRecord {
    /// District it left.
    pub from: usize,
    /// District it entered.
    pub to: usize,
    /// When it crossed, seconds into the run.
    pub crossed_s: f64,
    /// When its keys were admitted at the destination, seconds into the run.
    pub admitted_s: f64,
}

impl TransferRecord {
    /// Delay from crossing to admission, seconds.
    pub fn delay_s(&self) -> f64 {
        self.admitted_s - self.crossed_s
    }
}

/// One block, as its miner and its verifiers saw it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BlockRecord {
    /// Height on the miner's chain.
    pub height: u64,
    /// The miner's district.
    pub miner: usize,
    /// Transactions in it.
    pub transactions: usize,
    /// When the miner started preparing it, seconds into the run.
    pub started_s: f64,
    /// Preparation (candidate, merkle root), seconds.
    pub preparation_s: f64,
    /// Mining (nonce search), seconds.
    pub mining_s: f64,
    /// Mean time a receiving node took to verify and store it, seconds.
    pub verification_s: f64,
}

/// One collection period of one security manager.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PeriodRecord {
    /// The security manager's district.
    pub node: usize,
    /// When the period ended, seconds into the run.
    pub ended_s: f64,
    /// Its length, seconds.
    pub length_s: f64,
    /// Transactions collected.
    pub transactions: u64,
}

/// Everything one run recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Crossings generated.
    pub crossings: u64,
    /// Admitted transfers.
    pub transfers: Vec<TransferRecord>,
    /// Blocks that joined the chain of their miner.
    pub blocks: Vec<BlockRecord>,
    /// Periods (security manager 0's in the blockchain structure).
    pub periods: Vec<PeriodRecord>,
    /// Messages, blocks or admissions refused.
    pub refused: u64,
    /// The same, by kind ([`vkm_node::Refusal::kind`]; `relay_transfer` for the
    /// traditional relays).
    pub refusals: std::collections::BTreeMap<&'static str, u64>,
    /// Mining rounds security manager 0 opened (periods that ended with transactions
    /// pending and no job running).
    pub rounds: u64,
    /// Admissions of a crossing already admitted (the protocol promises none).
    pub admitted_duplicates: u64,
    /// For each restart of a crashed manager, how long it took to reach the height the
    /// others had when it came back, seconds.
    pub catch_ups_s: Vec<f64>,
    /// Messages between security managers that arrived (duplicates included).
    pub messages: u64,
    /// Their bytes ([`vkm_node::Message::encoded_len`]).
    pub message_bytes: u64,
    /// What the vehicles measured (blockchain structure, measured mode).
    pub vehicles: vkm_runtime::FleetStats,
}

/// A security manager at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeEnd {
    /// Its id.
    pub id: u32,
    /// Whether it was running (not crashed).
    pub up: bool,
    /// Height of its best chain (when up).
    pub height: Option<u64>,
    /// Its tip (when up).
    pub tip: Option<String>,
}

/// One node's load at the end of a run: what says whether it kept up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NodeLoad {
    /// The node's index: districts (their security managers, or their RSU-facing node in
    /// the traditional structures) first, then the structure's other nodes.
    pub node: usize,
    /// Its CPU share: busy time within the run plus work booked past the end (counted
    /// up to one run's length) over simulated time; at or above 1 when it did not keep up.
    pub cpu_share: f64,
    /// Inputs still waiting for its CPU at the end.
    pub queued_inputs: u64,
    /// Work booked past the end of the run, seconds.
    pub booked_past_s: f64,
    /// Crossings into its district (0 for a node that is no district's).
    pub crossings_in: u64,
    /// Of those, the ones whose transfer its district had not admitted at the end.
    pub not_admitted_in: u64,
}

impl NodeLoad {
    /// Whether it fell behind: inputs still waiting, or more booked past the end than
    /// `period_s` (a collection period).
    pub fn behind(&self, period_s: f64) -> bool {
        self.queued_inputs > 0 || self.booked_past_s > period_s
    }
}

/// The JSON summary of a run (`vkm simulate --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// `measured` or `model`.
    pub mode: String,
    /// Structure name.
    pub structure: String,
    /// Crossings generated.
    pub crossings: u64,
    /// Key transfers admitted at their destination.
    pub key_transfers: u64,
    /// Blocks on the chain (0 in the traditional structures).
    pub blocks: u64,
    /// Mean delay from crossing to admission, seconds.
    pub delay_s_mean: f64,
    /// Median delay, seconds.
    pub delay_s_p50: f64,
    /// 95th percentile delay, seconds.
    pub delay_s_p95: f64,
    /// Largest delay, seconds.
    pub delay_s_max: f64,
    /// Mean transactions per block.
    pub transactions_per_block: f64,
    /// Refused messages.
    pub refused: u64,
    /// Refusals by kind (`request_stale`, `request_replayed`, `transfer`,
    /// `invalid_block`...): why crossings were lost, when they were.
    pub refusals: std::collections::BTreeMap<String, u64>,
    /// Highest CPU share of a node: its busy time within the run plus the work it had
    /// booked past the end (counted up to one run's length) over simulated time. Below 1
    /// for a node that kept up; at or above 1 for one that did not; always finite.
    pub max_cpu_share: f64,
    /// Crossings whose key transfer was not admitted by the end of the run.
    pub not_admitted: u64,
    /// Crossings not admitted at the end of the run (the same count as `not_admitted`,
    /// named for saturated runs).
    pub backlog: u64,
    /// Inputs (crossings, messages, timers) still waiting for a node's CPU at the end.
    pub backlog_inputs: u64,
    /// The most work a node had booked past the end of the run, seconds.
    pub backlog_s: f64,
    /// The run was overloaded: a node still had inputs waiting at the end, or work booked
    /// past it longer than a collection period, or (without faults) crossings were still
    /// not admitted after the drain (the chain carried fewer transfers than the traffic
    /// made). Its delays describe only what got through.
    pub saturated: bool,
    /// Distinct crossings admitted at their destination.
    pub admitted_unique: u64,
    /// Admissions of a crossing already admitted (must be 0).
    pub admitted_duplicates: u64,
    /// Crossings not admitted when the run ended.
    pub lost: u64,
    /// Key transfers broadcast again by their source (measured mode).
    pub rebroadcasts: u64,
    /// Catching-up requests sent (measured mode).
    pub sync_requests: u64,
    /// Blocks connected from catching-up answers (measured mode).
    pub blocks_synced: u64,
    /// The longest time a restarted manager took to reach the height the others had
    /// when it came back, seconds (0 without crashes).
    pub catch_up_s_max: f64,
    /// Messages between security managers delivered (measured mode; duplicates
    /// included, lost ones not).
    pub messages: u64,
    /// Their bytes in vkm's canonical encoding, before transport framing.
    pub message_bytes: u64,
    /// Whether every running manager's stored chain revalidated from genesis at the end
    /// (only when asked for: `Options::revalidate`).
    pub chains_revalidated: Option<bool>,
    /// Each security manager's height and tip at the end (measured mode, blockchain).
    pub nodes: Vec<NodeEnd>,
    /// Each node's load at the end: which managers kept up and which did not, with their
    /// backlogs and the crossings into their district still not admitted.
    pub node_loads: Vec<NodeLoad>,
    /// Vehicles (on-board units) that took part (measured mode, blockchain).
    pub vehicles: u64,
    /// Vehicles that joined the group of the district they started in.
    pub vehicles_enrolled: u64,
    /// Crossings after which the vehicle held its new domain's group key.
    pub welcomes_delivered: u64,
    /// Crossings after which the vehicle crossed on before it was welcomed.
    pub welcomes_superseded: u64,
    /// Crossings still awaiting their welcome at the end.
    pub welcomes_awaited: u64,
    /// Median delay from the signed crossing request to the vehicle holding the
    /// destination's current group key, seconds.
    pub welcome_delay_s_p50: f64,
    /// Its 95th percentile, seconds.
    pub welcome_delay_s_p95: f64,
    /// BSMs of their own domain's current epoch that members read (one probe BSM per
    /// rekey and district, read by every other member there).
    pub bsms_opened: u64,
    /// BSMs of their own domain's current epoch that members could not read (0 without
    /// faults).
    pub bsms_failed: u64,
    /// Rekey broadcasts of the domains.
    pub rekeys: u64,
    /// Their bytes (rekey messages and sealed welcomes, vkm's encoding).
    pub rekey_bytes: u64,
    /// Rekey bytes per domain and simulated second.
    pub rekey_bytes_per_domain_s: f64,
    /// What a vehicle spent signing a crossing request, mean, microseconds (measured).
    pub vehicle_request_us_mean: f64,
    /// What a vehicle spent joining (opening its welcome, unwrapping the rekey), mean,
    /// microseconds (measured).
    pub vehicle_join_us_mean: f64,
    /// Wall-clock time of the run, seconds.
    pub wall_seconds: f64,
    /// Virtual time simulated, seconds.
    pub simulated_seconds: f64,
    /// Simulated seconds per wall-clock second.
    pub speed_vs_real_time: f64,
}

/// The value at quantile `p` of sorted samples (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p.clamp(0.0, 1.0)).round() as usize;
    sorted[index]
}

/// Mean, p50, p95 and max of `values` (zeros when empty).
pub fn delay_stats(values: &mut [f64]) -> [f64; 4] {
    if values.is_empty() {
        return [0.0; 4];
    }
    values.sort_by(f64::total_cmp);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    [
        mean,
        percentile(values, 0.5),
        percentile(values, 0.95),
        values[values.len() - 1],
    ]
}

fn write_csv<T: Serialize>(path: &Path, header: &str, rows: &[T]) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(file, "{header}")?;
    let columns: Vec<&str> = header.split(',').collect();
    for row in rows {
        let value = serde_json::to_value(row).map_err(std::io::Error::other)?;
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match &value[*c] {
                serde_json::Value::Number(n) => n.to_string(),
                other => other.to_string(),
            })
            .collect();
        writeln!(file, "{}", cells.join(","))?;
    }
    file.flush()
}

impl Metrics {
    /// Writes `transfers.csv`, `blocks.csv` and `periods.csv` into `dir`.
    pub fn write_csv(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        write_csv(
            &dir.join("transfers.csv"),
            "from,to,crossed_s,admitted_s",
            &self.transfers,
        )?;
        write_csv(
            &dir.join("blocks.csv"),
            "height,miner,transactions,started_s,preparation_s,mining_s,verification_s",
            &self.blocks,
        )?;
        write_csv(
            &dir.join("periods.csv"),
            "node,ended_s,length_s,transactions",
            &self.periods,
        )
    }

    /// The delays of every admitted transfer, seconds, sorted.
    pub fn sorted_delays(&self) -> Vec<f64> {
        let mut delays: Vec<f64> = self.transfers.iter().map(TransferRecord::delay_s).collect();
        delays.sort_by(f64::total_cmp);
        delays
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_delays() {
        let mut v = vec![3.0, 1.0, 2.0, 4.0];
        let [mean, p50, p95, max] = delay_stats(&mut v);
        assert_eq!((mean, max), (2.5, 4.0));
        assert_eq!(p50, 3.0); // nearest rank of index 1.5
        assert_eq!(p95, 4.0);
        assert_eq!(delay_stats(&mut []), [0.0; 4]);
    }

    #[test]
    fn csv_files_have_a_header_and_one_line_per_record() {
        let dir = std::env::temp_dir().join(format!("vkm-sim-csv-{}", std::process::id()));
        let metrics = Metrics {
            transfers: vec![TransferRecord {
                from: 0,
                to: 1,
                crossed_s: 0.25,
                admitted_s: 1.5,
            }],
            ..Metrics::default()
        };
        metrics.write_csv(&dir).unwrap();
        let text = std::fs::read_to_string(dir.join("transfers.csv")).unwrap();
        assert_eq!(text, "from,to,crossed_s,admitted_s\n0,1,0.25,1.5\n");
        let blocks = std::fs::read_to_string(dir.join("blocks.csv")).unwrap();
        assert_eq!(blocks.lines().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
