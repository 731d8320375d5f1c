//! `vkm negotiate`: N parties (Alice and Bob by default) negotiate a master key per pair
//! through a local chain mined by a security manager (Chen et al. 2019, with vkm's
//! fixes), optionally losing named steps to show the recovery.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde_json::json;
use vkm_negotiate::keys::hex_digest;
use vkm_negotiate::local::{AllPairs, Loss};
use vkm_negotiate::{Channel, Deadlines, Group, InsecurePaperGroup, Step};

use crate::{CliError, print_json};

/// How the shares travel.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChannelArg {
    /// In output amounts (4.1).
    Value,
    /// ECIES-encrypted beside a P2PKH payment (4.2).
    Static,
    /// In a locking script checked with OP_EXPONENT (4.3).
    Dynamic,
}

/// The Diffie-Hellman group.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GroupArg {
    /// RFC 7919 ffdhe2048.
    Ffdhe2048,
    /// RFC 7919 ffdhe3072.
    Ffdhe3072,
    /// ECDH on P-256.
    P256,
    /// The paper's 8-digit group. INSECURE: its discrete logarithms fall in milliseconds.
    PaperInsecure,
}

/// `vkm negotiate` arguments.
#[derive(Debug, Args)]
pub struct NegotiateArgs {
    /// How the shares travel.
    #[arg(long, value_enum, default_value = "value")]
    channel: ChannelArg,
    /// The group.
    #[arg(long, value_enum, default_value = "ffdhe2048")]
    group: GroupArg,
    /// Keep the chain in this folder (`chain.redb`, readable by `vkm chain`); default: a
    /// temporary folder, removed afterwards.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Difficulty of the local chain, in leading zero bits.
    #[arg(long, default_value_t = 10)]
    difficulty: u8,
    /// Participants: every pair of them negotiates (C(N,2) master keys), each running
    /// its N-1 negotiations at once with one wallet.
    #[arg(long, default_value_t = 2)]
    parties: usize,
    /// Lose the first submission of this step in every negotiation, to show recovery
    /// (repeatable): `offer` (the initiator's share; messageA on the static channel, the
    /// locking script on the dynamic one), `reply` (the responder's share and tag),
    /// `confirm` (the initiator's tag). A lost step is submitted again after 2 blocks.
    #[arg(long, value_enum)]
    drop: Vec<DropArg>,
    /// Blocks after which a submission not yet mined is submitted again.
    #[arg(long, default_value_t = Deadlines::default().resubmit_after_blocks)]
    resubmit_after: u64,
    /// Submissions of one step's transaction before it times out.
    #[arg(long, default_value_t = Deadlines::default().submissions)]
    submissions: u32,
    /// Blocks the counterparty has to take its step before the negotiation times out.
    #[arg(long, default_value_t = Deadlines::default().peer_blocks)]
    peer_blocks: u64,
    /// Stop after this many blocks even if some negotiation has not ended.
    #[arg(long, default_value_t = 400)]
    max_blocks: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// A negotiation step `--drop` loses.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DropArg {
    /// The initiator's first message (its share).
    Offer,
    /// The responder's share and confirmation tag.
    Reply,
    /// The initiator's confirmation tag.
    Confirm,
}

impl DropArg {
    fn step(self) -> Step {
        match self {
            Self::Offer => Step::Offer,
            Self::Reply => Step::Reply,
            Self::Confirm => Step::Confirm,
        }
    }
}

/// Removes a temporary folder on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The folder to keep the chain in, and the guard removing it if temporary.
pub(crate) fn chain_folder(
    db: Option<&Path>,
    name: &str,
) -> Result<(PathBuf, Option<impl Drop>), CliError> {
    match db {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::Io(format!("cannot create {}: {e}", dir.display())))?;
            if dir.join("chain.redb").exists() {
                return Err(CliError::Invalid(format!(
                    "{} already holds a chain; choose an empty folder",
                    dir.display()
                )));
            }
            Ok((dir.to_path_buf(), None))
        }
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let dir =
                std::env::temp_dir().join(format!("vkm-{name}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir)
                .map_err(|e| CliError::Io(format!("cannot create {}: {e}", dir.display())))?;
            Ok((dir.clone(), Some(TempDir(dir))))
        }
    }
}

