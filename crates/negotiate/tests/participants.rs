//! One identity, many negotiations: n participants negotiate all C(n,2) pairs over one
//! chain, each with one wallet that never spends a coin twice; nothing waits for ever.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::collections::HashSet;
use std::path::PathBuf;

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::Amount;
use vkm_coins::Wallet;
use vkm_negotiate::local::{AllPairs, LocalChain, Loss, run};
use vkm_negotiate::party::{NegotiationError, State};
use vkm_negotiate::wire::Role;
use vkm_negotiate::{Channel, Deadlines, Group, KeyBook, Participant, Step, Terms};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("vkm-participants-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn chain(&self) -> PathBuf {
        self.0.join("chain.redb")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn six_parties_negotiate_all_fifteen_pairs_on_every_channel() {
    for (i, channel) in [
        Channel::Value,
        Channel::StaticScript,
        Channel::DynamicScript,
    ]
    .into_iter()
    .enumerate()
    {
        let dir = TempDir::new(&format!("six-{i}"));
        let mut rng = StdRng::seed_from_u64(600 + i as u64);
        let mut all = AllPairs::create(
            &dir.chain(),
            &Group::P256,
            channel,
            6,
            8,
            Deadlines::default(),
            &mut rng,
        )
        .unwrap();
        assert_eq!(all.pairs.len(), 15);
        let outcome = all.run(100, |_| false).unwrap();
        assert!(outcome.finished, "{channel:?}: {outcome:?}");
        // No coin was spent twice: the security manager refused nothing.
        assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);
        let mut book = KeyBook::default();
        let mut keys = HashSet::new();
        for pair in &all.pairs {
            assert!(
                all.confirmed(pair),
                "{channel:?} {pair:?}: {}",
                all.outcome(pair)
            );
            assert_eq!(all.outcome(pair), "confirmed");
            let (a, _) = all.sides(pair);
            let a = a.unwrap();
            keys.insert(a.master_key().unwrap().as_bytes().to_vec());
            book.insert(
                &all.participants[pair.a].address(),
                &all.participants[pair.b].address(),
                a.negotiated().unwrap(),
            );
        }
        assert_eq!(book.len() as u64, vkm_negotiate::pairs_needed(6));
        assert_eq!(keys.len(), 15, "every pair has its own master key");
        // Each participant ran five negotiations at once: nothing is left pending.
        for p in &all.participants {
            assert_eq!(p.negotiations().count(), 5);
            assert_eq!(p.wallet().pending(), 0, "{channel:?} {:?}", p.wallet());
        }
        // All at once: far fewer blocks than 15 negotiations one after the other (3 each).
        assert!(outcome.blocks < 15 * 3, "{} blocks", outcome.blocks);
        all.chain.ledger().revalidate(all.chain.now()).unwrap();
    }
}

/// One participant with a single coin runs three negotiations: each step waits for the
/// change of the one before (never the same coin twice), and all three confirm.
#[test]
fn a_participant_with_one_coin_reuses_its_change_across_negotiations() {
    let dir = TempDir::new("one-coin");
    let mut rng = StdRng::seed_from_u64(7);
    let hub = Participant::generate(Wallet::generate(&mut rng), &mut rng);
    let mut others: Vec<Participant> = (0..3)
        .map(|_| Participant::generate(Wallet::generate(&mut rng), &mut rng))
        .collect();
    let mut addresses = vec![hub.address()];
    addresses.extend(others.iter().map(Participant::address));
    let mut chain = LocalChain::create(
        &dir.chain(),
        &Group::P256,
        &addresses,
        Amount(100 * Amount::COIN),
        1,
        8,
        &mut rng,
    )
    .unwrap();
    let mut hub = hub;
    for (i, other) in others.iter_mut().enumerate() {
        let terms = Terms {
            channel: Channel::StaticScript,
            session: [i as u8 + 1; 16],
            parameters: chain.parameters(),
            allow_insecure: false,
            payment: Amount(Amount::COIN / 100),
        };
        hub.start(Role::Initiator, &terms, other.contact()).unwrap();
        other.start(Role::Responder, &terms, hub.contact()).unwrap();
    }
    let mut participants: Vec<&mut Participant> = vec![&mut hub];
    participants.extend(others.iter_mut());
    let outcome = run(&mut chain, &mut participants, 60, |_| false).unwrap();
    assert!(
        outcome.finished && outcome.refused.is_empty(),
        "{outcome:?}"
    );
    assert!(
        hub.negotiations().all(|n| n.state() == State::Confirmed),
        "{:?}",
        hub.negotiations().map(|n| n.state()).collect::<Vec<_>>()
    );
    // One coin, three offers: they went out in three different blocks, one per change.
    let offers: HashSet<_> = hub.negotiations().map(|n| n.txids()[0]).collect();
    assert_eq!(offers.len(), 3);
    let heights: HashSet<u64> = offers
        .iter()
        .map(|txid| {
            (0..=chain.ledger().height())
                .find(|h| chain.block_at(*h).unwrap().unwrap().txids().contains(txid))
                .unwrap()
        })
        .collect();
    assert_eq!(heights.len(), 3, "offers mined at {heights:?}");
}

