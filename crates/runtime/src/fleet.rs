//! The vehicles of a run, as the drivers that move them share them: each vehicle (an
//! on-board unit, [`Vehicle`]) under the identity the traffic gives it, where it is, the
//! crossings it waits to be welcomed after, and what the vehicles measured (welcome
//! delays, BSMs read or not). The drivers (the simulator, the in-process network) only
//! deliver: they hand a vehicle its events, time its work, and apply its actions through
//! [`crate::apply_vehicle`].

use std::collections::{HashMap, VecDeque};

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{MemberId, Timestamp};
use vkm_node::vehicle::{DomainRekey, Vehicle, VehicleAction, VehicleEvent};
use vkm_transfer::central::Pseudonym;
use vkm_transfer::crossing::CrossingRequest;

/// What the vehicles of a run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetStats {
    /// Vehicles that took part.
    pub vehicles: u64,
    /// Vehicles that joined the group of the domain they started in.
    pub enrolled: u64,
    /// Crossings after which the vehicle held its new domain's group key.
    pub welcomes_delivered: u64,
    /// For each of those: from the signed crossing request to holding the key, seconds.
    pub welcome_delays_s: Vec<f64>,
    /// Crossings after which the vehicle crossed on before it was welcomed (it is
    /// welcomed where it stays instead).
    pub welcomes_superseded: u64,
    /// Crossings still awaiting their welcome when the run ended.
    pub welcomes_awaited: u64,
    /// BSMs of their own domain's current epoch that members read.
    pub bsms_opened: u64,
    /// BSMs of their own domain's current epoch that members could not read.
    pub bsms_failed: u64,
    /// Rekey broadcasts the domains sent.
    pub rekeys: u64,
    /// Their bytes (the broadcast's encoding: rekey message and sealed welcomes).
    pub rekey_bytes: u64,
    /// Things that failed at vehicles (a welcome that did not open, say).
    pub failures: u64,
    /// What signing each crossing request cost its vehicle, seconds (as its driver
    /// measured it).
    pub request_s: Vec<f64>,
    /// What joining cost each vehicle (opening its welcome, unwrapping the rekey),
    /// seconds.
    pub join_s: Vec<f64>,
}

