//! Registry transactions on the wire: a central manager registers a fourth security
//! manager mid-run, which starts from genesis, catches up from its peers, mines and
//! admits vehicles; a revocation mined mid-run refuses the vehicle from its block on; a
//! registry transaction nobody authorised is refused.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::{Queue, carry_out};
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{DomainName, MemberId, Role, Timestamp};
use vkm_ledger::Ledger;
use vkm_node::sm::{Action, Event, Message, NodeConfig, Refusal, SecurityManager};
use vkm_period::{CollectionPeriod, FixedPolicy};
use vkm_transfer::central::{registration, revocation};
use vkm_transfer::crossing::{CrossingRequest, RsuId};
use vkm_transfer::keys::{EncryptionScheme, MemberKeys};
use vkm_transfer::rules::KeyTransferRules;
use vkm_transfer::scenario::Scenario;

const T0: u64 = 1_700_000_000_000;

fn manager(
    dir: &std::path::Path,
    genesis: &vkm_block::Block,
    id: u32,
    keys: MemberKeys,
) -> SecurityManager {
    let period = CollectionPeriod::new(0.5).unwrap();
    let rules = KeyTransferRules::new(1);
    let ledger = Ledger::open(
        dir.join(format!("sm{id}.redb")),
        genesis,
        vkm_node::chain_rules(&rules, 1),
    )
    .unwrap();
    SecurityManager::new(
        MemberId(id),
        keys,
        ledger,
        rules,
        Box::new(FixedPolicy(period)),
        period,
        NodeConfig {
            seed: 1,
            ..NodeConfig::default()
        },
    )
    .unwrap()
}

#[test]
fn a_manager_registered_mid_run_catches_up_and_mines_and_a_revocation_takes_effect() {
    // Which manager mines each block is a draw; with 4 managers the newcomer wins none of
    // the ~8 blocks after it joins about one run in ten. Seed 11 was such a run once the
    // pseudonym certificates became IEEE 1609.2 tickets (the random stream moved); 12, 13
    // and 14 pass.
    let mut rng = StdRng::seed_from_u64(12);
    let world = Scenario::new(3, 1, EncryptionScheme::Ieee1609P256, &mut rng);
    let genesis = world.genesis_block(8, Timestamp(T0));
    let dir = std::env::temp_dir().join(format!("vkm-sm-registry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut sms: Vec<Option<SecurityManager>> = (1..=3u32)
        .map(|i| {
            Some(manager(
                &dir,
                &genesis,
                i,
                world.keys(MemberId(i)).unwrap().clone(),
            ))
        })
        .collect();
    // The fourth manager's keys exist from the start; it runs only from 4 s on.
    let new_keys = MemberKeys::generate(EncryptionScheme::Ieee1609P256, &mut rng);
    let new_member = new_keys.member(
        MemberId(4),
        Role::SecurityManager,
        DomainName::new("domain-4".to_string()).unwrap(),
    );
    sms.push(None);

    let cm = &world.domains[0].central_manager;
    let mut queue = Queue::default();
    for (i, sm) in sms.iter_mut().enumerate() {
        if let Some(sm) = sm {
            for action in sm.start(Timestamp(T0)) {
                if let Action::SetTimer { at, timer } = action {
                    queue.push(at.0, i, Event::Timer(timer));
                }
            }
        }
    }
    // A forged registration (signed by a security manager) and the real one (by the
    // central manager of domain 1), both offered to manager 1 at 1 s.
    let forged = registration(
        MemberId(2),
        world.keys(MemberId(2)).unwrap(),
        std::slice::from_ref(&new_member),
        Timestamp(T0 + 900),
    );
    let real = registration(cm.id, &cm.keys, &[new_member], Timestamp(T0 + 1_000));
    for tx in [forged, real] {
        queue.push(
            T0 + 1_000,
            0,
            Event::Received {
                from: cm.id,
                message: Message::Registry(tx),
            },
        );
    }
    // Vehicles cross every 200 ms from domain 1 to domain 2, and from 5 s on into the new
    // manager's domain; one vehicle is revoked at 2 s and crosses again at 4 s.
    let revoked = world
        .pseudonym(0, Timestamp(T0), 3_600_000, &mut rng)
        .unwrap();
    for k in 0..40u64 {
        let vehicle = world
            .pseudonym(0, Timestamp(T0), 3_600_000, &mut rng)
            .unwrap();
        let destination = if k >= 25 { MemberId(4) } else { MemberId(2) };
        let at = T0 + 200 + k * 200;
        let request = CrossingRequest::sign(&vehicle, destination, RsuId(0), Timestamp(at));
        queue.push(
            at,
            0,
            Event::Crossing {
                request,
                via: RsuId(0),
            },
        );
    }
    queue.push(
        T0 + 2_000,
        0,
        Event::Received {
            from: cm.id,
            message: Message::Registry(revocation(
                cm.id,
                &cm.keys,
                &[revoked.materials.certificate.id()],
                Timestamp(T0 + 2_000),
            )),
        },
    );
    queue.push(
        T0 + 4_000,
        0,
        Event::Crossing {
            request: CrossingRequest::sign(&revoked, MemberId(2), RsuId(0), Timestamp(T0 + 4_000)),
            via: RsuId(0),
        },
    );
    const JOIN: u64 = T0 + 4_000;
    let mut joined = false;
    let mut refusals = Vec::new();
    let mut admitted = [0usize; 4];
    let end = T0 + 14_000;
    while let Some((at, target, event)) = queue.pop() {
        if at > end {
            break;
        }
        if !joined && at >= JOIN {
            joined = true;
            let mut sm = manager(&dir, &genesis, 4, new_keys.clone());
            let started = sm.start(Timestamp(at));
            carry_out(&mut queue, at, 3, 4, started, &mut rng);
            sms[3] = Some(sm);
        }
        let Some(sm) = sms[target].as_mut() else {
            continue; // not running yet: lost
        };
        let actions = sm.handle(event, Timestamp(at)).unwrap();
        for action in carry_out(&mut queue, at, target, 4, actions, &mut rng) {
            match action {
                Action::Admit(_) => admitted[target] += 1,
                Action::Refused(reason) => refusals.push((target, reason)),
                _ => {}
            }
        }
    }

    let sms: Vec<SecurityManager> = sms.into_iter().map(Option::unwrap).collect();
    let tip = sms[0].ledger().tip();
    assert!(sms.iter().all(|sm| sm.ledger().tip() == tip), "one chain");
    let ledger = sms[3].ledger();
    assert!(ledger.registry().security_manager(MemberId(4)).is_some());
    assert!(sms[3].fault_counters().blocks_synced > 0, "it caught up");
    let mined_by_4 = (1..=ledger.height())
        .filter(|&h| ledger.block_at(h).unwrap().unwrap().miner == MemberId(4))
        .count();
    assert!(mined_by_4 > 0, "the new manager mines");
    assert_eq!(
        admitted[3], 15,
        "it admits the vehicles crossing into its domain"
    );
    assert_eq!(admitted[1], 25);
    // The forged registration was refused where it was offered; the revoked vehicle's
    // second crossing too, and nothing else was.
    assert!(
        refusals
            .iter()
            .any(|(t, r)| *t == 0 && matches!(r, Refusal::Registry(_))),
        "{refusals:?}"
    );
    assert!(
        refusals
            .iter()
            .any(|(t, r)| *t == 0 && matches!(r, Refusal::Request { .. })),
        "{refusals:?}"
    );
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert!(
        ledger
            .registry()
            .is_revoked(&revoked.materials.certificate.id())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
