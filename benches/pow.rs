//! Proof-of-work benchmarks: the nonce search per core (midstate against the naive
//! double-SHA256 baseline, in the same run), its scaling to two threads, and mining a
//! block at the paper's difficulty.

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::atomic::AtomicBool;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm::block::{BlockHeader, MerkleRoot, Timestamp, dhash, synthetic};
use vkm::pow::{Difficulty, Miner, NonceTemplate, PowHeader, naive_scan, search};

/// Nonces per measured iteration.
const NONCES: u64 = 1 << 16;

fn nonce_search(c: &mut Criterion) {
    // 255 bits: no nonce in range meets it, so every loop scans all it is given.
    let header = BlockHeader {
        version: BlockHeader::VERSION,
        merkle_root: MerkleRoot(dhash(b"bench")),
        difficulty_bits: 255,
        ..BlockHeader::default()
    };
    let template = NonceTemplate::new(&header);
    let prefix = header.bytes_before_nonce();
    let never = AtomicBool::new(false);

    let mut group = c.benchmark_group("nonce_search");
    group.throughput(Throughput::Elements(NONCES));
    group.bench_function("midstate_1_thread", |b| {
        b.iter(|| black_box(search(&template, 0..NONCES, NonZeroUsize::MIN, &never)))
    });
    group.bench_function("naive_1_thread", |b| {
        b.iter(|| black_box(naive_scan(&prefix, Difficulty::new(255), 0..NONCES)))
    });
    let two = NonZeroUsize::new(2).expect("2 > 0");
    group.throughput(Throughput::Elements(8 * NONCES));
    group.bench_function("midstate_2_threads", |b| {
        b.iter(|| black_box(search(&template, 0..8 * NONCES, two, &never)))
    });
    group.finish();
}

fn mining(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let block = synthetic::block(
        &mut rng,
        100,
        Difficulty::PAPER.bits(),
        Timestamp(1_700_000_000_000),
    );
    let miner = Miner::default();
    let never = AtomicBool::new(false);
    let mut group = c.benchmark_group("mining");
    group.bench_function("paper_difficulty_100_txs", |b| {
        b.iter(|| {
            let mut candidate = block.clone();
            black_box(miner.mine(&mut candidate, &mut rng, &never))
        })
    });
    group.finish();
}

criterion_group!(benches, nonce_search, mining);
criterion_main!(benches);
