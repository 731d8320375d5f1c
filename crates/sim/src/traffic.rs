//! Crossings: generated from a scenario (Poisson arrivals on every flow of the grid, the
//! rate following the traffic profile), or replayed from an events file (SUMO import).

use std::io::{BufRead, Read};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::scenario::{MAX_DURATION_S, Scenario};

/// Most events an events file may hold.
pub const MAX_EVENTS: usize = 20_000_000;
/// Longest line of an events file, bytes.
pub const MAX_EVENT_LINE: usize = 256;

/// A vehicle crossing from one district into a neighbouring one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crossing {
    /// Seconds into the run.
    pub at: f64,
    /// The vehicle (an index; the same vehicle may cross many times).
    pub vehicle: u64,
    /// District it leaves (row-major index in the grid).
    pub from: usize,
    /// District it enters.
    pub to: usize,
}

/// The one-way flows of a grid: for every shared edge between neighbouring districts and
/// each of its highways, one flow each way.
pub fn grid_flows(scenario: &Scenario) -> Vec<(usize, usize)> {
    vkm_runtime::network::grid_flows(&scenario.grid())
}

/// The vehicles generated traffic starts with: `(vehicle, district)`, the scenario's
/// `vehicles.per_district` in every district, numbered from 1 district by district.
pub fn population(scenario: &Scenario) -> Vec<(u64, usize)> {
    let per = scenario.vehicles.per_district;
    (0..scenario.districts())
        .flat_map(|d| (0..per).map(move |k| ((d * per + k) as u64 + 1, d)))
        .collect()
}

/// Poisson crossings over the scenario's flows for its duration, by thinning at the peak
/// rate, so a time-of-day profile is followed exactly. Each crossing is made by a vehicle
/// that is in the district it leaves (one of the [`population`], chosen at random, or a
/// new vehicle if the district has none left), which is then in the district it enters:
/// a vehicle's successive crossings follow one trajectory.
#[derive(Debug)]
pub struct Generated<'a> {
    scenario: &'a Scenario,
    flows: Vec<(usize, usize)>,
    peak_rate: f64,
    rng: StdRng,
    t: f64,
    /// The vehicles in each district.
    residents: Vec<Vec<u64>>,
    /// Chooses which resident crosses (apart from `rng`, so the times and flows do not
    /// depend on the population).
    chooser: StdRng,
    next_vehicle: u64,
}

impl<'a> Generated<'a> {
    /// The crossings of `scenario`, reproducible from its seed.
    pub fn new(scenario: &'a Scenario) -> Self {
        let flows = grid_flows(scenario);
        let peak_rate = scenario.peak_vehicles_per_hour() * flows.len() as f64 / 3600.0;
        let mut residents = vec![Vec::new(); scenario.districts()];
        let start = population(scenario);
        let next_vehicle = start.len() as u64;
        for (vehicle, district) in start {
            residents[district].push(vehicle);
        }
        let seed = vkm_runtime::seeds::crossings(scenario.seed);
        Self {
            scenario,
            flows,
            peak_rate,
            rng: StdRng::seed_from_u64(seed),
            t: 0.0,
            residents,
            chooser: StdRng::seed_from_u64(seed ^ 0x7e41_c1e5_0b5e_55ed),
            next_vehicle,
        }
    }
}

impl Iterator for Generated<'_> {
    type Item = Crossing;

    fn next(&mut self) -> Option<Crossing> {
        if self.peak_rate <= 0.0 || self.flows.is_empty() {
            return None;
        }
        loop {
            let p: f64 = self.rng.random();
            self.t += -(1.0 - p).ln() / self.peak_rate;
            if self.t > self.scenario.duration_s {
                return None;
            }
            let rate =
                self.scenario.vehicles_per_hour_at(self.t) * self.flows.len() as f64 / 3600.0;
            let keep: f64 = self.rng.random();
            if keep * self.peak_rate <= rate {
                let (from, to) = self.flows[self.rng.random_range(0..self.flows.len())];
                let here = &mut self.residents[from];
                let vehicle = if here.is_empty() {
                    self.next_vehicle += 1;
                    self.next_vehicle
                } else {
                    let i = self.chooser.random_range(0..here.len());
                    here.swap_remove(i)
                };
                if let Some(there) = self.residents.get_mut(to) {
                    there.push(vehicle);
                }
                return Some(Crossing {
                    at: self.t,
                    vehicle,
                    from,
                    to,
                });
            }
        }
    }
}

