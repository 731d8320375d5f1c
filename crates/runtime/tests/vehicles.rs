//! Vehicles end to end, in a town of two domains over a real, locally mined chain: the
//! signed crossing request, the key transfer, the welcome sealed to the vehicle, the
//! rekeys, and BSMs read (or not) on both sides of the border.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use vkm_block::{MemberId, Timestamp};
use vkm_node::sm::{Event, Message, Refusal};
use vkm_node::vehicle::{VehicleEvent, open_welcome};
use vkm_rekey::GroupKeyScheme;
use vkm_rekey::vehicle::open_bsm;
use vkm_runtime::{Record, Town, TownConfig, World, WorldConfig};
use vkm_transfer::certificate::CertificateError;
use vkm_transfer::crossing::{CrossingRequest, RequestError, RsuId};

const T0: u64 = 1_700_000_000_000;
const HOUR: u64 = 3_600_000;

fn deadline(town: &Town, ms: u64) -> Timestamp {
    Timestamp(town.now().0 + ms)
}

fn joined(vehicle: usize, domain: MemberId) -> impl FnMut(&[Record]) -> bool {
    move |records| vkm_runtime::town::has_joined(records, vehicle, domain)
}

fn refusals(town: &Town) -> Vec<(MemberId, Refusal)> {
    town.refusals().map(|(m, r)| (m, r.clone())).collect()
}

/// A town of two domains with vehicles 0 (V) and 1 (X) in domain 1 and vehicle 2 (W) in
/// domain 2, each enrolled in its domain's group.
fn town() -> (World, Town) {
    let start = Timestamp(T0);
    let mut world = World::new(WorldConfig::new(2, 8, start, 3));
    let mut town = Town::new(&world, start, TownConfig::default()).unwrap();
    for (domain, manager) in [(0, 0), (0, 0), (1, 1)] {
        let pseudonym = world.pseudonym(domain, start, HOUR).unwrap();
        let v = town.add_vehicle(pseudonym, manager);
        let destination = town.managers()[manager].id();
        town.to_vehicle(
            v,
            VehicleEvent::Approach {
                destination,
                rsu: RsuId(0),
            },
        );
    }
    let end = deadline(&town, 5_000);
    let ok = town
        .run_until(end, |records| {
            records
                .iter()
                .filter(|r| matches!(r, Record::Joined { .. }))
                .count()
                == 3
        })
        .unwrap();
    assert!(ok, "every vehicle enrolled: {:?}", refusals(&town));
    (world, town)
}

