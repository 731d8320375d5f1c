//! `vkm`: the command-line tool of the vkm workspace.
//!
//! Every command prints a one-line human summary, or with `--json` one JSON object on
//! stdout (a contract other tools read: fields are only ever added). Errors go to stderr
//! as one line, with a non-zero exit code.

#![forbid(unsafe_code)]

mod attack;
mod bench;
mod bench_crypto;
mod bench_sim;
mod bench_testnet;
mod calibrate;
mod cert;
mod chain;
mod demo;
mod ecies;
mod files;
mod keygen;
mod mine;
mod negotiate;
mod network;
mod period;
mod plot;
mod rekey;
mod reproduce;
mod script;
mod simulate;
mod testnet;
mod vehicle;
mod verify;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

/// Blockchain-based key management and key negotiation for vehicular networks.
#[derive(Debug, Parser)]
#[command(name = "vkm", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a block of synthetic key-transfer transactions and mine it (Algorithm 1).
    Mine(mine::MineArgs),
    /// Work with encoded blocks.
    #[command(subcommand)]
    Block(BlockCommand),
    /// Measure the building blocks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Generate a member's key pairs (PKCS#8 PEM) and its public entry (JSON).
    Keygen(keygen::KeygenArgs),
    /// IEEE 1609.2 ECIES on hex input.
    #[command(subcommand)]
    Ecies(ecies::EciesCommand),
    /// IEEE 1609.2 / ETSI TS 103 097 certificates: root, issue, show, verify.
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// Key transfer between security domains.
    #[command(subcommand)]
    Transfer(TransferCommand),
    /// Collection-period optimisation (Algorithm 3 and the delay objective).
    #[command(subcommand)]
    Period(period::PeriodCommand),
    /// Measure this machine's time elements (Table III) into a calibration file.
    Calibrate(calibrate::CalibrateArgs),
    /// Run the security managers' network.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Inspect a stored chain.
    #[command(subcommand)]
    Chain(chain::ChainCommand),
    /// The script interpreter (Bitcoin script with OP_EXPONENT).
    #[command(subcommand)]
    Script(script::ScriptCommand),
    /// Group rekeying inside a domain.
    #[command(subcommand)]
    Rekey(rekey::RekeyCommand),
    /// Vehicles end to end: signed crossing requests, sealed welcomes, BSMs.
    #[command(subcommand)]
    Vehicle(vehicle::VehicleCommand),
    /// Alice and Bob negotiate a master key through a local chain (Chen et al.).
    Negotiate(negotiate::NegotiateArgs),
    /// Demonstrate the attacks on the paper's literal key negotiation.
    #[command(subcommand)]
    Attack(attack::AttackCommand),
    /// Discrete-event simulation of the key transfer (virtual time, measured or modelled
    /// costs).
    Simulate(simulate::SimulateArgs),
    /// Regenerate the paper's evaluation (Table IV, Figs. 7-13, delay distribution) as
    /// figures, CSVs and a report.
    Reproduce(reproduce::ReproduceArgs),
    /// SUMO traffic.
    #[command(subcommand)]
    Sumo(simulate::SumoCommand),
    /// One security manager on the peer-to-peer network (libp2p).
    #[command(subcommand)]
    Node(testnet::NodeCommand),
    /// A testnet of security managers on this machine: init, up, traffic.
    #[command(subcommand)]
    Testnet(testnet::TestnetCommand),
}

#[derive(Debug, Subcommand)]
enum NetworkCommand {
    /// The Beijing scenario in real time, in one process; prints a summary.
    Run(network::RunArgs),
}

#[derive(Debug, Subcommand)]
enum TransferCommand {
    /// One vehicle crossing one border with fresh keys, with timings per step.
    Demo(demo::DemoArgs),
}

#[derive(Debug, Subcommand)]
enum BlockCommand {
    /// Decode a block file and run Algorithm 2; exit 0 only when valid.
    Verify {
        /// The encoded block, as written by `vkm mine --out`.
        file: PathBuf,
        /// The chain's genesis block (`vkm chain export --height 0`): also check the
        /// block's difficulty and its miner's signature against the members it registers.
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Nonces per second of the midstate miner against a naive double-SHA256 loop.
    Mining(bench::MiningArgs),
    /// The cryptographic operations of the paper's Table IV, measured here.
    Crypto(bench_crypto::CryptoArgs),
    /// The simulator in measured mode at peak traffic, against real time.
    Sim(bench_sim::SimArgs),
    /// Security managers as node processes on this machine at peak traffic: delay,
    /// CPU per node, bytes per transfer, gossip amplification.
    Testnet(bench_testnet::TestnetArgs),
}

/// A failure to report on one line.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Invalid(String),
}

