//! Security managers and vehicles together on one machine, in virtual time: a small
//! deterministic world for demos, examples and tests of the whole path from a vehicle's
//! crossing request to the BSMs it reads in its new domain.
//!
//! Every manager has its own in-memory ledger and the same sans-IO state machine as in
//! every other driver; vehicles are [`vkm_node::vehicle::Vehicle`]s. What this driver
//! adds is only effects: messages between managers arrive after
//! [`TownConfig::message_delay_ms`], radio between vehicles and RSUs after
//! [`TownConfig::radio_delay_ms`], a candidate block is mined at once (real proof of
//! work at the world's difficulty), and each vehicle is somewhere: in the domain it last
//! crossed into, where it hears that domain's rekeys and BSMs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{Block, BlockHash, MemberId, Timestamp};
use vkm_node::sm::{Admission, Event, Message, NodeConfig, Refusal, SecurityManager, Timer};
use vkm_node::vehicle::{DomainRekey, Vehicle, VehicleError, VehicleEvent};
use vkm_period::{CollectionPeriod, FixedPolicy};
use vkm_pow::Miner;
use vkm_rekey::SealedBsm;
use vkm_transfer::central::Pseudonym;
use vkm_transfer::certificate::PseudonymId;
use vkm_transfer::crossing::{CrossingRequest, RsuId};
use vkm_transfer::keys::EncryptionPublic;

use crate::RuntimeError;
use crate::effects::{ManagerEffects, VehicleEffects, apply, apply_vehicle};
use crate::world::{Store, World};

/// Settings of a [`Town`].
#[derive(Debug, Clone, Copy)]
pub struct TownConfig {
    /// The managers' collection period, ms.
    pub period_ms: u64,
    /// Delay of a message between managers, ms.
    pub message_delay_ms: u64,
    /// Delay of the radio between a vehicle and an RSU (or another vehicle), ms.
    pub radio_delay_ms: u64,
    /// The managers' settings.
    pub node: NodeConfig,
}

impl Default for TownConfig {
    /// Half-second periods, 2 ms between managers, 5 ms on the radio.
    fn default() -> Self {
        Self {
            period_ms: 500,
            message_delay_ms: 2,
            radio_delay_ms: 5,
            node: NodeConfig::default(),
        }
    }
}

/// Who an input is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Manager(usize),
    Vehicle(usize),
}

#[derive(Debug)]
enum Input {
    Manager(Event),
    Vehicle(VehicleEvent),
}

/// What happened in a town, in order, for the caller to inspect.
#[derive(Debug, Clone)]
pub enum Record {
    /// Vehicle `vehicle` sent a crossing request through an RSU of the manager it was at.
    Request {
        /// The vehicle's index.
        vehicle: usize,
        /// The request.
        request: CrossingRequest,
    },
    /// A manager admitted a vehicle.
    Admitted {
        /// The manager's id.
        manager: MemberId,
        /// The admission.
        admission: Admission,
    },
    /// A manager committed a block to its best chain.
    Committed {
        /// The manager's id.
        manager: MemberId,
        /// Height.
        height: u64,
        /// Hash.
        hash: BlockHash,
    },
    /// A manager rekeyed its domain and broadcast it.
    Rekeyed(Arc<DomainRekey>),
    /// A manager refused something.
    Refused {
        /// The manager's id.
        manager: MemberId,
        /// Why.
        refusal: Refusal,
    },
    /// A vehicle holds the group key of `domain`'s epoch.
    Joined {
        /// The vehicle's index.
        vehicle: usize,
        /// The domain.
        domain: MemberId,
        /// Epoch.
        epoch: u64,
        /// When.
        at: Timestamp,
    },
    /// A vehicle left its domain's group (evicted by a rekey).
    Evicted {
        /// The vehicle's index.
        vehicle: usize,
        /// The domain.
        domain: MemberId,
    },
    /// A vehicle broadcast a BSM.
    Bsm {
        /// The sender's index.
        vehicle: usize,
        /// Its domain.
        domain: MemberId,
        /// The sealed BSM.
        bsm: SealedBsm,
    },
    /// A vehicle read a BSM.
    Opened {
        /// The reader's index.
        vehicle: usize,
        /// The payload.
        payload: Vec<u8>,
    },
    /// A vehicle switched pseudonym.
    Switched {
        /// The vehicle's index.
        vehicle: usize,
        /// The pseudonym before.
        from: PseudonymId,
        /// The pseudonym now.
        to: PseudonymId,
    },
    /// Something failed at a vehicle.
    Failed {
        /// The vehicle's index.
        vehicle: usize,
        /// Why.
        error: VehicleError,
    },
}

