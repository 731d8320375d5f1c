//! Rekeying benchmarks: one batch rekey with 1 % churn (as many joins as leaves) for
//! 1,000, 10,000 and 100,000 members, LKH (4-ary) beside flat rekeying. Each iteration
//! rekeys a fresh copy of the same populated group.

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm::rekey::{Flat, GroupKeyScheme, Lkh, VehicleId};

fn populated<S: GroupKeyScheme>(mut scheme: S, n: u64, rng: &mut StdRng) -> S {
    let all: Vec<_> = (0..n).map(VehicleId).collect();
    scheme.rekey(&all, &[], rng).expect("fresh members");
    scheme
}

fn bench_scheme<S: GroupKeyScheme + Clone>(c: &mut Criterion, name: &str, scheme: S, n: u64) {
    let churn = n / 100;
    let leaves: Vec<_> = (0..churn).map(|i| VehicleId(i * 100)).collect();
    let joins: Vec<_> = (n..n + churn).map(VehicleId).collect();
    let mut rng = StdRng::seed_from_u64(n);
    let mut group = c.benchmark_group("rekey_1pct_churn");
    group.sample_size(10);
    group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
        b.iter_batched(
            || scheme.clone(),
            |mut s| {
                black_box(
                    s.rekey(&joins, &leaves, &mut rng)
                        .expect("valid churn")
                        .message
                        .keys
                        .len(),
                )
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn batch_rekey(c: &mut Criterion) {
    for n in [1_000u64, 10_000, 100_000] {
        let mut rng = StdRng::seed_from_u64(n);
        bench_scheme(c, "lkh", populated(Lkh::new(4, &mut rng), n, &mut rng), n);
        bench_scheme(c, "flat", populated(Flat::new(&mut rng), n, &mut rng), n);
    }
}

criterion_group!(benches, batch_rekey);
criterion_main!(benches);
