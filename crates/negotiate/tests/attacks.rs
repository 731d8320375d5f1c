//! The attacks on the paper's literal designs succeed; vkm's designs refuse or detect
//! the attacks on them.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{Amount, ScriptBytes};
use vkm_coins::Wallet;
use vkm_negotiate::attack::{literal_dynamic_script, small_group};
use vkm_negotiate::local::LocalChain;
use vkm_negotiate::party::{Action, Event, State};
use vkm_negotiate::wire::dynamic_lock;
use vkm_negotiate::{Channel, FiniteFieldGroup, Group, Party, Terms};
use vkm_script::asm::push_data;
use vkm_script::exponent::modpow;
use vkm_script::{Flags, SignatureChecker, verify};

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vkm-attacks-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_papers_designs_leak_the_master_key_to_an_observer() {
    let mut rng = StdRng::seed_from_u64(1);
    let dir = temp("paper");
    let small = small_group(&dir.join("small.redb"), &mut rng).unwrap();
    assert!(small.recovered);
    let literal = literal_dynamic_script(&dir.join("literal.redb"), &mut rng).unwrap();
    assert!(literal.recovered);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Accepts every signature, to test the share checks alone.
struct AnySignature;

impl SignatureChecker for AnySignature {
    fn check_signature(&self, _: &[u8], _: &[u8], _: &[u8]) -> bool {
        true
    }
}

#[test]
fn the_dynamic_script_refuses_shares_outside_the_subgroup() {
    let mut rng = StdRng::seed_from_u64(2);
    let ff = FiniteFieldGroup::ffdhe2048().unwrap();
    let group = Group::FiniteField(ff.clone());
    let bob = Wallet::generate(&mut rng);
    let (_, share_a) = ff.keypair(&mut rng);
    let lock = dynamic_lock(&group, &share_a, &bob.address());
    let pk = vkm_coins::public_key_bytes(bob.public_key());
    let spend = |share: &[u8]| {
        let mut unlocking = Vec::new();
        push_data(&mut unlocking, &[0x30; 65]);
        push_data(&mut unlocking, &pk);
        push_data(&mut unlocking, share);
        verify(
            &unlocking,
            lock.as_bytes(),
            Flags { p2sh: true },
            &AnySignature,
        )
    };
    let (_, share_b) = ff.keypair(&mut rng);
    let minimal: Vec<u8> = share_b.iter().copied().skip_while(|b| *b == 0).collect();
    assert!(spend(&minimal).is_ok());
    let p = ff.p_bytes();
    let mut p_minus_1 = p.clone();
    *p_minus_1.last_mut().unwrap() -= 1;
    // -2 = p-2 is outside the order-q subgroup (2 is a quadratic residue mod p, -1 is
    // not, as p = 3 mod 4).
    let mut minus_two = p.clone();
    *minus_two.last_mut().unwrap() -= 2;
    let over = [vec![1u8], vec![0u8; p.len()]].concat(); // 2^2048 > p
    let mut padded = vec![0u8];
    padded.extend_from_slice(&minimal);
    for (what, bad) in [
        ("1", vec![1u8]),
        ("0", vec![]),
        ("p-1", p_minus_1.clone()),
        ("-2", minus_two.clone()),
        ("p", p.clone()),
        ("2^2048", over),
        ("non-minimal", padded),
    ] {
        assert!(spend(&bad).is_err(), "the script accepted {what}");
        // The code refuses the same values (it accepts the padded form of a valid share).
        if what != "non-minimal" {
            assert!(
                group.validate_share(&bad).is_err(),
                "the code accepted {what}"
            );
        }
    }
    // And the chain's own check agrees with the code's: -2 is outside the subgroup.
    let q = ff.q_bytes();
    assert_ne!(modpow(&minus_two, &q, &p).unwrap(), vec![1]);
}

#[test]
fn a_share_replaced_in_the_dynamic_spend_breaks_confirmation() {
    let mut rng = StdRng::seed_from_u64(3);
    let dir = temp("swap");
    let group = Group::named("ffdhe2048").unwrap();
    let alice_wallet = Wallet::generate(&mut rng);
    let bob_wallet = Wallet::generate(&mut rng);
    let mut chain = LocalChain::create(
        &dir.join("chain.redb"),
        &group,
        &[alice_wallet.address(), bob_wallet.address()],
        Amount(100 * Amount::COIN),
        1,
        8,
        &mut rng,
    )
    .unwrap();
    let terms = Terms {
        channel: Channel::DynamicScript,
        session: [5; 16],
        parameters: chain.parameters(),
        allow_insecure: false,
        payment: Amount(Amount::COIN / 100),
    };
    let (mut alice, mut bob) = Party::pair(terms, alice_wallet, bob_wallet, &mut rng);
    deliver(&mut chain, &mut alice, 0); // Alice offers
    deliver(&mut chain, &mut bob, 0);
    let (h1, block1) = chain.mine().unwrap().unwrap();
    deliver(&mut chain, &mut alice, h1);
    let actions = bob.handle(Event::Block {
        height: h1,
        block: &block1,
        now: chain.now(),
    });
    let [Action::Submit { tx: reply, .. }] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    // A relay (or a miner) replaces Bob's revealed share with its own: the unlocking
    // script is not covered by Bob's signature, so the chain accepts it...
    let ff = FiniteFieldGroup::ffdhe2048().unwrap();
    let (_, other) = ff.keypair(&mut rng);
    let mut swapped = reply.clone();
    let pushes: Vec<Vec<u8>> =
        vkm_script::asm::data_pushes(swapped.inputs[0].unlocking_script.as_bytes())
            .unwrap()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
    let mut unlocking = Vec::new();
    push_data(&mut unlocking, &pushes[0]);
    push_data(&mut unlocking, &pushes[1]);
    push_data(
        &mut unlocking,
        &other
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect::<Vec<_>>(),
    );
    swapped.inputs[0].unlocking_script = ScriptBytes::new(unlocking).unwrap();
    chain.submit(swapped).unwrap();
    let (h2, _) = chain.mine().unwrap().unwrap();
    // ...but Alice's master key now differs from Bob's, and his tag does not verify.
    let reports = deliver(&mut chain, &mut alice, h2);
    assert!(
        reports.iter().any(|a| matches!(a, Action::Failed { .. })),
        "{reports:?}"
    );
    assert!(matches!(
        alice.state(),
        State::Failed(vkm_negotiate::party::NegotiationError::ConfirmationFailed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Delivers the block at `height` to `party`, submitting what it asks; its reports.
fn deliver(chain: &mut LocalChain, party: &mut Party, height: u64) -> Vec<Action> {
    let mut outcome = vkm_negotiate::local::Outcome::default();
    chain
        .deliver(
            0,
            party.participant_mut(),
            height,
            &mut |_| false,
            &mut outcome,
        )
        .unwrap();
    outcome.reports.into_iter().map(|(_, a)| a).collect()
}
