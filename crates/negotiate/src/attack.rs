//! The paper's literal designs, attacked from the chain alone (`docs/deviations.md`, decisions 7 and 8).
//!
//! - [`small_group`]: Alice and Bob negotiate in the value channel over the paper's
//!   8-digit group; an observer reads the parameters and Alice's share from the chain and
//!   recovers her exponent by baby-step giant-step, hence the master key.
//! - [`literal_dynamic_script`]: Alice writes the paper's `a g p OP_Exponent ...` locking
//!   script; an observer reads `a` from it and Bob's share from his reply, and computes
//!   the master key, whatever the group's size.

use std::path::Path;
use std::time::Instant;

use rand::CryptoRng;
use rand::RngExt;
use vkm_block::{Amount, ScriptBytes, Transaction, TxOut};
use vkm_coins::{Address, Wallet};
use vkm_script::asm::{ops, push_data};
use vkm_script::exponent::modpow;
use vkm_script::opcode::op::*;

use crate::group::{FiniteFieldGroup, Group};
use crate::insecure::{InsecurePaperGroup, baby_step_giant_step, pow_mod};
use crate::local::{LocalChain, LocalError, run};
use crate::party::{Party, Terms};
use crate::wire::{Carrier, Channel, Role, read_parameters};

/// What an attack achieved.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackReport {
    /// Whether the observer computed the parties' master key.
    pub recovered: bool,
    /// Seconds the observer spent, from reading the chain to the key.
    pub seconds: f64,
    /// Blocks on the chain the observer read.
    pub blocks: u64,
}

/// Alice's and Bob's wallets and a local chain in `group` that gives each 10 coins.
fn two_parties<R: CryptoRng + ?Sized>(
    db: &Path,
    group: &Group,
    rng: &mut R,
) -> Result<(Wallet, Wallet, LocalChain), LocalError> {
    let alice = Wallet::generate(rng);
    let bob = Wallet::generate(rng);
    let chain = LocalChain::create(
        db,
        group,
        &[alice.address(), bob.address()],
        Amount(10 * Amount::COIN),
        1,
        8,
        rng,
    )?;
    Ok((alice, bob, chain))
}

/// The paper's 8-digit group, broken from the chain: see the module documentation.
pub fn small_group<R: CryptoRng + ?Sized>(
    db: &Path,
    rng: &mut R,
) -> Result<AttackReport, LocalError> {
    let group = Group::InsecurePaper(InsecurePaperGroup::generate(rng));
    let (alice, bob, mut chain) = two_parties(db, &group, rng)?;
    let terms = Terms {
        channel: Channel::Value,
        session: rng.random(),
        parameters: chain.parameters(),
        allow_insecure: true,
        payment: Amount(Amount::COIN / 100),
    };
    let (mut alice, mut bob) = Party::pair(terms, alice, bob, rng);
    run(
        &mut chain,
        &mut [alice.participant_mut(), bob.participant_mut()],
        10,
        |_| false,
    )?;

    // The observer: only the chain.
    let started = Instant::now();
    let mut params = None;
    let mut shares = Vec::new();
    let height = observe(&chain, 0, |tx| {
        if let Some(Ok(Group::InsecurePaper(g))) = read_parameters(tx, true) {
            params = Some(g);
        }
        let Transaction::Value(v) = tx else { return };
        // Offer and reply: a carrier at output 0, the share in output 1's amount.
        let carrier = v
            .outputs
            .first()
            .and_then(|o| Carrier::parse(o.locking_script.as_bytes()));
        let is_share = matches!(
            carrier,
            Some(
                Carrier::Offer { .. }
                    | Carrier::Tag {
                        role: Role::Responder,
                        ..
                    }
            )
        );
        if is_share && let Some(out) = v.outputs.get(1) {
            shares.push(out.amount.0);
        }
    })?;
    let recovered = match (params, shares.as_slice()) {
        (Some(g), [share_a, share_b, ..]) => baby_step_giant_step(g.p, g.g, *share_a)
            .map(|a| pow_mod(*share_b, a, g.p) as u32)
            .is_some_and(|mk| {
                alice
                    .master_key()
                    .is_some_and(|key| key.as_bytes() == mk.to_be_bytes())
            }),
        _ => false,
    };
    Ok(AttackReport {
        recovered,
        seconds: started.elapsed().as_secs_f64(),
        blocks: height + 1,
    })
}

