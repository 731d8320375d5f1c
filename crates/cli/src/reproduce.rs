//! `vkm reproduce`: the evaluation of Lei et al. (section IV) regenerated on this machine:
//! Table IV measured, Figs. 7-13 and the key-delivery delay distribution as PNG, SVG and
//! CSV, and `report.md` with the paper's numbers beside vkm's.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::json;
use vkm_period::{
    Calibration, CollectionPeriod, CostModel, Load, Structure as CostStructure, TimeElements,
    algorithm3, evaluate, transactions_per_flow,
};
use vkm_sim::scenario::{PolicySpec, Traffic, Verification};
use vkm_sim::{Mode, Scenario, Structure, simulate};

use crate::plot::{Axes, Chart, Series, write_chart};
use crate::{CliError, bench_crypto, calibrate, print_json, progress_bar};

/// Which costs the modelled figures use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CalibrationArg {
    /// The paper's Table IV, mining time and Fig. 8.
    Paper,
    /// This machine, measured first.
    Measured,
}

/// Arguments of `vkm reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// Folder for the figures, CSVs and report.md.
    #[arg(long, default_value = "reproduce")]
    out: PathBuf,
    /// Fewer iterations and shorter simulations (under a minute).
    #[arg(long)]
    quick: bool,
    /// Costs of the modelled figures and simulations.
    #[arg(long, value_enum, default_value_t = CalibrationArg::Measured)]
    calibration: CalibrationArg,
    /// Print one JSON object (the files written and the headline numbers).
    #[arg(long)]
    json: bool,
}

/// The paper's Table IV, ms: (operation, paper, vkm's operation name).
const TABLE_IV: [(&str, f64, &str); 4] = [
    ("ECIES encryption (tE)", 0.51027, "ecies_encrypt_us"),
    ("ECIES decryption (tD)", 0.73996, "ecies_decrypt_us"),
    ("ECDSA signing (tS)", 0.51011, "ecdsa_sign_us"),
    (
        "ECDSA verification (tV)",
        1.10171,
        "ecdsa_verify_registered_us",
    ),
];

const TRAFFIC_LEVELS: [f64; 13] = [
    3_000.0, 4_000.0, 5_000.0, 6_000.0, 7_000.0, 8_000.0, 9_000.0, 10_000.0, 11_000.0, 12_000.0,
    13_000.0, 14_000.0, 15_000.0,
];
const PERIODS: [f64; 6] = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
const FLOWS: u32 = 120;

/// The conventional handover of the paper's refs. \[37\]/\[38\] (III.B.1): the traditional
/// structure's hops, plus two handshakes between the foreign and the home agent per
/// transfer, each a full round of signing, encryption, verification and decryption, and
/// their two messages.
fn conventional_s(costs: &TimeElements, structure: CostStructure, n: f64) -> f64 {
    let round = costs.verify_s + costs.decrypt_s + costs.encrypt_s + costs.sign_s;
    let hop = costs.backoff_s + costs.propagation_s;
    costs.processing_s(structure, n) + n * 2.0 * round + 2.0 * hop
}

/// CPU seconds per second of one central manager relaying every transfer of Beijing at
/// peak (500 a second): verify, decrypt, re-encrypt and sign each.
fn relay_load(c: &TimeElements) -> f64 {
    let per_second = 15_000.0 * f64::from(FLOWS) / 3600.0;
    per_second * (c.verify_s + c.decrypt_s + c.encrypt_s + c.sign_s)
}

/// A percentage with one decimal, without a sign on what rounds to zero.
fn percent(value: f64) -> String {
    let text = format!("{value:.1}");
    if text == "-0.0" { "0.0".into() } else { text }
}

/// A period from the constant tables above (all valid).
fn period(seconds: f64) -> CollectionPeriod {
    CollectionPeriod::new(seconds).unwrap_or(CollectionPeriod::ONE_SECOND)
}

fn load(vehicles_per_hour: f64) -> Load {
    Load {
        vehicles_per_hour,
        flows: FLOWS,
        structure: CostStructure::Blockchain,
    }
}

/// Eq. (6) per second for the best period of Algorithm 3 (the dynamic scheme).
fn dynamic_per_second(model: &Calibration, vph: f64) -> Option<f64> {
    let candidates: Vec<CollectionPeriod> = PERIODS.iter().map(|&p| period(p)).collect();
    let best = algorithm3(model, &load(vph), &candidates)?;
    Some(evaluate(model, &load(vph), best).cost_per_second_s)
}

fn scenario(structure: Structure, vph: f64, policy: PolicySpec, duration_s: f64) -> Scenario {
    let mut s = Scenario::beijing_peak(duration_s);
    s.name = format!("{}-{vph}", structure.name());
    s.structure = structure;
    s.traffic = Traffic::Constant {
        vehicles_per_hour: vph,
    };
    s.policy = policy;
    s
}

fn sim(s: &Scenario, mode: Mode, calibration: &Calibration) -> Result<vkm_sim::Run, CliError> {
    simulate(s, mode, calibration, None, &mut |_| {})
        .map_err(|e| CliError::Invalid(format!("simulating {}: {e}", s.name)))
}

/// Sizes of a run: full, or `--quick`.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Iterations of each measured operation.
    iterations: usize,
    /// Runs of each block-preparation measurement.
    prep_runs: usize,
    /// Seconds of traffic in the model-mode simulations.
    sim_s: f64,
    /// Seconds of traffic in the measured-mode simulation.
    measured_s: f64,
    /// Seeds per point of the simulated Figs. 11-13, and seconds of traffic in each run.
    seeds: u64,
    figure_s: f64,
    /// Seconds of traffic in each run of the scaling study.
    scale_s: f64,
}

/// One `vkm reproduce`: where it writes, what it has written, the report so far, and the
/// calibrations (the paper's, this machine's, and the one the modelled figures use).
struct Reproduction<'a> {
    dir: &'a std::path::Path,
    sizes: Sizes,
    report: String,
    files: Vec<String>,
    paper: Calibration,
    measured: Calibration,
    model: Calibration,
}