#[test]
fn a_crossing_vehicle_reads_its_new_domain_and_not_its_old_one() {
    let (_world, mut town) = town();
    let (sm1, sm2) = (MemberId(1), MemberId(2));
    let (v, x, w) = (0, 1, 2);
    // V's view of domain 1 before it leaves.
    let (old_epoch, old_key) = {
        let (epoch, key) = town.vehicle(v).unwrap().keys().group_key().unwrap();
        (epoch, key.clone())
    };

    town.to_vehicle(
        v,
        VehicleEvent::Approach {
            destination: sm2,
            rsu: RsuId(4),
        },
    );
    let end = deadline(&town, 10_000);
    assert!(
        town.run_until(end, joined(v, sm2)).unwrap(),
        "{:?}",
        refusals(&town)
    );
    // The key transfer was mined and admitted by domain 2's manager.
    let request = town.last_request(v).unwrap().clone();
    assert!(town.records().iter().any(|r| matches!(r,
        Record::Admitted { manager, admission }
            if *manager == sm2 && admission.vehicle.materials == request.materials)));
    // Its welcome opens with its key only.
    let welcome_rekey = town
        .records()
        .iter()
        .rev()
        .find_map(|r| match r {
            Record::Rekeyed(rekey) if rekey.domain == sm2 && !rekey.welcomes.is_empty() => {
                Some(rekey.clone())
            }
            _ => None,
        })
        .unwrap();
    let sealed = welcome_rekey
        .welcomes
        .iter()
        .find(|s| s.pseudonym == request.materials.pseudonym)
        .unwrap();
    let epoch = welcome_rekey.message.epoch;
    let other = &town.vehicle(w).unwrap().current_pseudonym().encryption;
    assert!(open_welcome(sm2, epoch, other, sealed).is_err());
    let own = &town.vehicle(v).unwrap().current_pseudonym().encryption;
    assert!(open_welcome(sm2, epoch, own, sealed).is_ok());
    // W and V share domain 2's current key: V reads W's BSM.
    assert_eq!(
        town.vehicle(v).unwrap().keys().group_key().unwrap().1,
        town.managers()[1].group().scheme().group_key()
    );
    town.to_vehicle(w, VehicleEvent::Beacon(b"W at 39.90N 116.40E".to_vec()));
    let end = deadline(&town, 1_000);
    let read = town
        .run_until(end, |records| {
            records.iter().any(|r| matches!(r,
                Record::Opened { vehicle, payload } if *vehicle == v && payload == b"W at 39.90N 116.40E"))
        })
        .unwrap();
    assert!(read, "V reads W's BSM");

    // Domain 1 rekeyed without V: its key of before opens nothing X seals now.
    assert_eq!(town.vehicle(x).unwrap().domain(), Some(sm1));
    let x_epoch = town.vehicle(x).unwrap().epoch().unwrap();
    assert!(x_epoch > old_epoch, "domain 1 rekeyed after V left");
    town.to_vehicle(x, VehicleEvent::Beacon(b"X in domain 1".to_vec()));
    let end = deadline(&town, 1_000);
    town.run_until(end, |_| false).unwrap();
    let bsm = town.last_bsm(x).unwrap().clone();
    assert!(open_bsm(&old_key, &bsm).is_err(), "forward secrecy");
    assert!(refusals(&town).is_empty(), "{:?}", refusals(&town));
}

#[test]
fn forged_stale_replayed_and_revoked_requests_are_refused() {
    let (mut world, mut town) = town();
    let (sm1, sm2) = (MemberId(1), MemberId(2));
    let now = town.now();
    let v = town.vehicle(0).unwrap().current_pseudonym().clone();
    let thief = world.pseudonym(0, Timestamp(T0), HOUR).unwrap();
    // Forged: V's materials, the thief's signature.
    let mut forged = CrossingRequest::sign(&thief, sm2, RsuId(1), now);
    forged.materials = v.materials.clone();
    // Stale: signed a minute ago.
    let stale = CrossingRequest::sign(&v, sm2, RsuId(1), Timestamp(now.0 - 60_000));
    // Replayed: a fresh request delivered twice.
    let fresh = CrossingRequest::sign(&v, sm2, RsuId(1), now);
    for request in [forged, stale, fresh.clone(), fresh] {
        town.to_manager(
            0,
            Event::Crossing {
                request,
                via: RsuId(1),
            },
        );
    }
    // Revoked: the central manager revokes X's certificate; X's request after that block.
    let cm = world.central_managers()[0];
    let x = town.vehicle(1).unwrap().current_pseudonym().clone();
    let revocation = vkm_transfer::central::revocation(
        cm,
        &world.keys(cm).unwrap(),
        &[x.materials.certificate.id()],
        now,
    );
    town.to_manager(
        0,
        Event::Received {
            from: cm,
            message: Message::Registry(revocation),
        },
    );
    let end = deadline(&town, 10_000);
    // Revocation live: X is evicted from domain 1 at its manager's next rekey.
    let evicted = town
        .run_until(end, |records| {
            records
                .iter()
                .any(|r| matches!(r, Record::Evicted { vehicle: 1, domain } if *domain == sm1))
        })
        .unwrap();
    assert!(evicted, "{:?}", refusals(&town));
    assert!(town.vehicle(1).unwrap().keys().group_key().is_none());
    town.to_manager(
        0,
        Event::Crossing {
            request: CrossingRequest::sign(&x, sm2, RsuId(1), town.now()),
            via: RsuId(1),
        },
    );
    let end = deadline(&town, 100);
    town.run_until(end, |_| false).unwrap();

    let errors: Vec<RequestError> = refusals(&town)
        .into_iter()
        .filter_map(|(m, r)| match r {
            Refusal::Request { error, .. } if m == sm1 => Some(error),
            _ => None,
        })
        .collect();
    // X, evicted without leaving, asked to join again, and was refused; so was its
    // crossing.
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert_eq!(errors[0], RequestError::BadSignature);
    assert!(matches!(errors[1], RequestError::Stale { .. }));
    assert_eq!(errors[2], RequestError::Replayed);
    for error in &errors[3..] {
        assert_eq!(*error, RequestError::Certificate(CertificateError::Revoked));
    }
    // The one good request went through: V is admitted into domain 2.
    assert!(town.records().iter().any(|r| matches!(r,
        Record::Admitted { manager, admission } if *manager == sm2 && admission.vehicle.materials == v.materials)));
}