/// Security managers (one per domain of the world) and vehicles in virtual time.
pub struct Town {
    managers: Vec<SecurityManager>,
    vehicles: Vec<Vehicle>,
    /// The manager index of the domain each vehicle is in.
    places: Vec<usize>,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    inputs: HashMap<u64, (Target, Input)>,
    next: u64,
    now: Timestamp,
    config: TownConfig,
    rng: StdRng,
    records: Vec<Record>,
}

impl core::fmt::Debug for Town {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Town")
            .field("managers", &self.managers.len())
            .field("vehicles", &self.vehicles.len())
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl Town {
    /// The security managers of `world` (one per domain) on in-memory ledgers, started at
    /// `start`.
    pub fn new(world: &World, start: Timestamp, config: TownConfig) -> Result<Self, RuntimeError> {
        let period = CollectionPeriod::new(config.period_ms as f64 / 1000.0)?;
        let mut town = Self {
            managers: Vec::new(),
            vehicles: Vec::new(),
            places: Vec::new(),
            queue: BinaryHeap::new(),
            inputs: HashMap::new(),
            next: 0,
            now: start,
            config,
            rng: StdRng::seed_from_u64(world.seed()),
            records: Vec::new(),
        };
        for id in world.security_managers() {
            let mut sm = world.manager(
                id,
                &Store::Memory,
                Box::new(FixedPolicy(period)),
                period,
                config.node,
            )?;
            let actions = sm.start(start);
            town.managers.push(sm);
            town.carry_out_manager(town.managers.len() - 1, actions);
        }
        Ok(town)
    }

    /// The virtual clock.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The security managers, in the world's order.
    pub fn managers(&self) -> &[SecurityManager] {
        &self.managers
    }

    /// Vehicle `index`.
    pub fn vehicle(&self, index: usize) -> Option<&Vehicle> {
        self.vehicles.get(index)
    }

    /// The P-256 encryption key of manager `index` as the chain registers it (what its
    /// RSUs announce to vehicles); `None` for another scheme.
    pub fn manager_key(&self, index: usize) -> Option<p256::PublicKey> {
        let sm = self.managers.get(index)?;
        let member = sm.ledger().registry().security_manager(sm.id())?;
        match EncryptionPublic::from_chain(&member.encryption_key).ok()? {
            EncryptionPublic::P256(key) => Some(key),
            _ => None,
        }
    }

    /// What happened so far.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The last crossing request vehicle `vehicle` sent.
    pub fn last_request(&self, vehicle: usize) -> Option<&CrossingRequest> {
        self.records.iter().rev().find_map(|r| match r {
            Record::Request {
                vehicle: v,
                request,
            } if *v == vehicle => Some(request),
            _ => None,
        })
    }

    /// The last BSM vehicle `vehicle` broadcast.
    pub fn last_bsm(&self, vehicle: usize) -> Option<&SealedBsm> {
        self.records.iter().rev().find_map(|r| match r {
            Record::Bsm {
                vehicle: v, bsm, ..
            } if *v == vehicle => Some(bsm),
            _ => None,
        })
    }

    /// Whether vehicle `vehicle` was ever welcomed into `domain`'s group.
    pub fn has_joined(&self, vehicle: usize, domain: MemberId) -> bool {
        has_joined(&self.records, vehicle, domain)
    }

    /// Everything the managers refused, in order.
    pub fn refusals(&self) -> impl Iterator<Item = (MemberId, &Refusal)> {
        self.records.iter().filter_map(|r| match r {
            Record::Refused { manager, refusal } => Some((*manager, refusal)),
            _ => None,
        })
    }

    /// Places a vehicle using `pseudonym` in the domain of manager `manager` (index),
    /// not yet a member of its group; returns its index.
    pub fn add_vehicle(&mut self, pseudonym: Pseudonym, manager: usize) -> usize {
        let index = self.vehicles.len();
        self.vehicles.push(Vehicle::new(pseudonym, index as u64));
        self.places
            .push(manager.min(self.managers.len().saturating_sub(1)));
        index
    }

    /// Hands `event` to vehicle `index` now.
    pub fn to_vehicle(&mut self, index: usize, event: VehicleEvent) {
        self.push(self.now.0, Target::Vehicle(index), Input::Vehicle(event));
    }

    /// Hands `event` to manager `index` now.
    pub fn to_manager(&mut self, index: usize, event: Event) {
        self.push(self.now.0, Target::Manager(index), Input::Manager(event));
    }

    /// Runs until `done` holds for the records, or virtual time passes `deadline`;
    /// whether `done` held.
    pub fn run_until(
        &mut self,
        deadline: Timestamp,
        mut done: impl FnMut(&[Record]) -> bool,
    ) -> Result<bool, RuntimeError> {
        loop {
            if done(&self.records) {
                return Ok(true);
            }
            let Some(Reverse((at, id))) = self.queue.peek().copied() else {
                return Ok(false);
            };
            if at > deadline.0 {
                self.now = deadline;
                return Ok(false);
            }
            self.queue.pop();
            let Some((target, input)) = self.inputs.remove(&id) else {
                continue;
            };
            self.now = Timestamp(at);
            match (target, input) {
                (Target::Manager(m), Input::Manager(event)) => {
                    let actions = self.managers[m].handle(event, self.now)?;
                    self.carry_out_manager(m, actions);
                }
                (Target::Vehicle(v), Input::Vehicle(event)) => {
                    let actions = self.vehicles[v].handle(event, self.now);
                    let mut effects = VehicleStep {
                        town: self,
                        vehicle: v,
                    };
                    apply_vehicle(actions, &mut effects);
                }
                _ => {}
            }
        }
    }

    fn push(&mut self, at: u64, target: Target, input: Input) {
        self.next += 1;
        self.inputs.insert(self.next, (target, input));
        self.queue.push(Reverse((at, self.next)));
    }

    fn carry_out_manager(&mut self, manager: usize, actions: Vec<vkm_node::sm::Action>) {
        let mut effects = ManagerStep {
            town: self,
            manager,
        };
        apply(actions, &mut effects);
    }
}

/// Whether `records` say vehicle `vehicle` was welcomed into `domain`'s group (for
/// [`Town::run_until`]).
pub fn has_joined(records: &[Record], vehicle: usize, domain: MemberId) -> bool {
    records.iter().any(|r| {
        matches!(r, Record::Joined { vehicle: v, domain: d, .. } if *v == vehicle && *d == domain)
    })
}

/// A manager's effects in the town.
struct ManagerStep<'a> {
    town: &'a mut Town,
    manager: usize,
}