/// The highest difficulty the commands that mine accept: 2^40 expected hashes (hours on
/// this machine's cores). Higher would run for ever without a word.
const MAX_DIFFICULTY_BITS: u8 = 40;

/// The most worker threads a command starts.
const MAX_THREADS: usize = 256;

/// Refuses a difficulty the machine cannot mine in a run, saying what it would cost.
fn check_difficulty(bits: u8) -> Result<(), CliError> {
    if bits > MAX_DIFFICULTY_BITS {
        return Err(CliError::Invalid(format!(
            "--difficulty-bits {bits} needs 2^{bits} hashes a block on average; at most \
             {MAX_DIFFICULTY_BITS} is accepted (the paper's setting is 10)"
        )));
    }
    Ok(())
}

/// Says up front, on stderr, how long mining one block takes at `bits` when that is more
/// than ten seconds: `2^bits` expected hashes at this machine's rate on `threads` threads,
/// measured on a million nonces.
fn announce_mining_time(bits: u8, threads: usize) {
    let difficulty = vkm_pow::Difficulty::new(bits);
    // A quick look first: no machine does 2^27 hashes a second on one core.
    if difficulty.expected_hashes() < 1e8 {
        return;
    }
    let template = vkm_pow::NonceTemplate::from_prefix(
        &[0u8; vkm_block::BlockHeader::NONCE_OFFSET],
        vkm_pow::Difficulty::new(255),
    );
    let started = std::time::Instant::now();
    let (_, hashes) = template.scan(0..1 << 20);
    let rate = hashes as f64 / started.elapsed().as_secs_f64().max(1e-9) * threads as f64;
    let seconds = difficulty.expected_hashes() / rate;
    if seconds > 10.0 {
        let (value, unit) = if seconds > 2.0 * 3600.0 {
            (seconds / 3600.0, "hours")
        } else if seconds > 120.0 {
            (seconds / 60.0, "minutes")
        } else {
            (seconds, "seconds")
        };
        eprintln!(
            "note: at {bits} bits a block takes 2^{bits} hashes on average: about {value:.1} \
             {unit} at this machine's {:.1} M hashes/s on {threads} threads",
            rate / 1e6
        );
    }
}

/// Refuses more threads than [`MAX_THREADS`].
fn check_threads(threads: usize) -> Result<(), CliError> {
    if threads > MAX_THREADS {
        return Err(CliError::Invalid(format!(
            "--threads {threads}: at most {MAX_THREADS}"
        )));
    }
    Ok(())
}

/// The default thread count: every core the machine offers.
fn all_cores() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// The links between nodes (Table III's tBO and tP), for `vkm network run` and
/// `vkm simulate`.
#[derive(Debug, Args)]
struct LinkArgs {
    /// Mean CSMA back-off per message, ms.
    #[arg(long, default_value_t = 0.5)]
    backoff_ms: f64,
    /// Propagation delay per message, ms.
    #[arg(long, default_value_t = 0.1)]
    propagation_ms: f64,
}

/// The vehicles (on-board units) of `vkm simulate` (measured mode) and `vkm network run`
/// (blockchain structure).
#[derive(Debug, Args)]
struct VehicleArgs {
    /// Vehicles in each district at the start; the traffic moves them.
    #[arg(long, default_value_t = 200)]
    vehicles_per_district: usize,
    /// Radio delay between a vehicle and an RSU, ms.
    #[arg(long, default_value_t = 5.0)]
    radio_delay_ms: f64,
    /// Probability that a radio message between a vehicle and an RSU is lost.
    #[arg(long, default_value_t = 0.0)]
    radio_loss: f64,
}

