//! `vkm negotiate`: Alice and Bob negotiate a master key through a local chain mined by
//! a security manager (Chen et al. 2019, with vkm's fixes).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};
use rand::RngExt;
use serde_json::json;
use vkm_block::Amount;
use vkm_coins::Wallet;
use vkm_negotiate::keys::hex_digest;
use vkm_negotiate::local::{LocalChain, run};
use vkm_negotiate::party::State;
use vkm_negotiate::{Channel, Group, InsecurePaperGroup, Party, Terms};

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
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
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
    let (dir, _guard) = chain_folder(args.db.as_deref(), "negotiate")?;

    let alice_wallet = Wallet::generate(&mut rng);
    let bob_wallet = Wallet::generate(&mut rng);
    let fail = |e: vkm_negotiate::local::LocalError| CliError::Invalid(e.to_string());
    let mut chain = LocalChain::create(
        &dir.join("chain.redb"),
        &group,
        &[alice_wallet.address(), bob_wallet.address()],
        Amount(1_000 * Amount::COIN),
        args.difficulty,
        &mut rng,
    )
    .map_err(fail)?;
    let terms = Terms {
        channel,
        session: rng.random(),
        parameters: chain.parameters(),
        allow_insecure: group.is_insecure(),
        payment: Amount(Amount::COIN / 100),
    };
    let (mut alice, mut bob) = Party::pair(terms, alice_wallet, bob_wallet, &mut rng);
    let outcome = run(&mut chain, &mut [&mut alice, &mut bob], 20, |_, _| false).map_err(fail)?;

    let confirmed = alice.state() == State::Confirmed && bob.state() == State::Confirmed;
    let tip = chain.ledger().tip();
    let session_key = alice.session_key(&tip).map(|k| k.fingerprint());
    let hashed = |p: &Party| p.master_key().map(|k| hex_digest(k.as_bytes()));
    let txids: Vec<String> = alice.txids().iter().map(ToString::to_string).collect();
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        print_json(&json!({
            "channel": channel.name(),
            "group": group.name(),
            "insecure": group.is_insecure(),
            "alice_master_key_sha256": hashed(&alice),
            "bob_master_key_sha256": hashed(&bob),
            "confirmed": confirmed,
            "txids": txids,
            "blocks": outcome.blocks,
            "session_key_sha256": session_key,
            "session_key_block": tip.to_string(),
            "height": chain.ledger().height(),
            "seconds": seconds,
        }));
    } else {
        println!(
            "{} channel, {}{}: {} in {} blocks, {:.3} s",
            channel.name(),
            group.name(),
            if group.is_insecure() {
                " (INSECURE)"
            } else {
                ""
            },
            if confirmed {
                "confirmed"
            } else {
                "NOT confirmed"
            },
            outcome.blocks,
            seconds
        );
        println!(
            "  master key SHA-256: alice {} / bob {}",
            hashed(&alice).unwrap_or_default(),
            hashed(&bob).unwrap_or_default()
        );
        for txid in &txids {
            println!("  transaction {txid}");
        }
        println!(
            "  session key SHA-256 for block {tip}: {}",
            session_key.unwrap_or_default()
        );
        for (party, report) in &outcome.reports {
            println!(
                "  {}: {report:?}",
                if *party == 0 { "alice" } else { "bob" }
            );
        }
    }
    Ok(if confirmed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
