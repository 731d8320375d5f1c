//! What the negotiation examples share: a local chain in a temporary folder, every pair
//! of the named parties negotiating on it, and a short report of what happened.
// Each example uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use vkm::negotiate::local::{AllPairs, Pair};
use vkm::negotiate::session::SessionKeys;
use vkm::negotiate::{Channel, Deadlines, Group};

/// A temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The parties named `names` negotiate every pair over `channel` in ffdhe2048, on a fresh
/// local chain; prints each pair's outcome. Fails unless every pair confirmed.
pub fn negotiate(
    example: &str,
    names: &[&str],
    channel: Channel,
) -> Result<(TempDir, AllPairs), Box<dyn std::error::Error>> {
    let dir = TempDir(std::env::temp_dir().join(format!("vkm-{example}-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    let mut rng = rand::rng();
    let group = Group::named("ffdhe2048")?;
    let mut all = AllPairs::create(
        &dir.0.join("chain.redb"),
        &group,
        channel,
        names.len(),
        10,
        Deadlines::default(),
        &mut rng,
    )?;
    let outcome = all.run(60, |_| false)?;
    println!(
        "negotiated over the {} channel ({}): {} master key(s) in {} blocks, {} transactions",
        channel.name(),
        group.name(),
        all.pairs.len(),
        outcome.blocks,
        outcome.submissions
    );
    for pair in &all.pairs {
        let (a, _) = all.sides(pair);
        let txids = a.map(|n| n.txids().len()).unwrap_or(0);
        println!(
            "  {} <-> {}: {} ({txids} transactions on the chain)",
            names[pair.a],
            names[pair.b],
            all.outcome(pair)
        );
        if !all.confirmed(pair) {
            return Err(format!("{} and {} did not confirm", names[pair.a], names[pair.b]).into());
        }
    }
    Ok((dir, all))
}

/// The pair of parties `a` and `b`.
pub fn pair(all: &AllPairs, a: usize, b: usize) -> Result<Pair, Box<dyn std::error::Error>> {
    all.pairs
        .iter()
        .copied()
        .find(|p| (p.a, p.b) == (a.min(b), a.max(b)))
        .ok_or_else(|| "no such pair".into())
}

/// Party `who`'s session keys in `pair`, accepting the previous block's key too.
pub fn keys(
    all: &AllPairs,
    pair: &Pair,
    who: usize,
) -> Result<SessionKeys, Box<dyn std::error::Error>> {
    all.session_keys(pair, who, 1)?
        .ok_or_else(|| "the pair did not confirm".into())
}

/// Mines the next block (the chain moves on) and has every `keys` follow it.
pub fn next_block(
    all: &mut AllPairs,
    keys: &mut [&mut SessionKeys],
) -> Result<u64, Box<dyn std::error::Error>> {
    let (height, block) = all.chain.mine()?.ok_or("no block mined")?;
    for k in keys.iter_mut() {
        k.follow(height, &block.header)?;
    }
    Ok(height)
}

/// The first 16 hex digits of the SHA-256 of the current session key.
pub fn fingerprint(keys: &SessionKeys) -> String {
    keys.current_key()
        .map(|k| k.fingerprint()[..16].to_string())
        .unwrap_or_default()
}