impl Reproduction<'_> {
    /// Writes `chart` as PNG, SVG and CSV.
    fn chart(&mut self, chart: Chart) -> Result<(), CliError> {
        write_chart(self.dir, &chart)?;
        for ext in ["png", "svg", "csv"] {
            self.files.push(format!("{}.{ext}", chart.stem));
        }
        Ok(())
    }

    /// Table IV: vkm's operations measured beside the paper's.
    fn table_iv(&mut self, crypto: &bench_crypto::CryptoMedians) -> Result<(), CliError> {
        let (model, iterations) = (self.model.clone(), self.sizes.iterations);
        let mut table = String::from("operation,paper_ms,vkm_ms,paper_over_vkm\n");
        writeln!(
            self.report,
            "# vkm reproduce: Lei et al. 2017, section IV, on this machine\n\n\
             Calibration of the modelled figures and simulations: **{}** ({}).\n\
             Every figure is a PNG and an SVG with the CSV it was drawn from. Dashed lines are the \
             paper's values (its calibration, `crates/period/calibrations/paper.json`).\n\n\
             ## Table IV: cryptographic operations\n\n\
             | operation | paper (Crypto++, secp160r1, Core i5) | vkm here (P-256) | paper / vkm |\n| --- | ---: | ---: | ---: |",
            model.name, model.source
        )
        .ok();
        for (name, paper_ms, op) in TABLE_IV {
            let vkm_ms = crypto.get(op) / 1000.0;
            writeln!(table, "{name},{paper_ms},{vkm_ms},{}", paper_ms / vkm_ms).ok();
            writeln!(
                self.report,
                "| {name} | {paper_ms:.3} ms | {vkm_ms:.3} ms | {:.1}x |",
                paper_ms / vkm_ms
            )
            .ok();
        }
        std::fs::write(self.dir.join("table_iv.csv"), table)
            .map_err(|e| CliError::Io(format!("cannot write table_iv.csv: {e}")))?;
        self.files.push("table_iv.csv".into());
        writeln!(
            self.report,
            "\nvkm's numbers are medians of {iterations} runs of its own code: IEEE 1609.2 ECIES and \
             low-S ECDSA on P-256 (128-bit security) where the paper used secp160r1 (80-bit), and \
             verification with precomputed tables of registered keys. The CPU differs too, so \
             the ratio is of implementations and machines together, not of algorithms.\n"
        )
        .ok();
        Ok(())
    }

    /// Fig. 7: each operation's cost for 0-200 transactions.
    fn fig07(&mut self) -> Result<(), CliError> {
        let paper = self.paper.clone();
        let measured = self.measured.clone();
        // Fig. 7: cost of each operation for 0-200 transactions.
        let ops = |c: &TimeElements| {
            [
                ("encryption", c.encrypt_s),
                ("decryption", c.decrypt_s),
                ("signing", c.sign_s),
                ("verification", c.verify_s),
            ]
        };
        let ns: Vec<f64> = (0..=20).map(|i| f64::from(i) * 10.0).collect();
        let mut series = Vec::new();
        for (name, t) in ops(&measured.elements) {
            series.push(Series::new(
                format!("{name} (vkm)"),
                ns.iter().map(|&n| (n, n * t * 1000.0)).collect(),
            ));
        }
        for (name, t) in ops(&paper.elements) {
            series.push(Series::dashed(
                format!("{name} (paper)"),
                ns.iter().map(|&n| (n, n * t * 1000.0)).collect(),
            ));
        }
        self.chart(Chart {
            stem: "fig07_operation_costs",
            title: "Fig. 7: cost of each operation",
            x_label: "transactions",
            y_label: "time (ms)",
            series,
            log: Axes::LINEAR,
        })?;
        let at200 = |t: f64| t * 200.0 * 1000.0;
        writeln!(
            self.report,
            "## Fig. 7: cost of each operation, 0-200 transactions\n\n\
             Linear in the number of transactions, as in the paper. At 200 transactions: \
             verification {:.1} ms here against {:.1} ms in the paper, decryption {:.1} ms against {:.1} ms.\n",
            at200(measured.elements.verify_s),
            at200(paper.elements.verify_s),
            at200(measured.elements.decrypt_s),
            at200(paper.elements.decrypt_s)
        )
        .ok();
        Ok(())
    }

    /// Fig. 8: block preparation, measured, up to 1,000 transactions.
    fn fig08(&mut self) -> Result<(), CliError> {
        let paper = self.paper.clone();
        let prep_runs = self.sizes.prep_runs;
        // Fig. 8: block preparation, measured, up to 1,000 transactions.
        let sizes: Vec<usize> = (1..=10).map(|i| i * 100).collect();
        let prep: Vec<(f64, f64)> = sizes
            .iter()
            .map(|&n| (n as f64, calibrate::prep_seconds(n, prep_runs) * 1000.0))
            .collect();
        let paper_prep: Vec<(f64, f64)> = (0..=20)
            .map(|i| {
                let n = f64::from(i) * 50.0;
                (n, paper.elements.prep.seconds(n) * 1000.0)
            })
            .collect();
        let prep_1000 = prep.last().map_or(0.0, |p| p.1);
        self.chart(Chart {
            stem: "fig08_block_preparation",
            title: "Fig. 8: block preparation time",
            x_label: "transactions",
            y_label: "time (ms)",
            series: vec![
                Series::new("vkm, measured", prep),
                Series::dashed("paper (fit of Fig. 8)", paper_prep),
            ],
            log: Axes::LOG_Y,
        })?;
        writeln!(
            self.report,
            "## Fig. 8: block preparation, up to 1,000 transactions\n\n\
             Paper: 0.10 s at 400 transactions and 0.95 s at 1,000, growing exponentially (it \
             blames the random ordering). vkm: {prep_1000:.2} ms at 1,000, linear: a Fisher-Yates \
             shuffle, leaf hashes, the merkle root and the header are all linear in the number of \
             transactions (`docs/deviations.md`).\n"
        )
        .ok();
        Ok(())
    }

    /// Fig. 9: key transfer time against transactions; returns the blockchain's for 500.
    fn fig09(&mut self) -> Result<f64, CliError> {
        let paper = self.paper.clone();
        let model = self.model.clone();
        // Fig. 9: key transfer time against transactions, structures and the conventional scheme.
        let ns: Vec<f64> = (0..=40).map(|i| f64::from(i) * 50.0).collect();
        let c = &model.elements;
        let curve = |f: &dyn Fn(f64) -> f64| -> Vec<(f64, f64)> {
            ns.iter()
                .map(|&n| (n, if n == 0.0 { 0.0 } else { f(n) }))
                .collect()
        };
        for (stem, title, structure) in [
            (
                "fig09a_same_domain",
                "Fig. 9(a): key transfer within one security division",
                CostStructure::SameDomain,
            ),
            (
                "fig09b_cross_domain",
                "Fig. 9(b): key transfer across security divisions",
                CostStructure::CrossDomain,
            ),
        ] {
            self.chart(Chart {
                stem,
                title,
                x_label: "transactions",
                y_label: "time (s)",
                series: vec![
                    Series::new(
                        "blockchain",
                        curve(&|n| c.processing_s(CostStructure::Blockchain, n)),
                    )
                    .colored(0),
                    Series::new("traditional", curve(&|n| c.processing_s(structure, n))).colored(1),
                    Series::new(
                        "conventional [37][38]",
                        curve(&|n| conventional_s(c, structure, n)),
                    )
                    .colored(2),
                    Series::dashed(
                        "blockchain (paper costs)",
                        curve(&|n| paper.elements.processing_s(CostStructure::Blockchain, n)),
                    )
                    .colored(0),
                    Series::dashed(
                        "traditional (paper costs)",
                        curve(&|n| paper.elements.processing_s(structure, n)),
                    )
                    .colored(1),
                    Series::dashed(
                        "conventional (paper costs)",
                        curve(&|n| conventional_s(&paper.elements, structure, n)),
                    )
                    .colored(2),
                ],
                log: Axes::LOG_Y,
            })?;
        }
        let chain500 = c.processing_s(CostStructure::Blockchain, 500.0);
        let same500 = c.processing_s(CostStructure::SameDomain, 500.0);
        let paper_chain500 = paper
            .elements
            .processing_s(CostStructure::Blockchain, 500.0);
        let cross_10s = ns
            .iter()
            .find(|&&n| c.processing_s(CostStructure::CrossDomain, n) > 10.0)
            .map_or("does not pass 10 s up to 2,000".to_string(), |n| {
                format!("passes 10 s at {n:.0}")
            });
        writeln!(
            self.report,
            "## Fig. 9: key transfer time, blockchain against the traditional structure\n\n\
             Eqs. (2)-(4) with the {} costs. Paper: about 0.8 s for 500 transactions in the \
             blockchain, nearly double in the traditional structure, the conventional scheme more \
             than triple; the cross-domain traditional structure passes 10 s at 1,750 \
             transactions. vkm: {chain500:.3} s for 500 in the blockchain ({paper_chain500:.3} s \
             with the paper's costs), {same500:.3} s traditional; cross-domain {cross_10s} \
             transactions. With vkm's linear block preparation the blockchain curve does not turn \
             up near 1,500 transactions as the paper's does. The conventional scheme of refs. \
             [37]/[38] (III.B.1) is modelled as the traditional hops plus two foreign-agent/home-agent \
             handshakes per transfer, each a full sign-encrypt-verify-decrypt round.\n",
            model.name
        )
        .ok();
        Ok(chain500)
    }

    /// Fig. 10: transactions per period and flow, Eq. (1) and simulated.
    fn fig10(&mut self) -> Result<(), CliError> {
        let model = self.model.clone();
        let sim_s = self.sizes.sim_s;
        // Fig. 10: transactions per period and flow, Eq. (1) and simulated.
        let mut series = Vec::new();
        let mut simulated_points = Vec::new();
        for &p in &PERIODS {
            series.push(Series::new(
                format!("{p:.1} s (Eq. 1)"),
                TRAFFIC_LEVELS
                    .iter()
                    .map(|&v| (v, transactions_per_flow(v, period(p))))
                    .collect(),
            ));
        }
        for &p in &[0.5, 1.0] {
            let mut points = Vec::new();
            for &v in &[3_000.0, 9_000.0, 15_000.0] {
                let s = scenario(
                    Structure::Blockchain,
                    v,
                    PolicySpec::Fixed { period_s: p },
                    sim_s.min(60.0),
                );
                let run = sim(&s, Mode::Model, &model)?;
                let periods = &run.metrics.periods;
                // Skip the first period (it starts mid-way) and the drain.
                let full: Vec<f64> = periods
                    .iter()
                    .filter(|r| r.ended_s > p + 0.01 && r.ended_s <= s.duration_s)
                    .map(|r| r.transactions as f64 / f64::from(FLOWS))
                    .collect();
                let mean = full.iter().sum::<f64>() / full.len().max(1) as f64;
                points.push((v, mean));
                simulated_points.push((p, v, mean));
            }
            series.push(Series::dashed(format!("{p:.1} s (simulated)"), points));
        }
        self.chart(Chart {
            stem: "fig10_transactions_per_period",
            title: "Fig. 10: transactions per period and flow",
            x_label: "traffic (vehicles/hour/flow)",
            y_label: "transactions",
            series,
            log: Axes::LINEAR,
        })?;
        let sim_peak = simulated_points
            .iter()
            .find(|(p, v, _)| *p == 1.0 && *v == 15_000.0)
            .map_or(0.0, |x| x.2);
        writeln!(
            self.report,
            "## Fig. 10: transactions per period and flow\n\n\
             Paper: 4.2 at 15,000 vehicles/hour with a 1 s period, 3.3 at 12,000. Eq. (1) gives \
             {:.2} and {:.2}; the simulator counted {sim_peak:.2} per flow and period at 15,000 \
             (Poisson crossings over the 120 flows, {}-second runs).\n",
            transactions_per_flow(15_000.0, period(1.0)),
            transactions_per_flow(12_000.0, period(1.0)),
            sim_s.min(60.0)
        )
        .ok();
        Ok(())
    }

    /// Figs. 11-13: the collection period and the dynamic scheme, from model-mode
    /// simulations (several seeds per point, drawn with their spread) beside Eq. (4)/(6).
    fn figs11_to_13(&mut self) -> Result<(), CliError> {
        let model = self.model.clone();
        let (window, seeds) = (self.sizes.figure_s, self.sizes.seeds);
        let c = model.elements;
        let hop = c.backoff_s + c.propagation_s;
        // One point: each seed's processing per second (Eq. 6's quantity: the blocks'
        // tB = n tV + 2 hops + tprep + tM summed over the traffic window, divided by it)
        // and mean processing per period (Eq. 4's).
        let point = |policy: &PolicySpec, vph: f64| -> Result<Vec<(f64, f64)>, CliError> {
            (1..=seeds)
                .map(|seed| {
                    let mut s = scenario(Structure::Blockchain, vph, policy.clone(), window);
                    s.seed = seed;
                    let run = sim(&s, Mode::Model, &model)?;
                    let blocks: Vec<f64> = run
                        .metrics
                        .blocks
                        .iter()
                        .filter(|b| b.started_s <= window)
                        .map(|b| {
                            b.transactions as f64 * c.verify_s
                                + 2.0 * hop
                                + b.preparation_s
                                + b.mining_s
                        })
                        .collect();
                    let total: f64 = blocks.iter().sum();
                    Ok((total / window, total / blocks.len().max(1) as f64))
                })
                .collect()
        };
        let stats = |values: &[f64]| -> (f64, f64, f64) {
            let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (mean, lo, hi)
        };
        let candidates = PolicySpec::Algorithm3 {
            candidates_s: PERIODS.to_vec(),
        };
        // runs[period index or PERIODS.len() for the dynamic scheme][traffic level] = seeds.
        let mut runs: Vec<Vec<Vec<(f64, f64)>>> = Vec::new();
        for policy in PERIODS
            .iter()
            .map(|&p| PolicySpec::Fixed { period_s: p })
            .chain([candidates])
        {
            let row: Result<Vec<_>, CliError> =
                TRAFFIC_LEVELS.iter().map(|&v| point(&policy, v)).collect();
            runs.push(row?);
        }
        let dynamic_index = PERIODS.len();
        let line = |name: String, values: Vec<(f64, (f64, f64, f64))>| {
            Series::new(name, values.iter().map(|&(x, (m, _, _))| (x, m)).collect())
                .with_spread(values.iter().map(|&(x, (_, lo, hi))| (x, lo, hi)).collect())
        };
        let per_second =
            |i: usize, j: usize| -> Vec<f64> { runs[i][j].iter().map(|r| r.0).collect() };
        let per_period =
            |i: usize, j: usize| -> Vec<f64> { runs[i][j].iter().map(|r| r.1).collect() };

        // Fig. 11: processing per period against the period, five traffic levels.
        let shown = [0usize, 3, 6, 9, 12]; // 3,000 to 15,000 vehicles/hour
        let mut series = Vec::new();
        for (k, &j) in shown.iter().enumerate() {
            let v = TRAFFIC_LEVELS[j];
            series.push(
                line(
                    format!("{v:.0} veh/h (simulated)"),
                    PERIODS
                        .iter()
                        .enumerate()
                        .map(|(i, &p)| (p, stats(&per_period(i, j))))
                        .collect(),
                )
                .colored(k),
            );
            series.push(
                Series::dashed(
                    format!("{v:.0} veh/h (Eq. 4)"),
                    PERIODS
                        .iter()
                        .map(|&p| (p, evaluate(&model, &load(v), period(p)).processing_s))
                        .collect(),
                )
                .colored(k),
            );
        }
        self.chart(Chart {
            stem: "fig11_transfer_time_vs_period",
            title: "Fig. 11: key transfer time per period",
            x_label: "collection period (s)",
            y_label: "time per period (s)",
            series,
            log: Axes::LINEAR,
        })?;
        let peak = TRAFFIC_LEVELS.len() - 1;
        let ratio_peak =
            stats(&per_period(PERIODS.len() - 1, peak)).0 / stats(&per_period(0, peak)).0;

        // Fig. 12: per-second key transfer time, fixed periods and the dynamic scheme.
        let fixed: Vec<Series> = PERIODS
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                line(
                    format!("{p:.1} s"),
                    TRAFFIC_LEVELS
                        .iter()
                        .enumerate()
                        .map(|(j, &v)| (v, stats(&per_second(i, j))))
                        .collect(),
                )
            })
            .collect();
        let equation = |p: f64| -> Vec<(f64, f64)> {
            TRAFFIC_LEVELS
                .iter()
                .map(|&v| (v, evaluate(&model, &load(v), period(p)).cost_per_second_s))
                .collect()
        };
        let mut fig12a = fixed.clone();
        for (i, p) in [(0, 0.5), (PERIODS.len() - 1, 1.0)] {
            fig12a.push(Series::dashed(format!("{p:.1} s (Eq. 6)"), equation(p)).colored(i));
        }
        self.chart(Chart {
            stem: "fig12a_per_second_fixed",
            title: "Fig. 12(a): key transfer time per second, fixed periods (simulated)",
            x_label: "traffic (vehicles/hour/flow)",
            y_label: "time per second (s)",
            series: fig12a,
            log: Axes::FIT_Y,
        })?;
        let dynamic = line(
            "dynamic (Algorithm 3, simulated)".into(),
            TRAFFIC_LEVELS
                .iter()
                .enumerate()
                .map(|(j, &v)| (v, stats(&per_second(dynamic_index, j))))
                .collect(),
        );
        let dynamic_eq: Vec<(f64, f64)> = TRAFFIC_LEVELS
            .iter()
            .filter_map(|&v| dynamic_per_second(&model, v).map(|d| (v, d)))
            .collect();
        let mut fig12b = vec![
            fixed[0].clone().colored(0),
            fixed[PERIODS.len() - 1].clone().colored(1),
            dynamic.colored(2),
        ];
        fig12b.push(Series::dashed("dynamic (Eq. 6)", dynamic_eq).colored(2));
        self.chart(Chart {
            stem: "fig12b_per_second_dynamic",
            title: "Fig. 12(b): the dynamic period against fixed ones (simulated)",
            x_label: "traffic (vehicles/hour/flow)",
            y_label: "time per second (s)",
            series: fig12b,
            log: Axes::FIT_Y,
        })?;

        // Fig. 13: decrease of the dynamic scheme against each fixed period, per seed (the
        // same traffic for both), mean and spread.
        let series: Vec<Series> = PERIODS
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                line(
                    format!("vs {p:.1} s"),
                    TRAFFIC_LEVELS
                        .iter()
                        .enumerate()
                        .map(|(j, &v)| {
                            let decrease: Vec<f64> = per_second(i, j)
                                .iter()
                                .zip(per_second(dynamic_index, j))
                                .map(|(fixed, d)| 100.0 * (fixed - d) / fixed)
                                .collect();
                            (v, stats(&decrease))
                        })
                        .collect(),
                )
            })
            .collect();
        let decrease_peak_1s = series
            .last()
            .and_then(|s| s.points.last())
            .map_or(0.0, |p| p.1);
        self.chart(Chart {
            stem: "fig13_decrease_percent",
            title: "Fig. 13: decrease of the dynamic scheme against each fixed period (simulated)",
            x_label: "traffic (vehicles/hour/flow)",
            y_label: "decrease (%)",
            series,
            log: Axes::LINEAR,
        })?;
        let chosen = |v: f64| {
            let candidates: Vec<CollectionPeriod> = PERIODS.iter().map(|&p| period(p)).collect();
            algorithm3(&model, &load(v), &candidates).map_or(f64::NAN, |p| p.seconds())
        };
        let eq_decrease = {
            let fixed = evaluate(&model, &load(15_000.0), period(1.0)).cost_per_second_s;
            dynamic_per_second(&model, 15_000.0).map_or(f64::NAN, |d| 100.0 * (fixed - d) / fixed)
        };
        writeln!(
            self.report,
            "## Figs. 11-13: collection periods and the dynamic scheme\n\n\
             Simulated as the paper did (it ran OMNeT++ for an hour per point and divided by \
             3,600 s): model-mode runs of {window} s of traffic, {seeds} seeds per point, over the \
             six periods and 13 traffic levels; each block's processing is Eq. (4)'s tB with the \
             simulated number of transactions and the sampled nonce search, summed over the run and \
             divided by its length. Error bars span the seeds; dashed lines are Eqs. (4) and (6) \
             on the cost model. Fig. 11: at 15,000 vehicles/hour a 1.0 s period costs \
             {ratio_peak:.2}x the processing of a 0.5 s one (the paper: a marked rise above 0.8 s). \
             Algorithm 3 picks {:.1} s at 3,000 vehicles/hour and {:.1} s at 15,000 (the paper: \
             longer periods at light traffic, shorter at heavy). At 15,000 the simulated dynamic \
             scheme saves {} % against a fixed 1.0 s period ({} % by Eq. (6); the paper: more \
             than 10 %).\n",
            chosen(3_000.0),
            chosen(15_000.0),
            percent(decrease_peak_1s),
            percent(eq_decrease)
        )
        .ok();
        if eq_decrease < 1.0 {
            writeln!(
                self.report,
                "With these costs the longest period is best at every traffic level: block \
                 preparation is linear, so a longer period only amortises the fixed costs (mining, \
                 messages) over more transactions, and Eq. (6) falls with the period. The paper's \
                 exponential preparation time is what makes short periods win at peak; \
                 `vkm reproduce --calibration paper` shows that case.\n"
            )
            .ok();
        }
        Ok(())
    }

    /// Beyond the paper: key delivery delay per structure and policy.
    fn delay_distribution(&mut self) -> Result<(), CliError> {
        let model = self.model.clone();
        let sim_s = self.sizes.sim_s;
        // Beyond the paper: key delivery delay per structure and policy.
        let policies = [
            ("fixed 0.5 s", PolicySpec::Fixed { period_s: 0.5 }),
            ("fixed 1.0 s", PolicySpec::Fixed { period_s: 1.0 }),
            (
                "Algorithm 3",
                PolicySpec::Algorithm3 {
                    candidates_s: PERIODS.to_vec(),
                },
            ),
            (
                "adaptive",
                PolicySpec::Adaptive {
                    candidates_s: PERIODS.to_vec(),
                    time_constant_s: 10.0,
                },
            ),
        ];
        let mut rows = String::from(
            "structure,policy,traffic,crossings,admitted,delay_s_mean,delay_s_p50,delay_s_p95,delay_s_max\n",
        );
        writeln!(
            self.report,
            "## Beyond the paper: key delivery delay (crossing to admission)\n\n\
             Simulated ({} s of traffic each, model mode, {} costs): every node a CPU with a queue, \
             CSMA back-off and propagation per message.\n\n\
             | structure | policy | traffic | admitted / crossings | mean | p95 |\n| --- | --- | ---: | ---: | ---: | ---: |",
            sim_s, model.name
        )
        .ok();
        let mut cdf = Vec::new();
        for &v in &[3_000.0, 15_000.0] {
            let mut configs: Vec<(Structure, &str, PolicySpec)> = policies
                .iter()
                .map(|(name, p)| (Structure::Blockchain, *name, p.clone()))
                .collect();
            for structure in [Structure::SameDomain, Structure::CrossDomain] {
                configs.push((structure, "none", PolicySpec::Fixed { period_s: 1.0 }));
            }
            for (structure, name, policy) in configs {
                let s = scenario(structure, v, policy, sim_s);
                let run = sim(&s, Mode::Model, &model)?;
                let m = &run.summary;
                writeln!(
                    rows,
                    "{},{name},{v},{},{},{},{},{},{}",
                    structure.name(),
                    m.crossings,
                    m.key_transfers,
                    m.delay_s_mean,
                    m.delay_s_p50,
                    m.delay_s_p95,
                    m.delay_s_max
                )
                .ok();
                writeln!(
                    self.report,
                    "| {} | {name} | {v:.0} | {} / {} | {:.3} s | {:.3} s |",
                    structure.name(),
                    m.key_transfers,
                    m.crossings,
                    m.delay_s_mean,
                    m.delay_s_p95
                )
                .ok();
                if v == 15_000.0 && (name == "fixed 1.0 s" || name == "adaptive" || name == "none")
                {
                    let delays = run.metrics.sorted_delays();
                    let count = delays.len().max(1) as f64;
                    let step = (delays.len() / 200).max(1);
                    let points: Vec<(f64, f64)> = delays
                        .iter()
                        .enumerate()
                        .step_by(step)
                        .filter(|(_, d)| **d <= 3.0)
                        .map(|(i, d)| (*d, (i + 1) as f64 / count))
                        .collect();
                    let label = if name == "none" {
                        structure.name().to_string()
                    } else {
                        format!("blockchain, {name}")
                    };
                    cdf.push(Series::new(label, points));
                }
            }
        }
        std::fs::write(self.dir.join("delay_summary.csv"), rows)
            .map_err(|e| CliError::Io(format!("cannot write delay_summary.csv: {e}")))?;
        self.files.push("delay_summary.csv".into());
        self.chart(Chart {
            stem: "delay_distribution_peak",
            title: "Key delivery delay at 15,000 vehicles/hour (CDF, up to 3 s)",
            x_label: "delay from crossing to admission (s)",
            y_label: "fraction of transfers",
            series: cdf,
            log: Axes::LINEAR,
        })?;
        Ok(())
    }

    /// Beyond the paper: 9 to 400 security managers at the same traffic per road, both
    /// calibrations, every manager checking every transfer (Lei et al.) or only its
    /// destination.
    fn scaling(&mut self) -> Result<(), CliError> {
        let window = self.sizes.scale_s;
        let sides = [3u32, 5, 10, 20];
        let mut rows = String::from(
            "calibration,verification,managers,crossings,admitted,backlog,blocks,delay_s_p95,max_cpu_share,saturated,wall_seconds\n",
        );
        let mut series = Vec::new();
        let mut table = String::new();
        let mut sustained: Vec<(String, u32)> = Vec::new();
        let mut walls = Vec::new();
        for calibration in [self.paper.clone(), self.measured.clone()] {
            for verification in [Verification::Every, Verification::Destination] {
                let mut points = Vec::new();
                let mut largest = 0;
                for side in sides {
                    let mut s = Scenario::beijing_peak(window);
                    s.name = format!("scale-{side}x{side}");
                    s.grid.rows = side;
                    s.grid.cols = side;
                    s.verification = verification;
                    let run = sim(&s, Mode::Model, &calibration)?.summary;
                    let managers = side * side;
                    let share = run.max_cpu_share;
                    writeln!(
                        rows,
                        "{},{},{managers},{},{},{},{},{},{share},{},{}",
                        calibration.name,
                        verification.name(),
                        run.crossings,
                        run.key_transfers,
                        run.backlog,
                        run.blocks,
                        run.delay_s_p95,
                        run.saturated,
                        run.wall_seconds
                    )
                    .ok();
                    writeln!(
                        table,
                        "| {} | {} | {managers} | {} / {} | {} | {:.3} s | {share:.2} | {} |",
                        calibration.name,
                        verification.name(),
                        run.key_transfers,
                        run.crossings,
                        run.blocks,
                        run.delay_s_p95,
                        if run.saturated {
                            "saturated"
                        } else {
                            "keeps up"
                        }
                    )
                    .ok();
                    if !run.saturated && run.backlog == 0 {
                        largest = largest.max(managers);
                    }
                    walls.push((managers, run.wall_seconds));
                    points.push((f64::from(managers), share.max(1e-4)));
                }
                let label = format!("{}, {} verifies", calibration.name, verification.name());
                sustained.push((label.clone(), largest));
                series.push(Series::new(label, points));
            }
        }
        series.push(Series::dashed(
            "one CPU (share 1)",
            sides
                .iter()
                .map(|&side| (f64::from(side * side), 1.0))
                .collect(),
        ));
        let chart = Chart {
            stem: "scaling",
            title: "Scale: CPU share of the busiest security manager at peak",
            x_label: "security managers",
            y_label: "CPU share (1 = saturated)",
            series,
            log: Axes::LOG_XY,
        };
        write_chart(self.dir, &chart)?;
        // The study's own table replaces the chart's CSV (it holds every column).
        std::fs::write(self.dir.join("scaling.csv"), rows)
            .map_err(|e| CliError::Io(format!("cannot write scaling.csv: {e}")))?;
        for ext in ["csv", "png", "svg"] {
            self.files.push(format!("scaling.{ext}"));
        }
        let v = &self.measured.elements;
        let per_road = 15_000.0 / 3600.0;
        writeln!(
            self.report,
            "## Scale (beyond the paper)\n\n\
             Lei et al. evaluate nine security managers. Here the grid grows from 3x3 to 20x20 \
             districts with the same traffic on every road (15,000 vehicles/hour on each of the 5 \
             highways per shared edge and direction, {per_road:.2} crossings a second each), {window} s \
             of traffic per run, 1.0 s periods, model mode (`scaling.csv`, `scaling.png`). In Lei's \
             design every security manager checks the signature of every key transfer of the whole \
             network, so the work of each grows with the network: with n x n districts there are \
             2n(n-1) shared edges, and each manager checks about 10 x 2n(n-1) x {per_road:.2} \
             transfers a second, {:.0} at 20x20 ({:.2} s of CPU a second with this machine's tV of \
             {:.0} us). The option `verification = \"destination\"` (`vkm simulate --verification \
             destination`) breaks this: a transfer's signature is checked by its destination \
             only, before it admits the vehicle; every manager still checks each block (proof of \
             work, merkle root, the miner's registration), so a manager's checks grow with its \
             own traffic (`docs/deviations.md` gives the security argument). A second limit does not move: a block holds at most 10,000 transactions \
             and one block is mined per period, so a 1.0 s period carries at most 10,000 \
             transfers a second (a 20x20 grid at peak makes {:.0}).\n\n\
             | calibration | who verifies | managers | admitted / crossings | blocks | p95 delay | max CPU share | |\n\
             | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n{table}",
            10.0 * 2.0 * 20.0 * 19.0 * per_road,
            10.0 * 2.0 * 20.0 * 19.0 * per_road * v.verify_s,
            v.verify_s * 1e6,
            10.0 * 2.0 * 20.0 * 19.0 * per_road,
        )
        .ok();
        writeln!(
            self.report,
            "Largest network that keeps up (of 9, 25, 100, 400 managers):\n"
        )
        .ok();
        for (label, largest) in &sustained {
            let text = if *largest == 0 {
                "none".to_string()
            } else {
                format!("{largest} managers")
            };
            writeln!(self.report, "- {label}: {text}").ok();
        }
        let wall = |m: u32| {
            walls
                .iter()
                .filter(|(managers, _)| *managers == m)
                .map(|(_, w)| *w)
                .fold(0.0, f64::max)
        };
        writeln!(
            self.report,
            "\nEach run simulates {window} s; the slowest 400-manager run took {:.1} s of wall time, \
             the slowest 100-manager one {:.2} s (model mode prices a period's checks at a manager \
             as one CPU job every tenth of a period, so its events grow with crossings plus \
             managers times periods, not managers times crossings).\n",
            wall(400),
            wall(100)
        )
        .ok();
        Ok(())
    }

    /// Measured mode beside the model on one scenario; returns both summaries.
    fn measured_vs_model(&mut self) -> Result<(vkm_sim::Summary, vkm_sim::Summary), CliError> {
        let paper = self.paper.clone();
        let measured = self.measured.clone();
        let model = self.model.clone();
        let measured_s = self.sizes.measured_s;
        // Measured mode beside the model, same scenario.
        let peak = scenario(
            Structure::Blockchain,
            15_000.0,
            PolicySpec::Fixed { period_s: 1.0 },
            measured_s,
        );
        let real = sim(&peak, Mode::Measured, &measured)?.summary;
        let modelled = sim(&peak, Mode::Model, &measured)?.summary;
        writeln!(
            self.report,
            "\nThe traditional structures forward each transfer at once (no collection period), \
             so their delay is one transfer's processing as long as the busiest central manager \
             keeps up; one that cannot (admitted below crossings) queues without bound. At 15,000 \
             vehicles/hour one central manager serving all nine districts needs {:.2} s of CPU \
             per second with these costs ({:.2} s with the paper's).\n\n\
             ## Measured against modelled\n\n\
             The same {measured_s} s of peak traffic (blockchain, 1.0 s period), once with every \
             ECIES, ECDSA and nonce search executed by the real security managers (measured \
             mode) and once priced by this machine's calibration (model mode):\n\n\
             | mode | admitted / crossings | blocks | mean delay | p95 delay | wall time |\n| --- | ---: | ---: | ---: | ---: | ---: |\n\
             | measured | {} / {} | {} | {:.3} s | {:.3} s | {:.2} s |\n\
             | model | {} / {} | {} | {:.3} s | {:.3} s | {:.3} s |\n",
            relay_load(&model.elements),
            relay_load(&paper.elements),
            real.key_transfers,
            real.crossings,
            real.blocks,
            real.delay_s_mean,
            real.delay_s_p95,
            real.wall_seconds,
            modelled.key_transfers,
            modelled.crossings,
            modelled.blocks,
            modelled.delay_s_mean,
            modelled.delay_s_p95,
            modelled.wall_seconds
        )
        .ok();
        Ok((real, modelled))
    }
}

