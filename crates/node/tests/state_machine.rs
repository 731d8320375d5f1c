//! The security-manager state machine driven in virtual time by a tiny deterministic
//! driver: crossings become transfers, periods end in mined blocks, every manager follows
//! the same chain, and each vehicle is admitted once by its destination.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{MemberId, Timestamp};
use vkm_ledger::Ledger;
use vkm_node::sm::{Action, Event, NodeConfig, SecurityManager};
use vkm_node::vehicle::{Vehicle, VehicleEvent};
use vkm_period::{CollectionPeriod, FixedPolicy};
use vkm_transfer::crossing::{CrossingRequest, RsuId};
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::rules::KeyTransferRules;
use vkm_transfer::scenario::Scenario;

mod common;

use common::{Queue, carry_out};

const T0: u64 = 1_700_000_000_000;

#[test]
fn managers_agree_on_one_chain_and_admit_every_vehicle() {
    managers_agree_and_rekey("lkh", |sm| sm);
}

/// The same run with every domain keyed by the flat scheme instead of LKH: the group is
/// the manager's `GroupKeyScheme` seam.
#[test]
fn managers_rekey_their_domains_with_any_group_key_scheme() {
    managers_agree_and_rekey("flat", |sm| {
        let mut rng = StdRng::seed_from_u64(u64::from(sm.id().0));
        sm.with_group(vkm_rekey::Flat::new(&mut rng))
    });
}

