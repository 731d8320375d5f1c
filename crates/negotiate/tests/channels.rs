//! Alice and Bob negotiate through a local chain mined by a real security manager, on
//! every channel and group; the attacks of the issue are refused or detected.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::path::PathBuf;

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{Amount, Transaction, TxOut};
use vkm_coins::Wallet;
use vkm_negotiate::local::{LocalChain, LocalError, Loss, Outcome, run};
use vkm_negotiate::party::{Action, Ignored, State};
use vkm_negotiate::wire::Carrier;
use vkm_negotiate::{Channel, Group, InsecurePaperGroup, KeyBook, Party, Terms};
use vkm_node::sm::{Refusal, ValueRefusal};
use vkm_runtime::LocalError as ChainError;

struct Setup {
    chain: LocalChain,
    alice: Party,
    bob: Party,
    /// A third party with coins: the man in the middle.
    mallory: Wallet,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn setup(name: &str, channel: Channel, group: Group, seed: u64) -> Setup {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = std::env::temp_dir().join(format!("vkm-negotiate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let alice_wallet = Wallet::generate(&mut rng);
    let bob_wallet = Wallet::generate(&mut rng);
    let mut mallory = Wallet::generate(&mut rng);
    let chain = LocalChain::create(
        &dir.join("chain.redb"),
        &group,
        &[
            alice_wallet.address(),
            bob_wallet.address(),
            mallory.address(),
        ],
        Amount(1_000 * Amount::COIN),
        1,
        8,
        &mut rng,
    )
    .unwrap();
    for tx in &chain.block_at(0).unwrap().unwrap().transactions {
        mallory.observe(tx);
    }
    let terms = Terms {
        channel,
        session: [seed as u8; 16],
        parameters: chain.parameters(),
        allow_insecure: group.is_insecure(),
        payment: Amount(Amount::COIN / 100),
    };
    let (alice, bob) = Party::pair(terms, alice_wallet, bob_wallet, &mut rng);
    Setup {
        alice,
        bob,
        chain,
        mallory,
        _dir: TempDir(dir),
    }
}

fn negotiate(s: &mut Setup) {
    let outcome = run(
        &mut s.chain,
        &mut [s.alice.participant_mut(), s.bob.participant_mut()],
        10,
        |_| false,
    )
    .unwrap();
    assert!(
        outcome.finished && outcome.refused.is_empty(),
        "{outcome:?}"
    );
    assert_eq!(
        s.alice.state(),
        State::Confirmed,
        "alice: {:?}",
        s.alice.state()
    );
    assert_eq!(s.bob.state(), State::Confirmed, "bob: {:?}", s.bob.state());
    assert_eq!(s.alice.master_key(), s.bob.master_key());
    assert!(s.alice.master_key().is_some());
    let tip = s.chain.ledger().tip();
    let key = s.alice.session_key(&tip).unwrap();
    assert_eq!(Some(key.clone()), s.bob.session_key(&tip));
    // A new block salts a new session key.
    let genesis = s.chain.ledger().genesis();
    assert_ne!(Some(key), s.alice.session_key(&genesis));
    // Nothing secret is on the chain: no block contains the master key's bytes.
    let master = s.alice.master_key().unwrap().as_bytes().to_vec();
    for h in 0..=s.chain.ledger().height() {
        let bytes = vkm_block::serialize(&s.chain.block_at(h).unwrap().unwrap());
        assert!(!bytes.windows(master.len()).any(|w| w == master.as_slice()));
    }
    s.chain.ledger().revalidate(s.chain.now()).unwrap();
}

#[test]
fn every_channel_negotiates_over_ffdhe2048() {
    for (i, channel) in [
        Channel::Value,
        Channel::StaticScript,
        Channel::DynamicScript,
    ]
    .into_iter()
    .enumerate()
    {
        let mut s = setup(
            &format!("ff-{i}"),
            channel,
            Group::named("ffdhe2048").unwrap(),
            10 + i as u64,
        );
        negotiate(&mut s);
        // Offer, reply, confirmation: three transactions, each side saw them mined.
        assert_eq!(s.alice.txids().len(), 3, "{channel:?}");
        assert_eq!(s.alice.txids(), s.bob.txids());
    }
}

#[test]
fn every_channel_negotiates_over_p256_and_the_papers_group() {
    let mut rng = StdRng::seed_from_u64(3);
    for (i, channel) in [
        Channel::Value,
        Channel::StaticScript,
        Channel::DynamicScript,
    ]
    .into_iter()
    .enumerate()
    {
        negotiate(&mut setup(
            &format!("p256-{i}"),
            channel,
            Group::P256,
            20 + i as u64,
        ));
        let paper = Group::InsecurePaper(InsecurePaperGroup::generate(&mut rng));
        negotiate(&mut setup(
            &format!("paper-{i}"),
            channel,
            paper,
            30 + i as u64,
        ));
    }
}

#[test]
fn ffdhe3072_negotiates_in_the_value_channel_across_116_outputs() {
    let mut s = setup(
        "ff3072",
        Channel::Value,
        Group::named("ffdhe3072").unwrap(),
        40,
    );
    negotiate(&mut s);
    let offer = s
        .chain
        .ledger()
        .transaction(&s.alice.txids()[0])
        .unwrap()
        .unwrap();
    let Transaction::Value(v) = offer.transaction else {
        panic!("value")
    };
    let bob_script = s.bob.address().p2pkh_script();
    let paid: Vec<&TxOut> = v
        .outputs
        .iter()
        .filter(|o| o.locking_script == bob_script)
        .collect();
    assert_eq!(paid.len(), 116);
    assert!(paid.iter().all(|o| o.amount.0 < Amount::COIN));
}

#[test]
fn a_dropped_block_only_delays_the_negotiation() {
    let mut s = setup("drop", Channel::Value, Group::P256, 50);
    // Bob misses the block with Alice's offer, Alice the one with Bob's reply.
    let mut dropped = Vec::new();
    let outcome = run(
        &mut s.chain,
        &mut [s.alice.participant_mut(), s.bob.participant_mut()],
        10,
        |loss| {
            let Loss::Block {
                participant,
                height,
            } = loss
            else {
                return false;
            };
            let lose = (participant == 1 && height == 1) || (participant == 0 && height == 2);
            if lose {
                dropped.push((participant, height));
            }
            lose
        },
    )
    .unwrap();
    assert_eq!(dropped.len(), 2);
    assert_eq!(s.alice.state(), State::Confirmed);
    assert_eq!(s.bob.state(), State::Confirmed);
    assert_eq!(s.alice.master_key(), s.bob.master_key());
    assert!(outcome.blocks >= 3);
}

#[test]
fn a_share_replaced_off_chain_is_refused_or_ignored() {
    let mut s = setup("mitm", Channel::Value, Group::P256, 60);
    // Deliver genesis: Alice offers.
    let offer = {
        let actions = s.alice.handle(vkm_negotiate::party::Event::Block {
            height: 0,
            block: &s.chain.block_at(0).unwrap().unwrap(),
            now: s.chain.now(),
        });
        match actions.as_slice() {
            [Action::Submit { tx, .. }] => tx.clone(),
            other => panic!("expected an offer, got {other:?}"),
        }
    };
    // 1. A man in the middle changes a share digit inside Alice's signed transaction:
    //    her signature no longer covers it, the security manager refuses it.
    // (Swapping two digits keeps the sum, so only the signature can catch it.)
    let mut tampered = offer.clone();
    assert_ne!(tampered.outputs[1].amount, tampered.outputs[2].amount);
    tampered.outputs.swap(1, 2);
    let refused = s.chain.submit(tampered).unwrap_err();
    assert!(
        matches!(
            &refused,
            LocalError::Chain(ChainError::Refused(Refusal::Value {
                error: ValueRefusal::Script(_),
                ..
            }))
        ),
        "{refused}"
    );
    // 2. He drops Alice's offer and pays Bob his own share under Alice's session from
    //    his own coins: Bob ignores it, because Alice did not sign it.
    let mut forged_outputs = offer.outputs.clone();
    forged_outputs.pop(); // Alice's change
    for out in forged_outputs.iter_mut().skip(1) {
        out.amount = Amount(Amount::COIN - 1 - out.amount.0);
    }
    assert!(matches!(
        Carrier::parse(forged_outputs[0].locking_script.as_bytes()),
        Some(Carrier::Offer { .. })
    ));
    let forged = s.mallory.build_spend(forged_outputs, &[]).unwrap();
    s.chain.submit(forged).unwrap();
    let (h, _) = s.chain.mine().unwrap().unwrap();
    let mut outcome = Outcome::default();
    for height in [0, h] {
        s.chain
            .deliver(
                1,
                s.bob.participant_mut(),
                height,
                &mut |_| false,
                &mut outcome,
            )
            .unwrap();
    }
    let reports: Vec<Action> = outcome.reports.into_iter().map(|(_, a)| a).collect();
    assert!(
        reports.iter().any(|a| matches!(
            a,
            Action::Ignored {
                reason: Ignored::OfferNotSigned,
                ..
            }
        )),
        "{reports:?}"
    );
    assert_eq!(s.bob.state(), State::Ready);
    assert!(s.bob.master_key().is_none());
}

#[test]
fn the_key_book_holds_c_n_2_master_keys_and_derives_per_block() {
    let mut book = KeyBook::default();
    let mut s = setup("book", Channel::DynamicScript, Group::P256, 70);
    negotiate(&mut s);
    book.insert(
        &s.alice.address(),
        &s.bob.address(),
        s.alice.negotiated().unwrap(),
    );
    assert_eq!(book.len(), 1);
    assert_eq!(vkm_negotiate::pairs_needed(5), 10);
    let tip = s.chain.ledger().tip();
    let derived = book
        .session_key(
            &s.bob.address(),
            &s.alice.address(),
            tip,
            s.chain.ledger().height(),
        )
        .unwrap();
    assert_eq!(Some(derived.key), s.bob.session_key(&tip));
    assert_eq!(derived.block, tip);
}