#[test]
fn a_refreshed_vehicle_stays_in_its_group_under_its_new_pseudonym() {
    use vkm_transfer::central::issue_pseudonym_set;
    use vkm_transfer::crossing::{ChangeError, PseudonymChange};
    let (world, mut town) = town();
    let (sm1, sm2) = (MemberId(1), MemberId(2));
    let x = 1;
    let cm = world.central_managers()[0];
    let set = issue_pseudonym_set(
        cm,
        &world.keys(cm).unwrap(),
        2,
        Timestamp(T0),
        Timestamp(T0 + HOUR),
        &mut rand::rng(),
    );
    let old = town.vehicle(x).unwrap().pseudonym();
    let new = set[0].materials.pseudonym;
    let epoch = town.vehicle(x).unwrap().epoch();
    let members = town.managers()[0].group_members();
    town.to_vehicle(x, VehicleEvent::NewPseudonyms(set));
    let manager_key = town.manager_key(0).unwrap();
    town.to_vehicle(
        x,
        VehicleEvent::SwitchPseudonym {
            rsu: RsuId(2),
            manager_key,
        },
    );
    let end = deadline(&town, 2_000);
    town.run_until(end, |_| false).unwrap();
    assert!(refusals(&town).is_empty(), "{:?}", refusals(&town));
    assert_eq!(town.vehicle(x).unwrap().pseudonym(), new);
    let group = town.managers()[0].group();
    assert!(group.contains(&new) && !group.contains(&old));
    assert_eq!(town.managers()[0].group_members(), members, "no rejoin");
    assert_eq!(town.vehicle(x).unwrap().epoch(), epoch, "no rekey");

    // It crosses under the new pseudonym: its old domain lets it go at the next rekey.
    town.to_vehicle(
        x,
        VehicleEvent::Approach {
            destination: sm2,
            rsu: RsuId(2),
        },
    );
    let end = deadline(&town, 10_000);
    assert!(
        town.run_until(end, joined(x, sm2)).unwrap(),
        "{:?}",
        refusals(&town)
    );
    let end = deadline(&town, 1_000);
    town.run_until(end, |_| false).unwrap();
    assert_eq!(town.managers()[0].group_members(), members - 1);

    // A change from a vehicle that is no member of domain 1 is refused.
    let w = town.vehicle(2).unwrap().current_pseudonym().clone();
    let other = world_pseudonym(&world);
    let sealed = PseudonymChange::sign(&w, &other, RsuId(0), town.now())
        .seal(sm1, &town.manager_key(0).unwrap(), &mut rand::rng())
        .unwrap();
    town.to_manager(
        0,
        Event::PseudonymChange {
            sealed,
            via: RsuId(0),
        },
    );
    let end = deadline(&town, 100);
    town.run_until(end, |_| false).unwrap();
    assert!(matches!(
        refusals(&town)[..],
        [(m, Refusal::Change(ChangeError::NotAMember))] if m == sm1
    ));
}

/// A fresh pseudonym of domain 1, certified by its central manager.
fn world_pseudonym(world: &World) -> vkm_transfer::central::Pseudonym {
    let cm = world.central_managers()[0];
    vkm_transfer::central::Pseudonym::issue(
        cm,
        &world.keys(cm).unwrap().signing,
        Timestamp(T0),
        Timestamp(T0 + HOUR),
        &mut rand::rng(),
    )
}