/// Runs `vkm reproduce`.
pub fn run(args: &ReproduceArgs) -> Result<ExitCode, CliError> {
    let started = std::time::Instant::now();
    let dir = &args.out;
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Io(format!("cannot create {}: {e}", dir.display())))?;
    let sizes = if args.quick {
        Sizes {
            iterations: 30,
            prep_runs: 3,
            sim_s: 30.0,
            measured_s: 2.0,
            seeds: 2,
            figure_s: 15.0,
            scale_s: 5.0,
        }
    } else {
        Sizes {
            iterations: 200,
            prep_runs: 11,
            sim_s: 600.0,
            measured_s: 10.0,
            seeds: 3,
            figure_s: 600.0,
            scale_s: 60.0,
        }
    };
    let bar = progress_bar(11, "reproduce");
    bar.set_message("Table IV");
    let crypto = bench_crypto::measure(sizes.iterations, 0)?;
    bar.inc(1);
    bar.set_message("calibration");
    let measured = calibrate::measure(sizes.iterations)?;
    let paper = Calibration::paper();
    let model = match args.calibration {
        CalibrationArg::Paper => paper.clone(),
        CalibrationArg::Measured => measured.clone(),
    };
    bar.inc(1);
    let mut r = Reproduction {
        dir,
        sizes,
        report: String::new(),
        files: Vec::new(),
        paper,
        measured,
        model,
    };
    r.table_iv(&crypto)?;
    bar.set_message("Figs. 7-8");
    r.fig07()?;
    r.fig08()?;
    bar.inc(1);
    bar.set_message("Fig. 9");
    let chain500 = r.fig09()?;
    bar.inc(1);
    bar.set_message("Fig. 10 (simulations)");
    r.fig10()?;
    bar.inc(1);
    bar.set_message("Figs. 11-13");
    r.figs11_to_13()?;
    bar.inc(1);
    bar.set_message("delay distribution");
    r.delay_distribution()?;
    bar.inc(1);
    bar.set_message("measured simulation");
    let (real, modelled) = r.measured_vs_model()?;
    bar.inc(1);
    bar.set_message("scale");
    r.scaling()?;
    bar.inc(1);
    bar.finish_and_clear();
    writeln!(
        r.report,
        "\n---\nGenerated by `vkm reproduce{}` in {:.0} s.",
        if args.quick { " --quick" } else { "" },
        started.elapsed().as_secs_f64()
    )
    .ok();
    std::fs::write(dir.join("report.md"), &r.report)
        .map_err(|e| CliError::Io(format!("cannot write report.md: {e}")))?;
    r.files.push("report.md".into());
    if args.json {
        print_json(&json!({
            "out": dir.display().to_string(),
            "files": r.files,
            "calibration": r.model.name,
            "seconds": started.elapsed().as_secs_f64(),
            "blockchain_500_s": chain500,
            "measured_delay_s_mean": real.delay_s_mean,
            "model_delay_s_mean": modelled.delay_s_mean,
        }));
    } else {
        println!(
            "{} files in {} ({:.0} s); start with {}",
            r.files.len(),
            dir.display(),
            started.elapsed().as_secs_f64(),
            dir.join("report.md").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The paper's stated numbers, with its calibration, within stated tolerances: a drift of
/// the cost model or of the simulator fails here. Where vkm's model does not give what the
/// paper states, the test pins vkm's value and `docs/deviations.md` says why.
#[cfg(test)]
mod paper_numbers {
    use super::*;

    fn paper() -> TimeElements {
        Calibration::paper().elements
    }

    /// The first transaction count (in steps of 10) at which `f` passes `limit`.
    fn first_above(limit: f64, f: impl Fn(f64) -> f64) -> f64 {
        (1..=400)
            .map(|i| f64::from(i) * 10.0)
            .find(|&n| f(n) > limit)
            .unwrap_or(f64::INFINITY)
    }

    #[test]
    fn fig9_about_0_8_s_for_500_and_about_double_for_the_traditional_structure() {
        let c = paper();
        let chain = c.processing_s(CostStructure::Blockchain, 500.0);
        let same = c.processing_s(CostStructure::SameDomain, 500.0);
        // "About 0.8 s": within 15 % (vkm: 0.71 s).
        assert!((0.68..=0.92).contains(&chain), "{chain}");
        // "Nearly double": 1.7x to 2.3x (vkm: 2.0x).
        assert!((1.7..=2.3).contains(&(same / chain)), "{}", same / chain);
        // The conventional scheme "more than triple".
        let conventional = conventional_s(&c, CostStructure::SameDomain, 500.0);
        assert!(conventional / chain > 3.0, "{}", conventional / chain);
    }

    #[test]
    fn fig9_the_blockchain_crosses_the_traditional_structure_near_1500() {
        let c = paper();
        let crossover = first_above(0.0, |n| {
            c.processing_s(CostStructure::Blockchain, n)
                - c.processing_s(CostStructure::SameDomain, n)
        });
        // "Near 1,500": within 20 % (vkm: 1,250, the exponential fit of Fig. 8 rising
        // a little earlier than the paper's curve).
        assert!((1_200.0..=1_800.0).contains(&crossover), "{crossover}");
    }

    #[test]
    fn fig9_cross_domain_passes_10_s_at_1750_and_the_conventional_scheme_at_800() {
        let c = paper();
        let traditional = first_above(10.0, |n| c.processing_s(CostStructure::CrossDomain, n));
        assert!((1_650.0..=1_850.0).contains(&traditional), "{traditional}");
        let conventional = first_above(10.0, |n| conventional_s(&c, CostStructure::CrossDomain, n));
        assert!((750.0..=950.0).contains(&conventional), "{conventional}");
    }

    #[test]
    fn fig10_4_2_and_3_3_transactions_per_flow_and_period() {
        let at = |v: f64| transactions_per_flow(v, period(1.0));
        assert!((at(15_000.0) - 4.2).abs() < 0.05, "{}", at(15_000.0));
        assert!((at(12_000.0) - 3.3).abs() < 0.05, "{}", at(12_000.0));
    }

    #[test]
    fn figs12_13_longer_periods_at_light_traffic_shorter_at_peak() {
        let paper = Calibration::paper();
        let candidates: Vec<CollectionPeriod> = PERIODS.iter().map(|&p| period(p)).collect();
        let pick = |v: f64| algorithm3(&paper, &load(v), &candidates).unwrap().seconds();
        assert!(pick(3_000.0) >= 0.9, "{}", pick(3_000.0));
        assert!(pick(15_000.0) <= 0.6, "{}", pick(15_000.0));
        // The paper: the dynamic scheme saves more than 10 % at peak. Eq. (6) with the
        // paper's own Table IV and Fig. 8 gives 7.7 % against a fixed 1.0 s period
        // (`docs/deviations.md`); pinned at 7-9 %.
        let fixed = evaluate(&paper, &load(15_000.0), period(1.0)).cost_per_second_s;
        let dynamic = dynamic_per_second(&paper, 15_000.0).unwrap();
        let saving = 100.0 * (fixed - dynamic) / fixed;
        assert!((7.0..=9.0).contains(&saving), "{saving}");
    }

    #[test]
    fn the_simulation_gives_what_eq6_gives_at_peak() {
        // One simulated minute at 15,000 vehicles/hour, 1.0 s periods, paper costs: the
        // blocks' processing per second within 10 % of Eq. (6).
        let paper = Calibration::paper();
        let c = paper.elements;
        let s = scenario(
            Structure::Blockchain,
            15_000.0,
            PolicySpec::Fixed { period_s: 1.0 },
            60.0,
        );
        let run = sim(&s, Mode::Model, &paper).unwrap();
        let hop = c.backoff_s + c.propagation_s;
        let total: f64 = run
            .metrics
            .blocks
            .iter()
            .filter(|b| b.started_s <= 60.0)
            .map(|b| b.transactions as f64 * c.verify_s + 2.0 * hop + b.preparation_s + b.mining_s)
            .sum();
        let simulated = total / 60.0;
        let equation = evaluate(&paper, &load(15_000.0), period(1.0)).cost_per_second_s;
        assert!(
            (simulated / equation - 1.0).abs() < 0.10,
            "{simulated} vs {equation}"
        );
    }
}