impl ManagerStep<'_> {
    fn id(&self) -> MemberId {
        self.town.managers[self.manager].id()
    }
}

impl ManagerEffects for ManagerStep<'_> {
    fn broadcast(&mut self, message: Message) {
        let from = self.id();
        let at = self.town.now.0 + self.town.config.message_delay_ms;
        for peer in (0..self.town.managers.len()).filter(|p| *p != self.manager) {
            let message = message.clone();
            self.town.push(
                at,
                Target::Manager(peer),
                Input::Manager(Event::Received { from, message }),
            );
        }
    }

    fn send(&mut self, to: MemberId, message: Message) {
        let from = self.id();
        let at = self.town.now.0 + self.town.config.message_delay_ms;
        if let Some(peer) = self.town.managers.iter().position(|m| m.id() == to) {
            self.town.push(
                at,
                Target::Manager(peer),
                Input::Manager(Event::Received { from, message }),
            );
        }
    }

    fn start_mining(&mut self, mut candidate: Block) {
        Miner::default().mine(&mut candidate, &mut self.town.rng, &AtomicBool::new(false));
        let at = self.town.now.0 + 1;
        self.town.push(
            at,
            Target::Manager(self.manager),
            Input::Manager(Event::Mined(candidate)),
        );
    }

    fn abort_mining(&mut self) {}

    fn set_timer(&mut self, at: Timestamp, timer: Timer) {
        self.town.push(
            at.0,
            Target::Manager(self.manager),
            Input::Manager(Event::Timer(timer)),
        );
    }

    fn admitted(&mut self, admission: Admission) {
        let manager = self.id();
        self.town
            .records
            .push(Record::Admitted { manager, admission });
    }

    fn rekeyed(&mut self, rekey: DomainRekey) {
        // Broadcast by the RSUs to every vehicle in the domain.
        let rekey = Arc::new(rekey);
        let at = self.town.now.0 + self.town.config.radio_delay_ms;
        for v in 0..self.town.vehicles.len() {
            if self.town.places[v] == self.manager {
                self.town.push(
                    at,
                    Target::Vehicle(v),
                    Input::Vehicle(VehicleEvent::Rekey(rekey.clone())),
                );
            }
        }
        self.town.records.push(Record::Rekeyed(rekey));
    }

    fn committed(&mut self, height: u64, hash: BlockHash) {
        let manager = self.id();
        self.town.records.push(Record::Committed {
            manager,
            height,
            hash,
        });
    }

    fn refused(&mut self, refusal: Refusal) {
        let manager = self.id();
        self.town.records.push(Record::Refused { manager, refusal });
    }
}