impl FleetStats {
    /// The welcome delay at quantile `q` (nearest rank), seconds; 0 without welcomes.
    pub fn welcome_delay_s(&self, q: f64) -> f64 {
        let mut sorted = self.welcome_delays_s.clone();
        sorted.sort_by(f64::total_cmp);
        match sorted.len() {
            0 => 0.0,
            n => sorted[((n - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize],
        }
    }

    /// Mean cost of signing a crossing request, microseconds.
    pub fn request_us_mean(&self) -> f64 {
        mean_us(&self.request_s)
    }

    /// Mean cost of joining (opening the welcome, unwrapping the rekey), microseconds.
    pub fn join_us_mean(&self) -> f64 {
        mean_us(&self.join_s)
    }
}

fn mean_us(costs: &[f64]) -> f64 {
    if costs.is_empty() {
        0.0
    } else {
        costs.iter().sum::<f64>() / costs.len() as f64 * 1e6
    }
}

/// The vehicles of a run and where they are.
pub struct Fleet {
    vehicles: Vec<Vehicle>,
    names: Vec<u64>,
    index: HashMap<u64, usize>,
    place: Vec<usize>,
    residents: Vec<Vec<usize>>,
    slot: Vec<usize>,
    /// Per vehicle: the crossings it made and is not welcomed after yet (when it signed,
    /// the destination).
    pending: Vec<VecDeque<(Timestamp, MemberId)>>,
    /// What the vehicles measured.
    pub stats: FleetStats,
    seed: u64,
    issuers: Issuers,
}

/// Who certifies the pseudonyms of vehicles that enter a fleet: each domain's central
/// manager (its id and signing key), and for how long.
#[derive(Clone)]
pub struct Issuers {
    /// Per domain (index), its central manager and signing key.
    pub central_managers: Vec<(MemberId, p256::ecdsa::SigningKey)>,
    /// Validity of the pseudonyms issued, ms.
    pub validity_ms: u64,
}

impl Issuers {
    /// The central managers of `world`'s domains, issuing pseudonyms valid `validity_ms`.
    pub fn of(world: &crate::World, validity_ms: u64) -> Result<Self, crate::RuntimeError> {
        let mut central_managers = Vec::new();
        for cm in world.central_managers() {
            central_managers.push((cm, world.keys(cm)?.signing));
        }
        Ok(Self {
            central_managers,
            validity_ms,
        })
    }
}

impl core::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Fleet")
            .field("vehicles", &self.vehicles.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// No vehicles yet, over `districts` districts (district `d` is domain `d`); `seed`
    /// seeds the vehicles' randomness; `issuers` certify the pseudonyms of vehicles that
    /// [`Fleet::enter`].
    pub fn new(districts: usize, seed: u64, issuers: Issuers) -> Self {
        Self {
            vehicles: Vec::new(),
            names: Vec::new(),
            index: HashMap::new(),
            place: Vec::new(),
            residents: vec![Vec::new(); districts],
            slot: Vec::new(),
            pending: Vec::new(),
            stats: FleetStats::default(),
            seed,
            issuers,
        }
    }

    /// Vehicle `name` enters `district` at `now` (once): a fresh pseudonym certified by
    /// the district's central manager; its index (`None` without an issuer).
    pub fn enter(&mut self, name: u64, district: usize, now: Timestamp) -> Option<usize> {
        if let Some(index) = self.find(name) {
            return Some(index);
        }
        let issuers = &self.issuers.central_managers;
        let (cm, key) = issuers.get(district).or_else(|| issuers.last())?;
        let until = Timestamp(now.0.saturating_add(self.issuers.validity_ms));
        let mut rng = StdRng::seed_from_u64(self.seed ^ name.rotate_left(29));
        let pseudonym = Pseudonym::issue(*cm, key, now, until, &mut rng);
        Some(self.add(name, pseudonym, district))
    }

    /// Adds vehicle `name` (the traffic's identity for it) with `pseudonym`, in
    /// `district`; its index. A name already there keeps its vehicle.
    pub fn add(&mut self, name: u64, pseudonym: Pseudonym, district: usize) -> usize {
        if let Some(&index) = self.index.get(&name) {
            return index;
        }
        let index = self.vehicles.len();
        let district = district.min(self.residents.len().saturating_sub(1));
        self.vehicles
            .push(Vehicle::new(pseudonym, self.seed ^ name.rotate_left(17)));
        self.names.push(name);
        self.index.insert(name, index);
        self.place.push(district);
        self.slot.push(self.residents[district].len());
        self.residents[district].push(index);
        self.pending.push(VecDeque::new());
        self.stats.vehicles += 1;
        index
    }

    /// The index of vehicle `name`.
    pub fn find(&self, name: u64) -> Option<usize> {
        self.index.get(&name).copied()
    }

    /// The traffic's identity of vehicle `index`.
    pub fn name(&self, index: usize) -> Option<u64> {
        self.names.get(index).copied()
    }

    /// Vehicles in the fleet.
    pub fn len(&self) -> usize {
        self.vehicles.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.vehicles.is_empty()
    }

    /// Vehicle `index`.
    pub fn vehicle(&self, index: usize) -> Option<&Vehicle> {
        self.vehicles.get(index)
    }

    /// Vehicle `index` handles `event` at `now`: its actions, and the wall-clock time
    /// the work took, seconds (recorded in [`FleetStats::request_s`] for a crossing
    /// request, [`FleetStats::join_s`] for a welcome).
    pub fn handle(
        &mut self,
        index: usize,
        event: VehicleEvent,
        now: Timestamp,
    ) -> (Vec<VehicleAction>, f64) {
        let Some(vehicle) = self.vehicles.get_mut(index) else {
            return (Vec::new(), 0.0);
        };
        let approach = matches!(event, VehicleEvent::Approach { .. });
        let started = std::time::Instant::now();
        let actions = vehicle.handle(event, now);
        let cost = started.elapsed().as_secs_f64();
        if approach {
            self.stats.request_s.push(cost);
        } else if actions
            .iter()
            .any(|a| matches!(a, VehicleAction::Joined { .. }))
        {
            self.stats.join_s.push(cost);
        }
        (actions, cost)
    }

    /// The district vehicle `index` is in.
    pub fn place(&self, index: usize) -> Option<usize> {
        self.place.get(index).copied()
    }

    /// The vehicles in `district`.
    pub fn residents(&self, district: usize) -> &[usize] {
        self.residents.get(district).map_or(&[], Vec::as_slice)
    }

    /// A vehicle in `district`, chosen with `rng` (`None` if nobody is there).
    pub fn pick<R: rand::Rng + ?Sized>(&self, district: usize, rng: &mut R) -> Option<usize> {
        use rand::RngExt;
        let here = self.residents(district);
        (!here.is_empty()).then(|| here[rng.random_range(0..here.len())])
    }

    /// Vehicle `index` drives into `district`.
    pub fn moved(&mut self, index: usize, district: usize) {
        let (Some(&from), true) = (self.place.get(index), district < self.residents.len()) else {
            return;
        };
        let slot = self.slot[index];
        self.residents[from].swap_remove(slot);
        if let Some(&other) = self.residents[from].get(slot) {
            self.slot[other] = slot;
        }
        self.slot[index] = self.residents[district].len();
        self.residents[district].push(index);
        self.place[index] = district;
    }

    /// Vehicle `index` sends `request` to the RSU of the district it is in, whose manager
    /// is `managers[here]`: returns `here`, and for a crossing (the destination is another
    /// district's manager) the district it enters, where it then is, its welcome awaited.
    pub fn request_sent(
        &mut self,
        index: usize,
        request: &CrossingRequest,
        managers: &[MemberId],
    ) -> Option<(usize, Option<usize>)> {
        let here = self.place(index)?;
        if managers.get(here) == Some(&request.destination) {
            return Some((here, None));
        }
        let Some(there) = managers.iter().position(|m| *m == request.destination) else {
            return Some((here, None));
        };
        self.crossing_requested(index, request.signed_at, request.destination);
        self.moved(index, there);
        Some((here, Some(there)))
    }

    /// Vehicle `index` signed a crossing request into `destination`'s domain at
    /// `signed_at`: its welcome there is awaited.
    fn crossing_requested(&mut self, index: usize, signed_at: Timestamp, destination: MemberId) {
        if let Some(pending) = self.pending.get_mut(index) {
            pending.push_back((signed_at, destination));
        }
    }

    /// Vehicle `index` holds `domain`'s group key since `at`: a welcome after a crossing
    /// (its delay recorded), or its enrolment.
    pub fn joined(&mut self, index: usize, domain: MemberId, at: Timestamp) {
        let Some(pending) = self.pending.get_mut(index) else {
            return;
        };
        // The latest crossing into `domain` is the one welcomed; those before it are done
        // with (it moved on before their welcome, or came back since).
        match pending.iter().rposition(|(_, to)| *to == domain) {
            Some(i) => {
                let mut signed_at = Timestamp(at.0);
                for _ in 0..=i {
                    if let Some((at_signing, _)) = pending.pop_front() {
                        signed_at = at_signing;
                    }
                }
                self.stats.welcomes_superseded += i as u64;
                self.stats.welcomes_delivered += 1;
                self.stats
                    .welcome_delays_s
                    .push(at.0.saturating_sub(signed_at.0) as f64 / 1000.0);
            }
            None => self.stats.enrolled += 1,
        }
    }

    /// What the vehicles measured, the crossings still awaiting a welcome counted.
    pub fn finish(mut self) -> FleetStats {
        self.stats.welcomes_awaited = self.pending.iter().map(|p| p.len() as u64).sum();
        self.stats
    }

    /// A domain broadcast `rekey` (counted with its size).
    pub fn rekey_sent(&mut self, rekey: &DomainRekey) {
        use vkm_block::Encode;
        self.stats.rekeys += 1;
        self.stats.rekey_bytes += rekey.encoded_len() as u64;
    }

    /// One member of `domain` in `district` broadcasts a BSM under its current group key,
    /// and every other member there of the same domain and epoch tries to read it
    /// (counted in [`FleetStats::bsms_opened`] and [`FleetStats::bsms_failed`]). Nothing
    /// if no member is there.
    pub fn probe(&mut self, district: usize, domain: MemberId, now: Timestamp) {
        let members: Vec<usize> = self
            .residents(district)
            .iter()
            .copied()
            .filter(|&v| self.vehicles[v].domain() == Some(domain))
            .collect();
        let Some((&sender, readers)) = members.split_first() else {
            return;
        };
        let Some(epoch) = self.vehicles[sender].epoch() else {
            return;
        };
        let mut rng = StdRng::seed_from_u64(self.seed ^ now.0);
        let Ok(bsm) = self.vehicles[sender].keys().seal(b"probe BSM", &mut rng) else {
            return;
        };
        for &reader in readers {
            if self.vehicles[reader].epoch() != Some(epoch) {
                continue; // its copy of the rekey is still on the air
            }
            match self.vehicles[reader].keys().open(&bsm) {
                Ok(_) => self.stats.bsms_opened += 1,
                Err(_) => self.stats.bsms_failed += 1,
            }
        }
    }
}
