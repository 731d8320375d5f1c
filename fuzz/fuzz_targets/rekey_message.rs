//! Decodes arbitrary bytes as a rekey message and a sealed BSM on the vehicle side: on
//! success the re-encoding equals the input, and a member applying it never panics.
#![no_main]

use std::sync::{LazyLock, Mutex};

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use vkm_block::{deserialize, serialize};
use vkm_rekey::{GroupKeyScheme, Lkh, RekeyMessage, SealedBsm, VehicleId, VehicleKeys};

static CAR: LazyLock<Mutex<VehicleKeys>> = LazyLock::new(|| {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut group = Lkh::new(4, &mut rng);
    let rekey = group.rekey(&[VehicleId(1), VehicleId(2)], &[], &mut rng).expect("fresh");
    let mut car = VehicleKeys::new(VehicleId(1));
    car.welcome(&rekey.welcomes[0]);
    car.apply(&rekey.message);
    Mutex::new(car)
});

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = deserialize::<RekeyMessage>(data) {
        assert_eq!(serialize(&message), data);
        let mut car = CAR.lock().unwrap_or_else(|e| e.into_inner());
        car.apply(&message);
    }
    if let Ok(bsm) = deserialize::<SealedBsm>(data) {
        assert_eq!(serialize(&bsm), data);
        let _ = CAR.lock().unwrap_or_else(|e| e.into_inner()).open(&bsm);
    }
});
