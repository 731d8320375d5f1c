//! Rekeying a security domain with a logical key hierarchy (LKH): a thousand vehicles
//! join, then one collection period brings ten arrivals and ten departures in one batch
//! rekey. The broadcast wraps O(changes x log n) keys (a flat scheme wraps one per
//! member); a vehicle that left cannot read the next basic safety message (BSM), one
//! that joined can.
//!
//! Run: `cargo run --release --example rekey_domain`

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm::rekey::{Flat, GroupKeyScheme, Lkh, VehicleId, VehicleKeys};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut domain = Lkh::new(4, &mut rng);
    let members: Vec<VehicleId> = (0..1_000).map(VehicleId).collect();
    let first = domain.rekey(&members, &[], &mut rng)?;
    // Each vehicle takes its welcome (its leaf key and path, handed over privately).
    let mut cars: Vec<VehicleKeys> = first
        .welcomes
        .iter()
        .map(|welcome| {
            let mut car = VehicleKeys::new(welcome.vehicle);
            car.welcome(welcome);
            car.apply(&first.message);
            car
        })
        .collect();
    println!(
        "1,000 vehicles joined: epoch {}, {} wrapped keys",
        first.message.epoch,
        first.message.keys.len()
    );

    // One period: vehicles 1,000-1,009 arrive, 0-9 leave.
    let arrivals: Vec<VehicleId> = (1_000..1_010).map(VehicleId).collect();
    let departures: Vec<VehicleId> = (0..10).map(VehicleId).collect();
    let batch = domain.rekey(&arrivals, &departures, &mut rng)?;
    let mut flat = Flat::new(&mut rng);
    let flat_batch = flat.rekey(&members, &[], &mut rng)?;
    println!(
        "10 arrivals and 10 departures in one batch: {} wrapped keys (a flat scheme wraps {})",
        batch.message.keys.len(),
        flat_batch.message.keys.len()
    );
    for welcome in &batch.welcomes {
        let mut car = VehicleKeys::new(welcome.vehicle);
        car.welcome(welcome);
        cars.push(car);
    }
    let mut current = 0;
    for car in &mut cars {
        if car.apply(&batch.message) {
            current += 1;
        }
    }
    println!("{current} vehicles hold the new group key (990 stayed + 10 arrived)");

    // A staying vehicle broadcasts a BSM under the new group key.
    let sender = cars.get(500).ok_or("no vehicle 500")?;
    let bsm = sender.seal(b"BSM: 39.9042N 116.4074E, 13.9 m/s, heading 92", &mut rng)?;
    let newcomer = cars.last().ok_or("no newcomer")?;
    println!(
        "a newcomer reads it: {}",
        String::from_utf8_lossy(&newcomer.open(&bsm)?)
    );
    match cars[0].open(&bsm) {
        Err(e) => println!("a vehicle that left cannot: {e}"),
        Ok(_) => return Err("a departed vehicle read the BSM".into()),
    }
    Ok(())
}
