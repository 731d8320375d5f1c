//! `vkm node run` and `vkm testnet init|up|traffic`: security managers as separate
//! processes on a peer-to-peer network (`vkm-p2p`), and the RSUs that drive them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use p256::ecdsa::SigningKey;
use p256::pkcs8::DecodePrivateKey;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use vkm_block::{MemberId, Timestamp, serialize};
use vkm_p2p::testnet::{InitOptions, Testnet};
use vkm_period::CrossingEvents;
use vkm_transfer::central::Pseudonym;
use vkm_transfer::crossing::{CrossingRequest, RsuId};

use crate::simulate::PolicyArg;
use crate::{CliError, print_json};

/// `vkm node ...`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Run one security manager on the peer-to-peer network until SIGINT/SIGTERM.
    Run(NodeRunArgs),
}

/// Arguments of `vkm node run`.
#[derive(Debug, Args)]
pub struct NodeRunArgs {
    /// The node's configuration (`node.toml`, as `vkm testnet init` writes it).
    #[arg(long)]
    config: PathBuf,
    /// More addresses to dial (multiaddrs; repeatable).
    #[arg(long)]
    peer: Vec<String>,
}

/// `vkm testnet ...`.
#[derive(Debug, Subcommand)]
pub enum TestnetCommand {
    /// Write a testnet: genesis, keys (PEM) and one node.toml per security manager.
    Init(InitArgs),
    /// Start every node of a testnet as a child process; Ctrl-C stops them all.
    Up(UpArgs),
    /// Act as the RSUs of the Beijing scenario: post crossings to the source managers'
    /// APIs in real time, then collect the admissions from the destinations.
    Traffic(TrafficArgs),
}

/// What a testnet is made of: managers, difficulty, period policy.
#[derive(Debug, Args)]
pub struct ShapeArgs {
    /// Security managers (one per domain, a grid as square as possible).
    #[arg(long, default_value_t = 9)]
    pub sms: u32,
    /// Chain difficulty, leading zero bits (the paper's 10).
    #[arg(long, default_value_t = 10)]
    pub difficulty_bits: u8,
    /// Collection period, seconds (the fixed policy's).
    #[arg(long, default_value_t = 1.0)]
    pub period: f64,
    /// Period policy of every manager.
    #[arg(long, value_enum, default_value_t = PolicyArg::Fixed)]
    pub policy: PolicyArg,
}

impl ShapeArgs {
    /// What `vkm_p2p::testnet::init` writes for these arguments.
    pub fn options(&self, base_port: Option<u16>) -> Result<InitOptions, CliError> {
        crate::check_difficulty(self.difficulty_bits)?;
        Ok(InitOptions {
            sms: self.sms,
            difficulty_bits: self.difficulty_bits,
            policy: self.policy.spec(self.period),
            base_port,
        })
    }
}