impl VehicleArgs {
    /// The settings, checked.
    fn checked(&self) -> Result<(usize, f64, f64), CliError> {
        if self.vehicles_per_district > 100_000 {
            return Err(CliError::Invalid(
                "--vehicles-per-district must be at most 100000".into(),
            ));
        }
        if !(self.radio_delay_ms.is_finite() && (0.0..=10_000.0).contains(&self.radio_delay_ms)) {
            return Err(CliError::Invalid(
                "--radio-delay-ms must be 0..=10000".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.radio_loss) {
            return Err(CliError::Invalid("--radio-loss must be within 0..1".into()));
        }
        Ok((
            self.vehicles_per_district,
            self.radio_delay_ms,
            self.radio_loss,
        ))
    }
}

/// Faults injected into the links between security managers and into the managers,
/// for `vkm simulate` (measured mode) and `vkm network run`.
#[derive(Debug, Args, Default)]
struct FaultArgs {
    /// Probability that a message between security managers is lost.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Probability that a message arrives twice.
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    /// Extra delay of each message, uniform up to this, ms (reordering).
    #[arg(long, default_value_t = 0.0)]
    jitter_ms: f64,
    /// Two groups of security managers that cannot reach each other, seconds from the
    /// start of traffic: "1,2,3|4,5,6,7,8,9@START:END" (repeatable).
    #[arg(long)]
    partition: Vec<String>,
    /// A security manager down from START to END, restarting from its store:
    /// "SM@START:END" (repeatable).
    #[arg(long)]
    crash: Vec<String>,
    /// After the traffic, go on until every crossing is admitted (and the managers agree
    /// on one tip) or this many seconds went by.
    #[arg(long)]
    drain: Option<f64>,
}

impl FaultArgs {
    /// Whether any flag was given.
    fn given(&self) -> bool {
        self.loss != 0.0
            || self.duplicate != 0.0
            || self.jitter_ms != 0.0
            || !self.partition.is_empty()
            || !self.crash.is_empty()
            || self.drain.is_some()
    }

    /// The runtime's faults (for `vkm network run`), and the drain.
    fn faults(&self) -> Result<(vkm_runtime::Faults, Option<std::time::Duration>), CliError> {
        let faults = self
            .spec()
            .parse()
            .map_err(|e| CliError::Invalid(e.to_string()))?;
        let drain = match self.drain {
            Some(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => {
                Some(std::time::Duration::from_secs_f64(s))
            }
            Some(s) => {
                return Err(CliError::Invalid(format!(
                    "--drain {s}: must be 0..=86400 seconds"
                )));
            }
            None => None,
        };
        Ok((faults, drain))
    }

    /// The scenario's form (the same keys as in a TOML scenario).
    fn spec(&self) -> vkm_sim::scenario::FaultSpec {
        vkm_sim::scenario::FaultSpec {
            loss: self.loss,
            duplicate: self.duplicate,
            jitter_ms: self.jitter_ms,
            partition: self.partition.clone(),
            crash: self.crash.clone(),
            drain: self.drain,
        }
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(length: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(length);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>24} [{bar:30}] {percent:>3}% {elapsed_precise}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_string());
    bar
}

/// Prints `value` as one JSON object on stdout.
fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mine(args) => mine::run(&args),
        Command::Block(BlockCommand::Verify {
            file,
            genesis,
            json,
        }) => verify::run(&file, genesis.as_deref(), json),
        Command::Bench(BenchCommand::Mining(args)) => bench::run(&args),
        Command::Bench(BenchCommand::Crypto(args)) => bench_crypto::run(&args),
        Command::Bench(BenchCommand::Sim(args)) => bench_sim::run(&args),
        Command::Bench(BenchCommand::Testnet(args)) => bench_testnet::run(&args),
        Command::Keygen(args) => keygen::run(&args),
        Command::Cert(command) => cert::run(command),
        Command::Ecies(command) => ecies::run(&command),
        Command::Transfer(TransferCommand::Demo(args)) => demo::run(&args),
        Command::Period(command) => period::run(&command),
        Command::Calibrate(args) => calibrate::run(&args),
        Command::Network(NetworkCommand::Run(args)) => network::run_command(&args),
        Command::Chain(command) => chain::run(&command),
        Command::Node(command) => testnet::run_node(&command),
        Command::Testnet(command) => testnet::run(&command),
        Command::Script(command) => script::run(&command),
        Command::Rekey(command) => rekey::run(&command),
        Command::Vehicle(vehicle::VehicleCommand::Demo(args)) => vehicle::run(&args),
        Command::Attack(command) => attack::run(&command),
        Command::Negotiate(args) => negotiate::run_command(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Reproduce(args) => reproduce::run(&args),
        Command::Sumo(command) => simulate::run_sumo(&command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}