/// What an observer of the chain does: reads every transaction of the best chain from
/// height `from` up, in order. Returns the height read to.
fn observe(
    chain: &LocalChain,
    from: u64,
    mut visit: impl FnMut(&Transaction),
) -> Result<u64, LocalError> {
    let height = chain.ledger().height();
    for h in from..=height {
        if let Some(block) = chain.block_at(h)? {
            block.transactions.iter().for_each(&mut visit);
        }
    }
    Ok(height)
}

/// The paper's literal dynamic locking script: `<a> <g> <p> OP_EXPONENT OP_DUP
/// OP_HASH160 <address> OP_EQUALVERIFY OP_CHECKSIG`, with the secret exponent `a` in it.
/// Never use it: it exists to show the attack.
pub fn paper_literal_lock(a: &[u8], g: &[u8], p: &[u8], spender: &Address) -> ScriptBytes {
    let mut s = Vec::new();
    push_data(&mut s, a);
    push_data(&mut s, g);
    push_data(&mut s, p);
    s.extend_from_slice(&[OP_EXPONENT, OP_DUP, OP_HASH160]);
    push_data(&mut s, &spender.0);
    s.extend_from_slice(&[OP_EQUALVERIFY, OP_CHECKSIG]);
    ScriptBytes::new(s).unwrap_or_default()
}

/// `(a, g, p)` from a script of the paper's literal form.
pub fn read_paper_literal_lock(script: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    match ops(script)?.as_slice() {
        [
            (_, Some(a)),
            (_, Some(g)),
            (_, Some(p)),
            (OP_EXPONENT, None),
            ..,
        ] => Some((a.to_vec(), g.to_vec(), p.to_vec())),
        _ => None,
    }
}

/// The paper's literal dynamic script, attacked: see the module documentation. Alice
/// uses ffdhe2048 with a full-size exponent; the group's strength does not matter.
pub fn literal_dynamic_script<R: CryptoRng + ?Sized>(
    db: &Path,
    rng: &mut R,
) -> Result<AttackReport, LocalError> {
    let ff = FiniteFieldGroup::ffdhe2048()?;
    let group = Group::FiniteField(ff.clone());
    let (mut alice, mut bob, mut chain) = two_parties(db, &group, rng)?;
    for tx in &chain
        .block_at(0)?
        .map(|b| b.transactions)
        .unwrap_or_default()
    {
        alice.observe(tx);
        bob.observe(tx);
    }
    // Alice, as the paper writes it: a, g and p in the locking script.
    let a: [u8; 32] = rng.random();
    let (p, g) = (ff.p_bytes(), ff.g_bytes());
    let share_a = modpow(&g, &a, &p)?;
    let lock = paper_literal_lock(&a, &g, &p, &bob.address());
    let offer = alice.build_spend(
        vec![TxOut {
            amount: Amount(Amount::COIN / 100),
            locking_script: lock,
        }],
        &[],
    )?;
    chain.submit(offer)?;
    chain.mine()?;
    // Bob reads g^a mod p, replies with his share in a data output.
    let (b, share_b) = ff.keypair(rng);
    let bob_master = ff.agree(&b, &share_a)?;
    let mut data = vec![OP_RETURN];
    push_data(&mut data, &share_b);
    let reply = bob.build_spend(
        vec![TxOut {
            amount: Amount(0),
            locking_script: ScriptBytes::new(data).unwrap_or_default(),
        }],
        &[],
    )?;
    chain.submit(reply)?;
    chain.mine()?;

    // The observer: only the chain.
    let started = Instant::now();
    let mut literal = None;
    let mut published = Vec::new();
    let height = observe(&chain, 1, |tx| {
        let Transaction::Value(v) = tx else { return };
        for out in &v.outputs {
            let script = out.locking_script.as_bytes();
            if let Some(found) = read_paper_literal_lock(script) {
                literal = Some(found);
            } else if let Some((&OP_RETURN, rest)) = script.split_first()
                && let Some(pushes) = vkm_script::asm::data_pushes(rest)
            {
                published.extend(pushes.into_iter().map(<[u8]>::to_vec));
            }
        }
    })?;
    let recovered = literal.is_some_and(|(a, _, p)| {
        published.iter().any(|share| {
            modpow(share, &a, &p).is_ok_and(|mk| {
                let mut padded = vec![0u8; p.len().saturating_sub(mk.len())];
                padded.extend_from_slice(&mk);
                padded == bob_master.as_bytes()
            })
        })
    });
    Ok(AttackReport {
        recovered,
        seconds: started.elapsed().as_secs_f64(),
        blocks: height + 1,
    })
}
