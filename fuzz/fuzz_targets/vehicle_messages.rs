//! Decodes arbitrary bytes as what vehicles and their managers exchange (a crossing
//! request, a pseudonym change, a domain's rekey broadcast with sealed welcomes); on success the re-encoding
//! must equal the input, and a vehicle handling the broadcast never panics.
#![no_main]

use std::sync::{Arc, LazyLock, Mutex};

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use vkm_block::{Timestamp, deserialize, serialize};
use vkm_node::vehicle::{DomainRekey, Vehicle, VehicleEvent};
use vkm_transfer::crossing::{CrossingRequest, PseudonymChange};
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::scenario::Scenario;

static CAR: LazyLock<Mutex<Vehicle>> = LazyLock::new(|| {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let world = Scenario::new(1, 1, EncryptionScheme::Ieee1609P256, &mut rng);
    let pseudonym = world
        .pseudonym(0, Timestamp(0), u64::MAX / 2, &mut rng)
        .expect("domain 0");
    Mutex::new(Vehicle::new(pseudonym, 0))
});

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = deserialize::<CrossingRequest>(data) {
        assert_eq!(serialize(&request), data);
        let _ = request.id();
    }
    if let Ok(change) = deserialize::<PseudonymChange>(data) {
        assert_eq!(serialize(&change), data);
        let _ = change.id();
    }
    if let Ok(rekey) = deserialize::<DomainRekey>(data) {
        assert_eq!(serialize(&rekey), data);
        if let Ok(mut car) = CAR.lock() {
            let _ = car.handle(VehicleEvent::Rekey(Arc::new(rekey)), Timestamp(1));
        }
    }
});
