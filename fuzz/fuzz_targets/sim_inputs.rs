//! Reads arbitrary bytes as every file the simulator takes: a scenario (TOML), an events
//! file, SUMO floating-car data and a districts file. Nothing panics; a scenario that
//! parses is valid and survives a TOML round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_sim::Scenario;
use vkm_sim::sumo::{Districts, import_fcd};
use vkm_sim::traffic::read_events;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(scenario) = Scenario::from_toml(text) {
            assert!(scenario.validate().is_ok());
            assert_eq!(Scenario::from_toml(&scenario.to_toml()).ok(), Some(scenario));
        }
        let _ = Districts::parse(text);
    }
    let _ = read_events(data, 9);
    let _ = import_fcd(data, &Districts::Grid { rows: 3, cols: 3 });
});