/// A peer that never answers: the initiator times out waiting for the reply after the
/// deadline, instead of waiting for ever. A step whose every submission is lost times out
/// too, and its coins are free again.
#[test]
fn nothing_waits_for_ever() {
    let dir = TempDir::new("deadline");
    let mut rng = StdRng::seed_from_u64(8);
    let deadlines = Deadlines::default();
    let mut alice = Participant::generate(Wallet::generate(&mut rng), &mut rng);
    let silent = Participant::generate(Wallet::generate(&mut rng), &mut rng);
    let mut chain = LocalChain::create(
        &dir.chain(),
        &Group::P256,
        &[alice.address(), silent.address()],
        Amount(100 * Amount::COIN),
        1,
        8,
        &mut rng,
    )
    .unwrap();
    let terms = Terms {
        channel: Channel::Value,
        session: [1; 16],
        parameters: chain.parameters(),
        allow_insecure: false,
        payment: Amount(Amount::COIN / 100),
    };
    alice
        .start(Role::Initiator, &terms, silent.contact())
        .unwrap();
    let outcome = run(&mut chain, &mut [&mut alice], 40, |_| false).unwrap();
    assert!(outcome.finished);
    let negotiation = alice.negotiation(&terms.session).unwrap();
    assert_eq!(
        negotiation.state(),
        State::Failed(NegotiationError::TimedOut { step: Step::Reply })
    );
    assert_eq!(negotiation.state().outcome(), "timed_out");
    // Offer mined in block 1, reply due by block 1 + peer_blocks.
    assert_eq!(outcome.blocks, 1 + deadlines.peer_blocks);

    // Every submission of the offer lost: three tries, then timed out; coins back.
    let dir = TempDir::new("lost");
    let mut alice = Participant::generate(Wallet::generate(&mut rng), &mut rng);
    let mut bob = Participant::generate(Wallet::generate(&mut rng), &mut rng);
    let mut chain = LocalChain::create(
        &dir.chain(),
        &Group::P256,
        &[alice.address(), bob.address()],
        Amount(100 * Amount::COIN),
        1,
        8,
        &mut rng,
    )
    .unwrap();
    let terms = Terms {
        parameters: chain.parameters(),
        ..terms
    };
    alice.start(Role::Initiator, &terms, bob.contact()).unwrap();
    bob.start(Role::Responder, &terms, alice.contact()).unwrap();
    let outcome = run(&mut chain, &mut [&mut alice, &mut bob], 40, |loss| {
        matches!(loss, Loss::Submission { .. })
    })
    .unwrap();
    assert!(outcome.finished);
    assert_eq!(outcome.lost, u64::from(deadlines.submissions));
    assert_eq!(
        alice.negotiation(&terms.session).unwrap().state(),
        State::Failed(NegotiationError::TimedOut { step: Step::Offer })
    );
    assert_eq!(
        bob.negotiation(&terms.session).unwrap().state(),
        State::Failed(NegotiationError::TimedOut { step: Step::Offer })
    );
    assert_eq!(alice.wallet().pending(), 0);
    assert_eq!(alice.wallet().balance(), Amount(100 * Amount::COIN));
}
