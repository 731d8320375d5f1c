//! Cryptography benchmarks: the rows of Lei et al. Table IV (ECIES encryption and
//! decryption for both backends, ECDSA signing, verification with `p256`'s reference and
//! with a registered key's tables), and Fig. 7: the cost of each operation against the
//! number of transactions (0 to 200), plus a block's parallel batch verification.

use std::collections::HashSet;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm::block::{KeyTransferTx, MemberId, Timestamp, serialize};
use vkm::transfer::directory::Directory;
use vkm::transfer::keys::{EncryptionPublic, EncryptionScheme, EncryptionSecret};
use vkm::transfer::scenario::Scenario;
use vkm::transfer::seal::Sealer;
use vkm::transfer::seal::ieee1609::Ieee1609Ecies;
use vkm::transfer::seal::secp256k1::EciesSecp256k1;
use vkm::transfer::signature::{RegisteredKey, sign, verify_reference};
use vkm::transfer::transfer::{build_key_transfer, check_key_transfers};

const NOW: Timestamp = Timestamp(1_700_000_000_000);

struct Setup {
    world: Scenario,
    k256_world: Scenario,
    plaintext: Vec<u8>,
    txs: Vec<KeyTransferTx>,
}

fn setup(txs: usize) -> Setup {
    let mut rng = StdRng::seed_from_u64(4);
    let world = Scenario::new(9, 1, EncryptionScheme::Ieee1609P256, &mut rng);
    let k256_world = Scenario::new(1, 1, EncryptionScheme::EciesSecp256k1, &mut rng);
    let vehicle = world
        .vehicle(0, NOW, 3_600_000, &mut rng)
        .expect("domain 0");
    let txs = world.round_robin_transfers(txs, &vehicle, NOW, &mut rng);
    Setup {
        plaintext: serialize(&vehicle),
        world,
        k256_world,
        txs,
    }
}

fn table_iv(c: &mut Criterion) {
    let s = setup(1);
    let mut rng = StdRng::seed_from_u64(5);
    let sm = &s.world.domains[0].security_managers[0];
    let k256 = &s.k256_world.domains[0].security_managers[0];
    let (EncryptionPublic::P256(p256_pub), EncryptionSecret::P256(p256_sec)) =
        (sm.keys.encryption_public(), &sm.keys.encryption)
    else {
        panic!("P-256 scenario")
    };
    let (EncryptionPublic::Secp256k1(k256_pub), EncryptionSecret::Secp256k1(k256_sec)) =
        (k256.keys.encryption_public(), &k256.keys.encryption)
    else {
        panic!("secp256k1 scenario")
    };
    let p1 = [7u8; 32];
    let sealed = Ieee1609Ecies
        .seal(&p256_pub, &p1, &s.plaintext, &mut rng)
        .expect("seal");
    let k256_sealed = EciesSecp256k1
        .seal(&k256_pub, &p1, &s.plaintext, &mut rng)
        .expect("seal");
    let preimage = s.txs[0].signing_preimage();
    let signature = sign(&sm.keys.signing, &preimage);
    let registered = RegisteredKey::new(*sm.keys.signing.verifying_key());

    let mut group = c.benchmark_group("table_iv");
    group.bench_function("ecies_encrypt/ieee1609_p256", |b| {
        b.iter(|| black_box(Ieee1609Ecies.seal(&p256_pub, &p1, &s.plaintext, &mut rng)))
    });
    group.bench_function("ecies_decrypt/ieee1609_p256", |b| {
        b.iter(|| black_box(Ieee1609Ecies.open(p256_sec, &p1, &sealed)))
    });
    group.bench_function("ecies_encrypt/secp256k1", |b| {
        b.iter(|| black_box(EciesSecp256k1.seal(&k256_pub, &p1, &s.plaintext, &mut rng)))
    });
    group.bench_function("ecies_decrypt/secp256k1", |b| {
        b.iter(|| black_box(EciesSecp256k1.open(k256_sec, &p1, &k256_sealed)))
    });
    group.bench_function("ecdsa_sign", |b| {
        b.iter(|| black_box(sign(&sm.keys.signing, &preimage)))
    });
    group.bench_function("ecdsa_verify/p256_reference", |b| {
        b.iter(|| {
            black_box(verify_reference(
                sm.keys.signing.verifying_key(),
                &preimage,
                &signature,
            ))
        })
    });
    group.bench_function("ecdsa_verify/registered_tables", |b| {
        b.iter(|| black_box(registered.verify(&preimage, &signature)))
    });
    group.finish();
}

/// Fig. 7: processing time of each operation for 0..=200 transactions (one SM's work for
/// a collection period), and a block's verification against its size.
fn fig7(c: &mut Criterion) {
    let s = setup(1000);
    let seen = HashSet::new();
    let mut group = c.benchmark_group("fig7_verify_block");
    group.sample_size(10);
    for n in [50usize, 100, 200, 1000] {
        group.bench_with_input(BenchmarkId::new("threads_1", n), &n, |b, &n| {
            b.iter(|| {
                black_box(check_key_transfers(
                    &s.txs[..n],
                    &s.world.directory,
                    &seen,
                    1,
                ))
            })
        });
        group.bench_with_input(BenchmarkId::new("threads_2", n), &n, |b, &n| {
            b.iter(|| {
                black_box(check_key_transfers(
                    &s.txs[..n],
                    &s.world.directory,
                    &seen,
                    2,
                ))
            })
        });
    }
    group.finish();

    let mut rng = StdRng::seed_from_u64(6);
    let sm = &s.world.domains[0].security_managers[0];
    let dest = s.world.directory.member(MemberId(2)).expect("registered");
    let vehicle = s
        .world
        .vehicle(0, NOW, 3_600_000, &mut rng)
        .expect("domain 0");
    let mut group = c.benchmark_group("fig7_build_transfers");
    group.sample_size(10);
    for n in [50usize, 100, 200] {
        group.bench_with_input(BenchmarkId::new("encrypt_and_sign", n), &n, |b, &n| {
            b.iter(|| {
                for i in 0..n {
                    black_box(
                        build_key_transfer(
                            &sm.keys, sm.id, i as u64, dest, NOW, &vehicle, &mut rng,
                        )
                        .expect("valid"),
                    );
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, table_iv, fig7);
criterion_main!(benches);
