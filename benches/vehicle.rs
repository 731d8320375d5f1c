//! The vehicle side of a crossing, and what its managers do for it: the vehicle signs its
//! crossing request; the source manager checks it (certificate and proof of possession);
//! the destination seals the welcome (IEEE 1609.2 ECIES); the vehicle opens it and applies
//! the rekey (join); a member opens a BSM. One group of 200 members, as in the Beijing
//! scenario's districts.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm::block::{MemberId, Timestamp};
use vkm::ledger::Registry;
use vkm::node::DomainGroup;
use vkm::node::vehicle::{Vehicle, VehicleEvent, open_welcome};
use vkm::rekey::Lkh;
use vkm::transfer::crossing::{CrossingRequest, Freshness, RsuId};
use vkm::transfer::keys::EncryptionScheme;
use vkm::transfer::scenario::Scenario;

const NOW: Timestamp = Timestamp(1_700_000_000_000);
const HOUR: u64 = 3_600_000;

fn vehicle_side(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(18);
    let world = Scenario::new(2, 1, EncryptionScheme::Ieee1609P256, &mut rng);
    let pseudonym = world.pseudonym(0, NOW, HOUR, &mut rng).expect("domain");
    let (sm2, rsu) = (MemberId(2), RsuId(1));
    let request = CrossingRequest::sign(&pseudonym, sm2, rsu, NOW);

    // Domain 2's group with 199 members, and the rekey that welcomes the vehicle.
    let mut group = DomainGroup::new(Lkh::new(4, &mut rng));
    for _ in 0..199 {
        let other = world.pseudonym(1, NOW, HOUR, &mut rng).expect("domain");
        group.join(&other.materials).expect("valid keys");
    }
    group.rekey(sm2, &Registry::default(), &mut rng);
    group.join(&pseudonym.materials).expect("valid keys");
    let rekey = group
        .rekey(sm2, &Registry::default(), &mut rng)
        .expect("a join")
        .expect("rekey");
    let rekey = Arc::new(rekey);
    let sealed = rekey.welcomes[0].clone();
    let epoch = rekey.message.epoch;
    let welcome = open_welcome(sm2, epoch, &pseudonym.encryption, &sealed).expect("opens");
    let recipient = pseudonym
        .materials
        .certificate
        .encryption_public()
        .expect("key");

    let mut g = c.benchmark_group("vehicle");
    g.bench_function("sign_crossing_request", |b| {
        b.iter(|| black_box(CrossingRequest::sign(&pseudonym, sm2, rsu, NOW)))
    });
    g.bench_function("source_checks_request", |b| {
        b.iter(|| {
            request
                .check(&world.directory, rsu, NOW, Freshness::default())
                .expect("valid")
        })
    });
    g.bench_function("destination_seals_welcome", |b| {
        b.iter(|| {
            vkm::node::vehicle::seal_welcome(
                sm2,
                epoch,
                pseudonym.materials.pseudonym,
                pseudonym.materials.certificate.hashed_id8(),
                &recipient,
                &welcome,
                &mut rng,
            )
            .expect("seals")
        })
    });
    g.bench_function("vehicle_joins", |b| {
        b.iter(|| {
            let mut car = Vehicle::new(pseudonym.clone(), 1);
            black_box(car.handle(VehicleEvent::Rekey(rekey.clone()), NOW))
        })
    });
    let mut car = Vehicle::new(pseudonym.clone(), 1);
    car.handle(VehicleEvent::Rekey(rekey.clone()), NOW);
    let bsm = car
        .keys()
        .seal(b"BSM 39.9N 116.4E", &mut rng)
        .expect("member");
    g.bench_function("member_opens_bsm", |b| {
        b.iter(|| black_box(car.keys().open(&bsm).expect("opens")))
    });
    g.finish();
}

criterion_group!(benches, vehicle_side);
criterion_main!(benches);
