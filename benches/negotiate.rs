//! Key negotiation: agreement per group (one exponentiation or scalar multiplication with
//! the secret, on a validated share: the quantity `openssl speed ffdh2048` and `ecdhp256`
//! measure), the validation of a received share, share generation, session-key
//! derivation, and a whole negotiation per channel through a local chain (three
//! transactions, three blocks).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm::block::{Amount, BlockHash};
use vkm::coins::Wallet;
use vkm::negotiate::local::{LocalChain, run};
use vkm::negotiate::party::State;
use vkm::negotiate::{Channel, Group, Party, Terms, session_key};

fn agreement(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut g = c.benchmark_group("negotiate/agree");
    for name in ["ffdhe2048", "ffdhe3072", "p256"] {
        let group = Group::named(name).expect("group");
        let (a, _) = group.keypair(&mut rng);
        let (_, share_b) = group.keypair(&mut rng);
        let valid = group.validate_share(&share_b).expect("valid share");
        g.bench_function(name, |bench| {
            bench.iter(|| {
                group
                    .agree(black_box(&a), black_box(&valid))
                    .expect("agree")
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("negotiate/validate_share");
    for name in ["ffdhe2048", "ffdhe3072", "p256"] {
        let group = Group::named(name).expect("group");
        let (_, share) = group.keypair(&mut rng);
        g.bench_function(name, |bench| {
            bench.iter(|| group.validate_share(black_box(&share)).expect("valid"))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("negotiate/keypair");
    for name in ["ffdhe2048", "p256"] {
        let group = Group::named(name).expect("group");
        g.bench_function(name, |bench| bench.iter(|| group.keypair(&mut rng)));
    }
    g.finish();
    let group = Group::named("p256").expect("group");
    let (a, _) = group.keypair(&mut rng);
    let (_, share_b) = group.keypair(&mut rng);
    let share_b = group.validate_share(&share_b).expect("valid share");
    let master = group.agree(&a, &share_b).expect("agree");
    let (x, y) = (
        Wallet::generate(&mut rng).address(),
        Wallet::generate(&mut rng).address(),
    );
    c.bench_function("negotiate/session_key", |bench| {
        bench.iter(|| session_key(black_box(&master), &BlockHash([7; 32]), &x, &y))
    });
}

fn channels(c: &mut Criterion) {
    let mut g = c.benchmark_group("negotiate/channel");
    g.sample_size(10);
    let dir = std::env::temp_dir().join(format!("vkm-bench-negotiate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut counter = 0u64;
    for (channel, cname) in [
        (Channel::Value, "value"),
        (Channel::StaticScript, "static"),
        (Channel::DynamicScript, "dynamic"),
    ] {
        for gname in ["ffdhe2048", "p256"] {
            g.bench_function(format!("{cname}/{gname}"), |bench| {
                bench.iter(|| {
                    counter += 1;
                    let mut rng = StdRng::seed_from_u64(counter);
                    let group = Group::named(gname).expect("group");
                    let alice = Wallet::generate(&mut rng);
                    let bob = Wallet::generate(&mut rng);
                    let path = dir.join(format!("chain-{counter}.redb"));
                    let mut chain = LocalChain::create(
                        &path,
                        &group,
                        &[alice.address(), bob.address()],
                        Amount(100 * Amount::COIN),
                        1,
                        10,
                        &mut rng,
                    )
                    .expect("chain");
                    let terms = Terms {
                        channel,
                        session: [1; 16],
                        parameters: chain.parameters(),
                        allow_insecure: false,
                        payment: Amount(Amount::COIN / 100),
                    };
                    let (mut a, mut b) = Party::pair(terms, alice, bob, &mut rng);
                    run(
                        &mut chain,
                        &mut [a.participant_mut(), b.participant_mut()],
                        10,
                        |_| false,
                    )
                    .expect("run");
                    assert_eq!(a.state(), State::Confirmed);
                    drop(chain);
                    let _ = std::fs::remove_file(&path);
                })
            });
        }
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, agreement, channels);
criterion_main!(benches);
