//! Block benchmarks: block preparation per mining round (Table III's tprep: shuffle,
//! merkle root, header) for 10 to 10,000 transactions, and decoding plus Algorithm 2 of
//! a 1,000-transaction block.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm::block::{Block, Timestamp, deserialize, serialize, synthetic};
use vkm::pow::{Candidate, NonceTemplate, verify_proof};

fn block_preparation(c: &mut Criterion) {
    let mut group = c.benchmark_group("block_preparation");
    for n in [10usize, 100, 1_000, 10_000] {
        let mut rng = StdRng::seed_from_u64(n as u64);
        let block = synthetic::block(&mut rng, n, 10, Timestamp(1_700_000_000_000));
        let mut candidate = Candidate::new(&block.transactions);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("shuffle_merkle_header", n), &n, |b, _| {
            b.iter(|| {
                let mut header = block.header;
                header.merkle_root = candidate.reshuffle(&mut rng);
                black_box(NonceTemplate::new(&header))
            })
        });
        group.bench_with_input(BenchmarkId::new("txids_once", n), &n, |b, _| {
            b.iter(|| black_box(Candidate::new(&block.transactions)))
        });
    }
    group.finish();
}

fn decode_and_prove(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut block = synthetic::block(&mut rng, 1_000, 8, Timestamp(1_700_000_000_000));
    let miner = vkm::pow::Miner::default();
    miner.mine(
        &mut block,
        &mut rng,
        &std::sync::atomic::AtomicBool::new(false),
    );
    let bytes = serialize(&block);
    let mut group = c.benchmark_group("decode_and_prove");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("1000_txs", |b| {
        b.iter(|| {
            let decoded: Block = deserialize(black_box(&bytes)).expect("valid block");
            black_box(verify_proof(&decoded).expect("mined block"))
        })
    });
    group.finish();
}

criterion_group!(benches, block_preparation, decode_and_prove);
criterion_main!(benches);