/// A vehicle's effects in the town.
struct VehicleStep<'a> {
    town: &'a mut Town,
    vehicle: usize,
}

impl VehicleEffects for VehicleStep<'_> {
    fn send_request(&mut self, rsu: RsuId, request: CrossingRequest) {
        // The RSU of the domain it is in hands the request to its manager; the vehicle
        // then drives on into the destination's domain.
        let here = self.town.places[self.vehicle];
        let at = self.town.now.0 + self.town.config.radio_delay_ms;
        if let Some(next) = self
            .town
            .managers
            .iter()
            .position(|m| m.id() == request.destination)
        {
            self.town.places[self.vehicle] = next;
        }
        self.town.records.push(Record::Request {
            vehicle: self.vehicle,
            request: request.clone(),
        });
        self.town.push(
            at,
            Target::Manager(here),
            Input::Manager(Event::Crossing { request, via: rsu }),
        );
    }

    fn set_timer(&mut self, at: Timestamp) {
        self.town.push(
            at.0,
            Target::Vehicle(self.vehicle),
            Input::Vehicle(VehicleEvent::Timer),
        );
    }

    fn send_change(&mut self, rsu: RsuId, sealed: Vec<u8>) {
        let here = self.town.places[self.vehicle];
        let at = self.town.now.0 + self.town.config.radio_delay_ms;
        self.town.push(
            at,
            Target::Manager(here),
            Input::Manager(Event::PseudonymChange { sealed, via: rsu }),
        );
    }

    fn switched(&mut self, from: PseudonymId, to: PseudonymId) {
        self.town.records.push(Record::Switched {
            vehicle: self.vehicle,
            from,
            to,
        });
    }

    fn broadcast_bsm(&mut self, domain: MemberId, bsm: SealedBsm) {
        let here = self.town.places[self.vehicle];
        let at = self.town.now.0 + self.town.config.radio_delay_ms;
        for v in 0..self.town.vehicles.len() {
            if v != self.vehicle && self.town.places[v] == here {
                let bsm = bsm.clone();
                self.town.push(
                    at,
                    Target::Vehicle(v),
                    Input::Vehicle(VehicleEvent::Bsm { domain, bsm }),
                );
            }
        }
        self.town.records.push(Record::Bsm {
            vehicle: self.vehicle,
            domain,
            bsm,
        });
    }

    fn joined(&mut self, domain: MemberId, epoch: u64) {
        let at = self.town.now;
        self.town.records.push(Record::Joined {
            vehicle: self.vehicle,
            domain,
            epoch,
            at,
        });
    }

    fn evicted(&mut self, domain: MemberId) {
        self.town.records.push(Record::Evicted {
            vehicle: self.vehicle,
            domain,
        });
    }

    fn opened(&mut self, _domain: MemberId, payload: Vec<u8>) {
        self.town.records.push(Record::Opened {
            vehicle: self.vehicle,
            payload,
        });
    }

    fn failed(&mut self, error: VehicleError) {
        self.town.records.push(Record::Failed {
            vehicle: self.vehicle,
            error,
        });
    }
}
