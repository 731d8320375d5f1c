//! Security managers on an in-memory chain, and a vehicle crossing between their domains
//! (Lei et al. Fig. 5): the vehicle's signed crossing request, the source manager's key
//! transfer, the block that carries it, the destination's admission and rekey, and the
//! vehicle reading a BSM in its new domain. Prints the trace the managers and the vehicles
//! leave (virtual time, real cryptography and proof of work).
//!
//! Run: `cargo run --release --example vehicle_crossing`

use vkm::block::{MemberId, Timestamp};
use vkm::node::vehicle::VehicleEvent;
use vkm::runtime::town::has_joined;
use vkm::runtime::{Record, Town, TownConfig, World, WorldConfig};
use vkm::transfer::crossing::RsuId;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Timestamp::now();
    // Two domains, one security manager each, the paper's difficulty (10 bits), seed 1.
    let mut world = World::new(WorldConfig::new(2, 10, start, 1));
    let mut town = Town::new(&world, start, TownConfig::default())?;
    let (sm1, sm2) = (MemberId(1), MemberId(2));
    let pseudonym = world.pseudonym(0, start, 3_600_000).ok_or("no domain 1")?;
    let other = world.pseudonym(1, start, 3_600_000).ok_or("no domain 2")?;
    let v = town.add_vehicle(pseudonym, 0);
    let w = town.add_vehicle(other, 1);
    // Both come online in their domains, then V crosses into domain 2.
    for (vehicle, destination) in [(v, sm1), (w, sm2)] {
        town.to_vehicle(
            vehicle,
            VehicleEvent::Approach {
                destination,
                rsu: RsuId(0),
            },
        );
    }
    let deadline = Timestamp(town.now().0 + 30_000);
    town.run_until(deadline, |r| has_joined(r, v, sm1) && has_joined(r, w, sm2))?;
    let before = town.records().len();
    town.to_vehicle(
        v,
        VehicleEvent::Approach {
            destination: sm2,
            rsu: RsuId(1),
        },
    );
    let deadline = Timestamp(town.now().0 + 60_000);
    if !town.run_until(deadline, |r| has_joined(r, v, sm2))? {
        return Err("vehicle V was not welcomed into domain 2".into());
    }
    // W broadcasts a BSM in domain 2; V, now a member, reads it.
    town.to_vehicle(
        w,
        VehicleEvent::Beacon(b"BSM from W: 12.5 m/s, heading 87".to_vec()),
    );
    let deadline = Timestamp(town.now().0 + 5_000);
    let read = town.run_until(deadline, |r| {
        r.iter()
            .any(|x| matches!(x, Record::Opened { vehicle, .. } if *vehicle == v))
    })?;
    if !read {
        return Err("vehicle V did not read W's BSM".into());
    }

    println!("vehicle {v} (V) crosses from domain 1 into domain 2, where vehicle {w} (W) is:");
    for record in &town.records()[before..] {
        let line = match record {
            Record::Request { vehicle, request } => format!(
                "vehicle {vehicle} signs a crossing request to SM {} ({} bytes on the air)",
                request.destination.0,
                request.to_bytes().len()
            ),
            Record::Committed {
                manager,
                height,
                hash,
            } => {
                format!(
                    "SM {} commits block {height} ({})",
                    manager.0,
                    &hash.to_string()[..16]
                )
            }
            Record::Admitted { manager, admission } => format!(
                "SM {} admits the vehicle's keys (transfer {})",
                manager.0,
                admission
                    .txid
                    .map(|t| t.to_string()[..16].to_string())
                    .unwrap_or_default()
            ),
            Record::Rekeyed(rekey) => format!(
                "SM {} rekeys its domain: epoch {}, {} welcome(s)",
                rekey.domain.0,
                rekey.message.epoch,
                rekey.welcomes.len()
            ),
            Record::Joined {
                vehicle,
                domain,
                epoch,
                ..
            } => {
                format!(
                    "vehicle {vehicle} holds domain {}'s group key, epoch {epoch}",
                    domain.0
                )
            }
            Record::Bsm {
                vehicle, domain, ..
            } => {
                format!("vehicle {vehicle} broadcasts a BSM in domain {}", domain.0)
            }
            Record::Opened { vehicle, payload } => format!(
                "vehicle {vehicle} reads it: {}",
                String::from_utf8_lossy(payload)
            ),
            _ => continue,
        };
        println!("  {line}");
    }
    Ok(())
}