/// Arguments of `vkm testnet init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    shape: ShapeArgs,
    /// Folder to write into.
    #[arg(long)]
    out: PathBuf,
    /// First port (node k listens on P+2k, serves its API on P+2k+1); free ports
    /// otherwise.
    #[arg(long)]
    base_port: Option<u16>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Arguments of `vkm testnet up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The testnet's folder.
    #[arg(long)]
    dir: PathBuf,
}

/// Arguments of `vkm testnet traffic`.
#[derive(Debug, Args)]
pub struct TrafficArgs {
    /// The testnet's folder.
    #[arg(long)]
    dir: PathBuf,
    /// Vehicles per hour on each road (Beijing's peak: 15,000).
    #[arg(long, default_value_t = 15_000.0)]
    traffic: f64,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Seed of the crossings' times and roads.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// After the traffic, wait at most this many seconds for the last admissions.
    #[arg(long, default_value_t = 20.0)]
    drain: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `vkm node ...`.
pub fn run_node(command: &NodeCommand) -> Result<ExitCode, CliError> {
    let NodeCommand::Run(args) = command;
    vkm_p2p::init_logging();
    let settings =
        vkm_p2p::NodeSettings::load(&args.config).map_err(|e| CliError::Invalid(e.to_string()))?;
    let peers = args
        .peer
        .iter()
        .map(|p| {
            p.parse::<vkm_p2p::Multiaddr>()
                .map_err(|e| CliError::Invalid(format!("--peer {p:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    vkm_p2p::run(settings, peers).map_err(|e| CliError::Invalid(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `vkm testnet ...`.
pub fn run(command: &TestnetCommand) -> Result<ExitCode, CliError> {
    match command {
        TestnetCommand::Init(args) => init(args),
        TestnetCommand::Up(args) => up(args),
        TestnetCommand::Traffic(args) => {
            let report = traffic(&TrafficOptions {
                dir: args.dir.clone(),
                vehicles_per_hour: args.traffic,
                duration_s: args.duration,
                seed: args.seed,
                drain_s: args.drain,
            })?;
            if args.json {
                print_json(&report.json());
            } else {
                println!("{}", report.line());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init(args: &InitArgs) -> Result<ExitCode, CliError> {
    let testnet = vkm_p2p::testnet::init(&args.out, &args.shape.options(args.base_port)?)
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    if args.json {
        print_json(&json!({
            "nodes": testnet.nodes.iter().map(|n| json!({
                "id": n.id, "config": n.config, "api": n.api, "listen": n.listen,
                "peer_id": n.peer_id,
            })).collect::<Vec<_>>(),
            "genesis": testnet.genesis,
            "rows": testnet.rows, "cols": testnet.cols,
            "difficulty_bits": testnet.difficulty_bits,
        }));
    } else {
        println!(
            "testnet of {} security managers in {} ({}x{} domains): `vkm testnet up --dir {}`",
            testnet.nodes.len(),
            args.out.display(),
            testnet.rows,
            testnet.cols,
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn load(dir: &Path) -> Result<Testnet, CliError> {
    Testnet::load(dir).map_err(|e| CliError::Invalid(e.to_string()))
}

/// Starts node `config` as a child process, its log appended to `log`.
pub fn spawn_node(config: &Path, log: &Path) -> Result<Child, CliError> {
    let exe = std::env::current_exe().map_err(|e| CliError::Io(e.to_string()))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| CliError::Io(format!("{}: {e}", log.display())))?;
    Command::new(exe)
        .args(["node", "run", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .map_err(|e| CliError::Io(format!("starting a node: {e}")))
}

/// Asks a child to stop (SIGTERM), and kills it if it has not within `grace`.
pub fn stop_child(child: &mut Child, grace: Duration) {
    #[cfg(unix)]
    {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    #[cfg(not(unix))]
    let _ = grace;
    let _ = child.kill();
    let _ = child.wait();
}

fn up(args: &UpArgs) -> Result<ExitCode, CliError> {
    let testnet = load(&args.dir)?;
    let mut children = Vec::new();
    for node in &testnet.nodes {
        let log = node.config.with_file_name("node.log");
        children.push((node.id, spawn_node(&node.config, &log)?));
        println!(
            "started SM {} (API {}, log {})",
            node.id,
            node.api,
            log.display()
        );
    }
    println!("{} nodes up; Ctrl-C stops them all", children.len());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io(e.to_string()))?;
    runtime.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let signal = vkm_p2p::shutdown_signal();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                () = &mut signal => break,
                _ = tick.tick() => {
                    for (id, child) in &mut children {
                        if let Ok(Some(status)) = child.try_wait() {
                            eprintln!("SM {id} exited ({status}); see its node.log");
                        }
                    }
                    children.retain_mut(|(_, c)| matches!(c.try_wait(), Ok(None)));
                    if children.is_empty() {
                        break;
                    }
                }
            }
        }
    });
    for (_, child) in &mut children {
        stop_child(child, Duration::from_secs(15));
    }
    println!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Most pseudonyms issued before the traffic starts (about 20 s of issuing here); a
/// longer run issues the rest as its vehicles cross.
const PRE_ISSUED: usize = 100_000;

/// What `vkm testnet traffic` runs.
#[derive(Debug, Clone)]
pub struct TrafficOptions {
    /// The testnet's folder.
    pub dir: PathBuf,
    /// Vehicles per hour per road.
    pub vehicles_per_hour: f64,
    /// Seconds of traffic.
    pub duration_s: f64,
    /// Seed.
    pub seed: u64,
    /// Seconds to wait for the last admissions.
    pub drain_s: f64,
}

/// What `vkm testnet traffic` measured.
#[derive(Debug, Clone, Default)]
pub struct TrafficReport {
    /// Crossings generated.
    pub crossings: u64,
    /// Crossings a source manager accepted (a key transfer made).
    pub accepted: u64,
    /// Posts retried (the source manager down, or not answering).
    pub retries: u64,
    /// Posts refused by a source manager.
    pub refused: u64,
    /// Crossings admitted at their destination at least once.
    pub admitted_unique: u64,
    /// Admissions beyond the first of a crossing.
    pub admitted_duplicates: u64,
    /// Crossings not admitted when the run ended.
    pub lost: u64,
    /// Crossing-to-admission delays, ms, sorted.
    pub delays_ms: Vec<f64>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// CPU this tool used from the first crossing on (signing requests, HTTP), seconds
    /// (Linux): it shares the machine with the nodes.
    pub cpu_s: Option<f64>,
}

impl TrafficReport {
    fn percentile(&self, p: f64) -> f64 {
        if self.delays_ms.is_empty() {
            return 0.0;
        }
        let i = ((self.delays_ms.len() - 1) as f64 * p).round() as usize;
        self.delays_ms[i]
    }

    /// The JSON contract.
    pub fn json(&self) -> Value {
        json!({
            "crossings": self.crossings,
            "accepted": self.accepted,
            "retries": self.retries,
            "refused": self.refused,
            "admitted_unique": self.admitted_unique,
            "admitted_duplicates": self.admitted_duplicates,
            "lost": self.lost,
            "delay_ms_p50": self.percentile(0.5),
            "delay_ms_p95": self.percentile(0.95),
            "delay_ms_max": self.delays_ms.last().copied().unwrap_or(0.0),
            "seconds": self.seconds,
            "rsu_tool_cpu_s": self.cpu_s,
        })
    }

    fn line(&self) -> String {
        format!(
            "{} crossings, {} admitted ({} duplicates, {} lost), delay p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            self.crossings,
            self.admitted_unique,
            self.admitted_duplicates,
            self.lost,
            self.percentile(0.5),
            self.percentile(0.95),
            self.delays_ms.last().copied().unwrap_or(0.0)
        )
    }
}

/// One crossing as the RSUs see it.
struct Crossing {
    /// The vehicle's pseudonym.
    pseudonym: Pseudonym,
    /// Destination node (index).
    to: usize,
    /// The road (its RSU).
    rsu: RsuId,
    /// When it crossed, ms since the Unix epoch.
    at: u64,
    /// When its RSU stops asking a source manager that does not answer (the end of the
    /// traffic and the drain): the crossing is then lost.
    give_up: Instant,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(15)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// GETs `url` as JSON.
pub fn get_json(agent: &ureq::Agent, url: &str) -> Option<Value> {
    let mut response = agent.get(url).call().ok()?;
    if response.status() != 200 {
        return None;
    }
    response.body_mut().read_json::<Value>().ok()
}

/// CPU time a process has used, all its threads, user and system, seconds (Linux:
/// `/proc/PID/stat`, in clock ticks of 1/100 s).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Posts crossings to one source manager, retrying while it is down.
fn rsu_worker(
    api: String,
    ids: Vec<MemberId>,
    queue: Receiver<Crossing>,
    done: Sender<(String, u64, usize, Option<String>, u64, u64)>,
) {
    let agent = agent();
    for crossing in queue {
        let pseudonym_hex = hex::encode(crossing.pseudonym.materials.pseudonym.0);
        let mut retries = 0u64;
        let mut refused = 0u64;
        let txid = loop {
            // Signed when sent: a vehicle whose request went unanswered asks again.
            let request = CrossingRequest::sign(
                &crossing.pseudonym,
                ids[crossing.to],
                crossing.rsu,
                Timestamp::now(),
            );
            let body =
                json!({ "request": hex::encode(serialize(&request)), "rsu": crossing.rsu.0 });
            match agent.post(&format!("{api}/crossings")).send_json(&body) {
                Ok(mut response) if response.status() == 200 => {
                    let value = response.body_mut().read_json::<Value>().unwrap_or_default();
                    break value["txid"].as_str().map(str::to_owned);
                }
                Ok(response) if response.status().is_client_error() => {
                    refused += 1;
                    break None;
                }
                _ if Instant::now() >= crossing.give_up => break None,
                _ => {
                    retries += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        };
        let _ = done.send((
            pseudonym_hex,
            crossing.at,
            crossing.to,
            txid,
            retries,
            refused,
        ));
    }
}

/// Runs the Beijing traffic against a running testnet and collects what it admitted.
pub fn traffic(options: &TrafficOptions) -> Result<TrafficReport, CliError> {
    let v = options.vehicles_per_hour;
    if !(v.is_finite() && (0.0..=1e6).contains(&v)) {
        return Err(CliError::Invalid(
            "--traffic must be within 0..=1000000".into(),
        ));
    }
    for (name, value) in [
        ("--duration", options.duration_s),
        ("--drain", options.drain_s),
    ] {
        if !(value.is_finite() && (0.0..=86_400.0).contains(&value)) {
            return Err(CliError::Invalid(format!(
                "{name} must be within 0..=86400"
            )));
        }
    }
    let testnet = load(&options.dir)?;
    let issuers: Vec<(MemberId, SigningKey)> = testnet
        .central_managers
        .iter()
        .map(|cm| {
            let pem = crate::files::read_secret(&cm.signing_key)?;
            let key = SigningKey::from_pkcs8_pem(&pem).map_err(|_| {
                CliError::Invalid(format!(
                    "{} is not a PKCS#8 PEM P-256 key",
                    cm.signing_key.display()
                ))
            })?;
            Ok((MemberId(cm.id), key))
        })
        .collect::<Result<_, CliError>>()?;
    let domains = u64::from(testnet.rows) * u64::from(testnet.cols);
    if issuers.is_empty()
        || domains != testnet.nodes.len() as u64
        || !(1..=100).contains(&testnet.highways_per_edge)
    {
        return Err(CliError::Invalid(format!(
            "{}: a testnet needs a central manager, one node per domain and 1..=100 highways per edge ({} x {} domains, {} nodes)",
            options.dir.join("testnet.json").display(),
            testnet.rows,
            testnet.cols,
            testnet.nodes.len()
        )));
    }
    let ids: Vec<MemberId> = testnet.nodes.iter().map(|n| MemberId(n.id)).collect();
    let apis: Vec<String> = testnet.nodes.iter().map(|n| n.api.clone()).collect();
    let flows = vkm_runtime::network::grid_flows(&testnet.grid());

    // Admissions, collected from every destination as they happen.
    let seen: Arc<Mutex<HashMap<String, (u64, u64)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (seen, stop, apis) = (seen.clone(), stop.clone(), apis.clone());
        std::thread::spawn(move || {
            let agent = agent();
            let mut cursors = vec![0u64; apis.len()];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (k, api) in apis.iter().enumerate() {
                    let url = format!("{api}/admissions?after={}", cursors[k]);
                    let Some(page) = get_json(&agent, &url) else {
                        continue;
                    };
                    if let Ok(mut seen) = seen.lock() {
                        for record in page["admissions"].as_array().into_iter().flatten() {
                            let pseudonym = record["pseudonym"].as_str().unwrap_or("").to_owned();
                            let admitted_at = record["admitted_at"].as_u64().unwrap_or(0);
                            let entry = seen.entry(pseudonym).or_insert((0, admitted_at));
                            entry.0 += 1;
                        }
                    }
                    cursors[k] = page["next"].as_u64().unwrap_or(cursors[k]);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };

    // One RSU worker per source manager.
    let (done_tx, done_rx) = channel();
    let mut queues = Vec::new();
    let mut workers = Vec::new();
    for api in &apis {
        let (tx, rx) = channel();
        queues.push(tx);
        let (api, ids, done) = (api.clone(), ids.clone(), done_tx.clone());
        workers.push(std::thread::spawn(move || rsu_worker(api, ids, rx, done)));
    }
    drop(done_tx);

    let rate = v * flows.len() as f64 / 3600.0;
    let mut roads = StdRng::seed_from_u64(options.seed ^ 0x7aff1c);
    let mut keys_rng = StdRng::seed_from_u64(options.seed ^ 0x6b657973);
    // The crossings' times and roads, then each vehicle's pseudonym: issued by its
    // domain's central manager before the traffic starts (vehicles hold their
    // certificates in advance), up to PRE_ISSUED of them; beyond, issued as they cross.
    let schedule: Vec<(f64, usize)> = if rate > 0.0 {
        CrossingEvents::new(StdRng::seed_from_u64(options.seed ^ 0xc4055), rate)
            .take_while(|&t| t <= options.duration_s)
            .map(|t| (t, roads.random_range(0..flows.len())))
            .collect()
    } else {
        Vec::new()
    };
    let validity_ms = 24 * 3_600_000 + (options.duration_s * 1000.0) as u64;
    let issued_at = Timestamp::now();
    let mut issue = |from: usize| {
        let (issuer, key) = &issuers[from % issuers.len()];
        Pseudonym::issue(
            *issuer,
            key,
            Timestamp(issued_at.0.saturating_sub(60_000)),
            Timestamp(issued_at.0 + validity_ms),
            &mut keys_rng,
        )
    };
    let mut pseudonyms: std::collections::VecDeque<Pseudonym> = schedule
        .iter()
        .take(PRE_ISSUED)
        .map(|&(_, flow)| issue(flows[flow].0))
        .collect();
    let started = Instant::now();
    let cpu_at_start = cpu_seconds(std::process::id());
    let give_up = started + Duration::from_secs_f64(options.duration_s + options.drain_s);
    let mut crossings = 0u64;
    for &(t, flow) in &schedule {
        let due = started + Duration::from_secs_f64(t);
        let wait = due.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        let (from, to) = flows[flow];
        let pseudonym = match pseudonyms.pop_front() {
            Some(p) => p,
            None => issue(from),
        };
        crossings += 1;
        let _ = queues[from].send(Crossing {
            pseudonym,
            to,
            rsu: RsuId(flow as u32),
            at: Timestamp::now().0,
            give_up,
        });
    }
    drop(queues);
    let mut report = TrafficReport {
        crossings,
        ..TrafficReport::default()
    };
    let mut expected: HashMap<String, u64> = HashMap::new();
    for (pseudonym, at, _to, txid, retries, refused) in done_rx {
        report.retries += retries;
        report.refused += refused;
        if txid.is_some() {
            report.accepted += 1;
            expected.insert(pseudonym, at);
        }
    }
    for worker in workers {
        let _ = worker.join();
    }
    // Drain: until every accepted crossing is admitted, or the time is up.
    let deadline = Instant::now() + Duration::from_secs_f64(options.drain_s);
    loop {
        let all = seen
            .lock()
            .map(|s| expected.keys().all(|p| s.contains_key(p)))
            .unwrap_or(false);
        if all || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // One more round of collection after the last admissions.
    std::thread::sleep(Duration::from_millis(600));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = collector.join();
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    for (pseudonym, at) in &expected {
        match seen.get(pseudonym) {
            Some((count, admitted_at)) => {
                report.admitted_unique += 1;
                report.admitted_duplicates += count - 1;
                report
                    .delays_ms
                    .push(admitted_at.saturating_sub(*at) as f64);
            }
            None => report.lost += 1,
        }
    }
    // Refused posts are crossings that never made it.
    report.lost += report.crossings - report.accepted;
    report.delays_ms.sort_by(f64::total_cmp);
    report.seconds = started.elapsed().as_secs_f64();
    report.cpu_s = cpu_at_start
        .zip(cpu_seconds(std::process::id()))
        .map(|(a, b)| b - a);
    Ok(report)
}
