//! Forward and backward secrecy, eviction, and agreement, for both schemes; message
//! encoding; and LKH's wrapped-key counts against flat rekeying.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::collections::HashMap;

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{deserialize, serialize};
use vkm_rekey::{BsmError, Flat, GroupKeyScheme, Lkh, RekeyMessage, VehicleId, VehicleKeys};

/// A domain: the scheme and every vehicle that ever joined.
struct Domain<S> {
    scheme: S,
    cars: HashMap<VehicleId, VehicleKeys>,
    rng: StdRng,
}

impl<S: GroupKeyScheme> Domain<S> {
    fn period(&mut self, joins: &[u64], leaves: &[u64]) -> RekeyMessage {
        let joins: Vec<_> = joins.iter().map(|&v| VehicleId(v)).collect();
        let leaves: Vec<_> = leaves.iter().map(|&v| VehicleId(v)).collect();
        let rekey = self.scheme.rekey(&joins, &leaves, &mut self.rng).unwrap();
        for welcome in &rekey.welcomes {
            self.cars
                .entry(welcome.vehicle)
                .or_insert_with(|| VehicleKeys::new(welcome.vehicle))
                .welcome(welcome);
        }
        // Every vehicle, member or not, hears the broadcast.
        for car in self.cars.values_mut() {
            car.apply(&rekey.message);
        }
        rekey.message
    }
}

fn check_secrecy<S: GroupKeyScheme>(scheme: S) {
    let mut d = Domain {
        scheme,
        cars: HashMap::new(),
        rng: StdRng::seed_from_u64(1),
    };
    d.period(&(1..=20).collect::<Vec<_>>(), &[]);
    let before = d.cars[&VehicleId(1)].seal(b"before", &mut d.rng).unwrap();

    // Vehicle 3 leaves, vehicle 21 joins, vehicle 7 is revoked: one batch rekey.
    d.period(&[21], &[3, 7]);
    let after = d.cars[&VehicleId(1)].seal(b"after", &mut d.rng).unwrap();
    for (id, car) in &d.cars {
        let member = ![3, 7].contains(&id.0);
        assert_eq!(car.group_key().is_some(), member, "{id:?}");
        if member {
            assert_eq!(
                car.group_key().unwrap().1,
                d.scheme.group_key(),
                "{id:?} agrees"
            );
            assert_eq!(car.open(&after).unwrap(), b"after");
        }
    }
    // Forward secrecy: the leaver and the revoked vehicle cannot read what follows.
    assert_eq!(
        d.cars[&VehicleId(3)].open(&after),
        Err(BsmError::NoGroupKey)
    );
    assert_eq!(
        d.cars[&VehicleId(7)].open(&after),
        Err(BsmError::NoGroupKey)
    );
    // Backward secrecy: the joiner cannot read what came before.
    assert_eq!(
        d.cars[&VehicleId(21)].open(&before),
        Err(BsmError::WrongEpoch(1))
    );
    let joiner_key = d.cars[&VehicleId(21)].group_key().unwrap().1.clone();
    assert_eq!(
        vkm_rekey::vehicle::open_bsm(&joiner_key, &before),
        Err(BsmError::CannotOpen)
    );
    // Members that stayed cannot read with a stale epoch either: it is refused, not guessed.
    assert_eq!(
        d.cars[&VehicleId(1)].open(&before),
        Err(BsmError::WrongEpoch(1))
    );
}

#[test]
fn flat_secrecy() {
    check_secrecy(Flat::new(&mut StdRng::seed_from_u64(9)));
}

#[test]
fn lkh_secrecy() {
    check_secrecy(Lkh::new(4, &mut StdRng::seed_from_u64(9)));
}

#[test]
fn refusals() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut lkh = Lkh::new(4, &mut rng);
    lkh.rekey(&[VehicleId(1)], &[], &mut rng).unwrap();
    assert!(lkh.rekey(&[VehicleId(1)], &[], &mut rng).is_err());
    assert!(lkh.rekey(&[], &[VehicleId(5)], &mut rng).is_err());
}

#[test]
fn lkh_wraps_far_fewer_keys_than_flat() {
    let mut rng = StdRng::seed_from_u64(3);
    let n = 10_000u64;
    let mut lkh = Lkh::new(4, &mut rng);
    let mut flat = Flat::new(&mut rng);
    let all: Vec<_> = (0..n).map(VehicleId).collect();
    lkh.rekey(&all, &[], &mut rng).unwrap();
    flat.rekey(&all, &[], &mut rng).unwrap();
    // 1% churn: 50 leave, 50 join.
    let leaves: Vec<_> = (0..50).map(|i| VehicleId(i * 97)).collect();
    let joins: Vec<_> = (n..n + 50).map(VehicleId).collect();
    let l = lkh
        .rekey(&joins, &leaves, &mut rng)
        .unwrap()
        .message
        .keys
        .len();
    let f = flat
        .rekey(&joins, &leaves, &mut rng)
        .unwrap()
        .message
        .keys
        .len();
    assert_eq!(f, n as usize);
    assert!(f >= 5 * l, "flat {f}, lkh {l}");
}

#[test]
fn rekey_messages_round_trip_and_refuse_garbage() {
    let mut rng = StdRng::seed_from_u64(4);
    let mut lkh = Lkh::new(3, &mut rng);
    let message = lkh
        .rekey(&(0..30).map(VehicleId).collect::<Vec<_>>(), &[], &mut rng)
        .unwrap()
        .message;
    assert_eq!(
        deserialize::<RekeyMessage>(&serialize(&message)).unwrap(),
        message
    );
    assert!(deserialize::<RekeyMessage>(&[0xff; 20]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn members_and_only_members_hold_the_group_key(
        periods in proptest::collection::vec((0u64..40, proptest::collection::vec(0u64..40, 0..6)), 1..8),
        arity in 2usize..6,
    ) {
        let mut d = Domain { scheme: Lkh::new(arity, &mut StdRng::seed_from_u64(5)), cars: HashMap::new(), rng: StdRng::seed_from_u64(6) };
        let mut members = std::collections::HashSet::new();
        for (join_count, leave_picks) in periods {
            let leaves: Vec<u64> = leave_picks.into_iter().filter(|v| members.contains(v)).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            for v in &leaves {
                members.remove(v);
            }
            let joins: Vec<u64> = (0..join_count).map(|i| 1000 + d.scheme.epoch() * 100 + i).collect();
            members.extend(joins.iter().copied());
            d.period(&joins, &leaves);
            for (id, car) in &d.cars {
                match car.group_key() {
                    Some((_, key)) => {
                        prop_assert!(members.contains(&id.0));
                        prop_assert_eq!(key, d.scheme.group_key());
                    }
                    None => prop_assert!(!members.contains(&id.0)),
                }
            }
        }
    }
}