fn managers_agree_and_rekey<G: vkm_rekey::GroupKeyScheme>(
    name: &str,
    scheme: impl Fn(SecurityManager) -> SecurityManager<G>,
) {
    let mut rng = StdRng::seed_from_u64(8);
    let world = Scenario::new(3, 1, EncryptionScheme::Ieee1609P256, &mut rng);
    let genesis = world.genesis_block(8, Timestamp(T0));
    let dir = std::env::temp_dir().join(format!("vkm-sm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let period = CollectionPeriod::new(0.5).unwrap();
    let mut sms: Vec<SecurityManager<G>> = (1..=3u32)
        .map(|i| {
            let rules = KeyTransferRules::new(1);
            let ledger = Ledger::open(
                dir.join(format!("sm{i}.redb")),
                &genesis,
                vkm_node::chain_rules(&rules, 1),
            )
            .unwrap();
            let keys = world.keys(MemberId(i)).unwrap().clone();
            let config = NodeConfig {
                seed: 1,
                ..NodeConfig::default()
            };
            scheme(
                SecurityManager::new(
                    MemberId(i),
                    keys,
                    ledger,
                    rules,
                    Box::new(FixedPolicy(period)),
                    period,
                    config,
                )
                .unwrap(),
            )
        })
        .collect();

    let mut queue = Queue::default();
    for (i, sm) in sms.iter_mut().enumerate() {
        for action in sm.start(Timestamp(T0)) {
            if let Action::SetTimer { at, timer } = action {
                queue.push(at.0, i, Event::Timer(timer));
            }
        }
    }
    // Twelve vehicles cross, from every domain to the next, over three seconds.
    let mut vehicles = Vec::new();
    for v in 0..12u64 {
        let from = (v % 3) as usize;
        let pseudonym = world
            .pseudonym(from, Timestamp(T0), 3_600_000, &mut rng)
            .unwrap();
        let destination = MemberId(((from + 1) % 3) as u32 + 1);
        let at = T0 + 100 + v * 250;
        let request = CrossingRequest::sign(&pseudonym, destination, RsuId(0), Timestamp(at));
        queue.push(
            at,
            from,
            Event::Crossing {
                request,
                via: RsuId(0),
            },
        );
        vehicles.push(Vehicle::new(pseudonym, v));
    }
    // The first vehicle (admitted into domain 2) crosses on into domain 3 later.
    let request = CrossingRequest::sign(
        vehicles[0].current_pseudonym(),
        MemberId(3),
        RsuId(0),
        Timestamp(T0 + 4_000),
    );
    queue.push(
        T0 + 4_000,
        1,
        Event::Crossing {
            request,
            via: RsuId(0),
        },
    );

    let mut admissions = Vec::new();
    let end = T0 + 6_000;
    while let Some((at, target, event)) = queue.pop() {
        if at > end {
            break;
        }
        let actions = sms[target].handle(event, Timestamp(at)).unwrap();
        for action in carry_out(&mut queue, at, target, 3, actions, &mut rng) {
            match action {
                Action::Admit(admission) => admissions.push((target, admission)),
                Action::Rekey(rekey) => {
                    // Broadcast in the domain: every vehicle hears it (and ignores what is
                    // not for it).
                    let rekey = std::sync::Arc::new(rekey);
                    for car in &mut vehicles {
                        car.handle(VehicleEvent::Rekey(rekey.clone()), Timestamp(at));
                    }
                }
                Action::Refused(reason) => panic!("refused: {reason}"),
                _ => {}
            }
        }
    }

    let tip = sms[0].ledger().tip();
    assert!(sms.iter().all(|sm| sm.ledger().tip() == tip), "one chain");
    assert!(sms[0].ledger().height() >= 3);
    assert_eq!(admissions.len(), 13, "every crossing admitted once");
    // Group keys: each domain's vehicles, welcomed (each opening its sealed welcome) and
    // following its rekeys, hold the domain's current key; the vehicle that crossed on
    // holds domain 3's.
    for (domain, sm) in sms.iter().enumerate() {
        let id = MemberId(domain as u32 + 1);
        let holders: Vec<_> = vehicles.iter().filter(|v| v.domain() == Some(id)).collect();
        assert_eq!(holders.len(), sm.group_members(), "domain {domain}");
        for car in holders {
            let (_, key) = car.keys().group_key().unwrap();
            assert_eq!(key, sm.group().scheme().group_key(), "domain {domain}");
        }
    }
    assert_eq!(vehicles[0].domain(), Some(MemberId(3)));
    assert_eq!(
        sms[1].group_members(),
        4 - 1,
        "the first vehicle left domain 2"
    );
    for (target, admission) in &admissions {
        let delay = admission.admitted_at.0 - admission.crossed_at.0;
        assert!(
            delay <= 500 + 100,
            "delay {delay} ms exceeds a period plus slack"
        );
        assert_eq!(
            admission.vehicle.from,
            MemberId(((*target + 2) % 3) as u32 + 1)
        );
    }
    assert!(sms.iter().all(|sm| sm.mempool_len() == 0));
}

/// A vehicle that handles several crossings in one millisecond (a burst its on-board unit
/// took together) signs each at its own millisecond: a request's id covers its signing
/// time, so equal times would make the second a replay of the first, refused by a manager
/// and indistinguishable from it to anyone matching admissions to requests.
#[test]
fn a_vehicle_never_signs_two_requests_in_one_millisecond() {
    let mut rng = StdRng::seed_from_u64(9);
    let world = Scenario::new(3, 1, EncryptionScheme::Ieee1609P256, &mut rng);
    let pseudonym = world
        .pseudonym(0, Timestamp(T0), 3_600_000, &mut rng)
        .unwrap();
    let mut car = Vehicle::new(pseudonym, 1);
    let now = Timestamp(T0 + 1_000);
    let mut requests = Vec::new();
    // Into 2, back into 1, into 2 again through the same RSU: all at `now`.
    for destination in [2, 1, 2] {
        let event = VehicleEvent::Approach {
            destination: MemberId(destination),
            rsu: RsuId(2),
        };
        for action in car.handle(event, now) {
            if let vkm_node::vehicle::VehicleAction::SendRequest { request, .. } = action {
                requests.push(request);
            }
        }
    }
    let times: Vec<u64> = requests.iter().map(|r| r.signed_at.0).collect();
    assert_eq!(times, [now.0, now.0 + 1, now.0 + 2]);
    let ids: std::collections::HashSet<_> = requests.iter().map(|r| r.id()).collect();
    assert_eq!(ids.len(), 3);
    // A later event signs at its own time again.
    let later = Timestamp(now.0 + 50);
    let actions = car.handle(
        VehicleEvent::Approach {
            destination: MemberId(3),
            rsu: RsuId(2),
        },
        later,
    );
    assert!(actions.iter().any(|a| matches!(
        a,
        vkm_node::vehicle::VehicleAction::SendRequest { request, .. } if request.signed_at == later
    )));
}