/// An events file cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// Reading failed.
    #[error("events file: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not `vehicle,time_s,from,to`.
    #[error("events file line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// More than [`MAX_EVENTS`] events.
    #[error("events file has more than {MAX_EVENTS} events")]
    TooMany,
}

/// The header line of an events file.
pub const EVENTS_HEADER: &str = "vehicle,time_s,from,to";

/// Writes crossings as an events file (`vehicle,time_s,from,to`, one per line).
pub fn write_events(out: &mut dyn std::io::Write, events: &[Crossing]) -> std::io::Result<()> {
    writeln!(out, "{EVENTS_HEADER}")?;
    for e in events {
        writeln!(out, "{},{:.3},{},{}", e.vehicle, e.at, e.from, e.to)?;
    }
    Ok(())
}

/// Reads an events file: the header, then `vehicle,time_s,from,to` lines; districts must
/// be below `districts`, times finite and not negative. The result is sorted by time.
pub fn read_events(input: impl BufRead, districts: usize) -> Result<Vec<Crossing>, EventsError> {
    let mut events = Vec::new();
    let mut input = input;
    let bad = |line: usize, reason: String| EventsError::Line {
        line: line + 1,
        reason,
    };
    // Lines are read at most MAX_EVENT_LINE bytes at a time: an input without line breaks
    // is refused at its first long line, not held in memory.
    let mut buf = Vec::with_capacity(MAX_EVENT_LINE + 1);
    let mut next_line = |n: usize| -> Result<Option<String>, EventsError> {
        buf.clear();
        let read = (&mut input)
            .take(MAX_EVENT_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if read == 0 {
            return Ok(None);
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if line.len() > MAX_EVENT_LINE {
            return Err(bad(n, format!("longer than {MAX_EVENT_LINE} bytes")));
        }
        String::from_utf8(line.to_vec())
            .map(Some)
            .map_err(|_| bad(n, "not UTF-8 text".into()))
    };
    let header = next_line(0)?;
    if header.as_deref().map(str::trim) != Some(EVENTS_HEADER) {
        return Err(bad(0, format!("the first line must be `{EVENTS_HEADER}`")));
    }
    let mut n = 0;
    while let Some(line) = {
        n += 1;
        next_line(n)?
    } {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if events.len() == MAX_EVENTS {
            return Err(EventsError::TooMany);
        }
        let fields: Vec<&str> = line.split(',').collect();
        let [vehicle, at, from, to] = fields[..] else {
            return Err(bad(n, format!("expected 4 fields, found {}", fields.len())));
        };
        let vehicle = vehicle
            .trim()
            .parse::<u64>()
            .map_err(|e| bad(n, format!("vehicle: {e}")))?;
        let at = at
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|t| (0.0..=MAX_DURATION_S).contains(t))
            .ok_or_else(|| bad(n, format!("time_s must be within 0..={MAX_DURATION_S}")))?;
        let district = |s: &str, name: &str| {
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|d| *d < districts)
                .ok_or_else(|| bad(n, format!("{name} must be a district below {districts}")))
        };
        let (from, to) = (district(from, "from")?, district(to, "to")?);
        if from == to {
            return Err(bad(n, "from and to are the same district".into()));
        }
        events.push(Crossing {
            at,
            vehicle,
            from,
            to,
        });
    }
    events.sort_by(|a, b| a.at.total_cmp(&b.at));
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_rate_matches_the_scenario() {
        let scenario = Scenario::beijing_peak(20.0);
        let crossings: Vec<Crossing> = Generated::new(&scenario).collect();
        // 1.8 million an hour: 10,000 expected in 20 s, within 4 standard deviations.
        let n = crossings.len() as f64;
        assert!((n - 10_000.0).abs() < 400.0, "{n}");
        assert!(crossings.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(crossings.iter().all(|c| c.from != c.to && c.to < 9));
        // Reproducible from the seed.
        let again: Vec<Crossing> = Generated::new(&scenario).collect();
        assert_eq!(crossings, again);
    }

    #[test]
    fn profile_thinning_follows_the_level() {
        let mut scenario = Scenario::beijing_peak(600.0);
        scenario.traffic = crate::scenario::Traffic::Profile {
            profile: vec![(0.0, 3_000.0), (24.0, 3_000.0)],
            start_hour: 0.0,
        };
        scenario.grid.highways_per_edge = 1; // 24 flows
        // A flat profile at 3,000 on 24 flows: 20 a second, 12,000 in 600 s.
        let n = Generated::new(&scenario).count() as f64;
        assert!((n - 12_000.0).abs() < 450.0, "{n}");
    }

    #[test]
    fn malformed_event_files_are_refused_with_the_line() {
        let read = |text: &str| read_events(text.as_bytes(), 9);
        assert!(read("vehicle,time_s,from,to\n1,0.5,0,1\n").is_ok());
        for (text, line) in [
            ("nope\n", 1),
            ("vehicle,time_s,from,to\n1,0.5,0\n", 2),
            ("vehicle,time_s,from,to\n1,-1,0,1\n", 2),
            ("vehicle,time_s,from,to\n1,0,0,9\n", 2),
            ("vehicle,time_s,from,to\n\n1,NaN,0,1\n", 3),
            ("vehicle,time_s,from,to\n1,1,3,3\n", 2),
            ("vehicle,time_s,from,to\n1,1e15,0,1\n", 2),
            ("vehicle,time_s,from,to\n1,86400.5,0,1\n", 2),
        ] {
            match read(text) {
                Err(EventsError::Line { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_input_without_line_breaks_is_refused_at_its_first_long_line() {
        // An endless stream of zeros (as /dev/zero): refused after one bounded read.
        let endless = std::io::BufReader::new(std::io::repeat(b'0'));
        match read_events(endless, 9) {
            Err(EventsError::Line { line: 1, reason }) => assert!(reason.contains("longer")),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn events_round_trip(raw in prop::collection::vec((0u64..1000, 0u32..1_000_000, 0usize..9, 1usize..9), 0..50)) {
            let events: Vec<Crossing> = raw.iter().map(|&(vehicle, ms, from, step)| Crossing {
                at: f64::from(ms) / 1000.0, vehicle, from, to: (from + step) % 9,
            }).collect();
            let mut bytes = Vec::new();
            write_events(&mut bytes, &events).unwrap();
            let mut sorted = events.clone();
            sorted.sort_by(|a, b| a.at.total_cmp(&b.at));
            prop_assert_eq!(read_events(&bytes[..], 9).unwrap(), sorted);
        }

        /// Generated traffic moves vehicles, not pseudonyms: every vehicle's next crossing
        /// leaves the district its last one entered (or its starting district), and the
        /// vehicles in a district never run below zero.
        #[test]
        fn vehicles_keep_their_identity_across_crossings(
            seed in any::<u64>(),
            per_district in 0usize..6,
            vph in 1_000.0f64..20_000.0,
        ) {
            let mut scenario = Scenario::beijing_peak(4.0);
            scenario.seed = seed;
            scenario.vehicles.per_district = per_district;
            scenario.traffic = crate::scenario::Traffic::Constant { vehicles_per_hour: vph };
            let mut at: std::collections::HashMap<u64, usize> =
                population(&scenario).into_iter().collect();
            prop_assert_eq!(at.len(), per_district * scenario.districts());
            let crossings: Vec<Crossing> = Generated::new(&scenario).collect();
            let mut repeated = 0;
            for c in &crossings {
                match at.insert(c.vehicle, c.to) {
                    Some(place) => {
                        prop_assert_eq!(place, c.from, "vehicle {} jumped", c.vehicle);
                        repeated += 1;
                    }
                    // Only a district with nobody left brings in a new vehicle.
                    None => prop_assert!(c.vehicle > (per_district * scenario.districts()) as u64),
                }
            }
            if per_district > 0 && crossings.len() > 100 {
                prop_assert!(repeated > 0);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut input = b"vehicle,time_s,from,to\n".to_vec();
            input.extend_from_slice(&bytes);
            let _ = read_events(&input[..], 9);
        }
    }
}
