//! Ledger benchmark: validating and committing a 1,000-transaction block of key transfers
//! from the nine Beijing security managers (signatures checked in parallel, one redb
//! write transaction with its indexes).

use std::sync::atomic::AtomicBool;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm::block::{Block, BlockHeader, Timestamp, Transaction};
use vkm::ledger::{Accepted, Ledger};
use vkm::pow::Miner;
use vkm::transfer::keys::EncryptionScheme;
use vkm::transfer::rules::{KeyTransferRules, sign_block};
use vkm::transfer::scenario::Scenario;

const T0: u64 = 1_700_000_000_000;

fn validate_and_commit(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(3);
    let world = Scenario::new(9, 1, EncryptionScheme::Ieee1609P256, &mut rng);
    let genesis = world.genesis_block(10, Timestamp(T0));
    let vehicle = world
        .vehicle(0, Timestamp(T0), 3_600_000, &mut rng)
        .expect("domain 0");
    let txs: Vec<Transaction> = world
        .round_robin_transfers(1000, &vehicle, Timestamp(T0), &mut rng)
        .into_iter()
        .map(Transaction::KeyTransfer)
        .collect();
    let miner = &world.domains[0].security_managers[0];
    let mut block = Block {
        header: BlockHeader {
            version: BlockHeader::VERSION,
            prev_block: genesis.block_hash(),
            timestamp: Timestamp(T0 + 1000),
            difficulty_bits: 10,
            ..BlockHeader::default()
        },
        miner: miner.id,
        miner_signature: Default::default(),
        transactions: txs,
    };
    Miner::default().mine(&mut block, &mut rng, &AtomicBool::new(false));
    sign_block(&miner.keys, miner.id, &mut block);

    let dir = std::env::temp_dir().join(format!("vkm-bench-ledger-{}", std::process::id()));
    let mut group = c.benchmark_group("ledger");
    group.sample_size(10);
    let mut round = 0u32;
    group.bench_function("validate_and_commit_1000_txs_2_threads", |b| {
        b.iter_batched(
            || {
                // A fresh store with only genesis, and warm key tables (as in a running node).
                round += 1;
                let path = dir.join(format!("chain-{round}.redb"));
                let _ = std::fs::create_dir_all(&dir);
                let rules = KeyTransferRules::new(2);
                let ledger =
                    Ledger::open(&path, &genesis, rules.clone().rule_set()).expect("ledger");
                for member in ledger.registry().members() {
                    rules.cache().get(member);
                }
                (ledger, block.clone())
            },
            |(mut ledger, block)| {
                let accepted = ledger
                    .accept(block, Timestamp(T0 + 60_000))
                    .expect("valid block");
                assert!(matches!(accepted, Accepted::Connected(_)));
                ledger
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, validate_and_commit);
criterion_main!(benches);