/// Runs `vkm negotiate`.
pub fn run_command(args: &NegotiateArgs) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    let mut rng = rand::rng();
    if args.parties < 2 {
        return Err(CliError::Invalid(format!(
            "--parties must be at least 2, not {}",
            args.parties
        )));
    }
    let group = match args.group {
        GroupArg::Ffdhe2048 => Group::named("ffdhe2048"),
        GroupArg::Ffdhe3072 => Group::named("ffdhe3072"),
        GroupArg::P256 => Group::named("p256"),
        GroupArg::PaperInsecure => Ok(Group::InsecurePaper(InsecurePaperGroup::generate(&mut rng))),
    }
    .map_err(|e| CliError::Invalid(e.to_string()))?;
    let channel = match args.channel {
        ChannelArg::Value => Channel::Value,
        ChannelArg::Static => Channel::StaticScript,
        ChannelArg::Dynamic => Channel::DynamicScript,
    };
    if group.is_insecure() && !args.json {
        eprintln!(
            "warning: paper-insecure is the paper's 8-digit group; anyone can break it (see `vkm attack paper-small-group`)"
        );
    }
    let drops: Vec<Step> = args.drop.iter().map(|d| d.step()).collect();
    let (dir, _guard) = chain_folder(args.db.as_deref(), "negotiate")?;
    let fail = |e: vkm_negotiate::local::LocalError| CliError::Invalid(e.to_string());
    let mut all = AllPairs::create(
        &dir.join("chain.redb"),
        &group,
        channel,
        args.parties,
        args.difficulty,
        Deadlines {
            resubmit_after_blocks: args.resubmit_after.max(1),
            submissions: args.submissions.max(1),
            peer_blocks: args.peer_blocks.max(1),
        },
        &mut rng,
    )
    .map_err(fail)?;
    // Each named step's first submission is lost, in every negotiation.
    let outcome = all
        .run(args.max_blocks, |loss| {
            matches!(loss, Loss::Submission { step, attempt: 1, .. } if drops.contains(&step))
        })
        .map_err(fail)?;
    let seconds = started.elapsed().as_secs_f64();

    let tip = all.chain.ledger().tip();
    let hashed = |n: Option<&vkm_negotiate::Negotiation>| {
        n.and_then(|n| n.master_key())
            .map(|k| hex_digest(k.as_bytes()))
    };
    let pairs: Vec<serde_json::Value> = all
        .pairs
        .iter()
        .map(|pair| {
            let (a, b) = all.sides(pair);
            json!({
                "a": pair.a,
                "b": pair.b,
                "confirmed": all.confirmed(pair),
                "a_master_key_sha256": hashed(a),
                "b_master_key_sha256": hashed(b),
                "outcome": all.outcome(pair),
                "submissions": a.map_or(0, |n| n.submissions()) + b.map_or(0, |n| n.submissions()),
                "txids": a.map(|n| n.txids().iter().map(ToString::to_string).collect::<Vec<_>>()),
            })
        })
        .collect();
    let confirmed_pairs = all.pairs.iter().filter(|p| all.confirmed(p)).count();
    let all_confirmed = confirmed_pairs == all.pairs.len();
    let transactions: usize = all
        .pairs
        .iter()
        .filter_map(|p| all.sides(p).0.map(|n| n.txids().len()))
        .sum();
    let ignored = outcome
        .reports
        .iter()
        .filter(|(_, a)| matches!(a, vkm_negotiate::party::Action::Ignored { .. }))
        .count();
    let mut report = json!({
        "channel": channel.name(),
        "group": group.name(),
        "insecure": group.is_insecure(),
        "parties": args.parties,
        "pairs": pairs,
        "confirmed_pairs": confirmed_pairs,
        "confirmed": all_confirmed,
        "blocks": outcome.blocks,
        "transactions": transactions,
        "submissions": outcome.submissions,
        "lost": outcome.lost,
        "refused": outcome.refused.len(),
        "ignored": ignored,
        "dropped_steps": drops.iter().map(|s| s.name()).collect::<Vec<_>>(),
        "height": all.chain.ledger().height(),
        "seconds": seconds,
    });
    // The two-party fields, as before.
    if let ([first], Some(fields)) = (all.pairs.as_slice(), report.as_object_mut()) {
        let (a, b) = all.sides(first);
        let session_key = a.and_then(|n| n.session_key(&tip)).map(|k| k.fingerprint());
        fields.insert("alice_master_key_sha256".into(), json!(hashed(a)));
        fields.insert("bob_master_key_sha256".into(), json!(hashed(b)));
        fields.insert(
            "txids".into(),
            json!(a.map(|n| {
                n.txids()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            })),
        );
        fields.insert("session_key_sha256".into(), json!(session_key));
        fields.insert("session_key_block".into(), json!(tip.to_string()));
    }
    if args.json {
        print_json(&report);
    } else {
        println!(
            "{} channel, {}{}, {} parties: {} of {} pairs confirmed in {} blocks ({} transactions, {} submissions, {} lost), {:.3} s",
            channel.name(),
            group.name(),
            if group.is_insecure() {
                " (INSECURE)"
            } else {
                ""
            },
            args.parties,
            confirmed_pairs,
            all.pairs.len(),
            outcome.blocks,
            transactions,
            outcome.submissions,
            outcome.lost,
            seconds
        );
        for pair in all.pairs.iter().take(10) {
            let (a, b) = all.sides(pair);
            println!(
                "  {} - {}: {:<22} master key SHA-256 {} / {}",
                pair.a,
                pair.b,
                all.outcome(pair),
                short(hashed(a)),
                short(hashed(b))
            );
        }
        if all.pairs.len() > 10 {
            println!(
                "  ... {} more pairs (--json lists all)",
                all.pairs.len() - 10
            );
        }
        if let [first] = all.pairs.as_slice()
            && let (Some(a), _) = all.sides(first)
        {
            for txid in a.txids() {
                println!("  transaction {txid}");
            }
            if let Some(key) = a.session_key(&tip) {
                println!(
                    "  session key SHA-256 for block {tip}: {}",
                    key.fingerprint()
                );
            }
        }
        for (party, report) in outcome
            .reports
            .iter()
            .filter(|(_, a)| !matches!(a, vkm_negotiate::party::Action::Confirmed { .. }))
        {
            println!("  participant {party}: {report:?}");
        }
    }
    Ok(if all_confirmed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The first 16 hex digits of a digest, or `-`.
fn short(digest: Option<String>) -> String {
    digest.map_or_else(|| "-".into(), |d| d[..16].to_string())
}
