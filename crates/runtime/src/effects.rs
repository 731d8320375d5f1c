//! The one place where the protocol's actions become effects. A driver implements the
//! effects it has (send, timers, mining, what it records) and hands every batch of
//! actions to [`apply`] or [`apply_relay`]; no driver matches on an action itself.

use vkm_block::{Block, BlockHash, MemberId, Timestamp};
use vkm_node::relay::RelayAction;
use vkm_node::sm::{Action, Admission, Message, Refusal, Timer};
use vkm_node::vehicle::{DomainRekey, VehicleAction, VehicleError};
use vkm_rekey::SealedBsm;
use vkm_transfer::certificate::PseudonymId;
use vkm_transfer::crossing::{CrossingRequest, RsuId};
use vkm_transfer::traditional::RelayMessage;
use vkm_transfer::transfer::TransferError;

/// What a driver does for a security manager.
pub trait ManagerEffects {
    /// Sends `message` to every other security manager.
    fn broadcast(&mut self, message: Message);
    /// Sends `message` to security manager `to` (catching up).
    fn send(&mut self, to: MemberId, message: Message);
    /// Mines `candidate` (Algorithm 1), reporting [`vkm_node::sm::Event::Mined`] when
    /// solved.
    fn start_mining(&mut self, candidate: Block);
    /// Stops the mining job, if any (Algorithm 1's abort on a peer's proof).
    fn abort_mining(&mut self);
    /// Delivers [`vkm_node::sm::Event::Timer`] with `timer` at `at`.
    fn set_timer(&mut self, at: Timestamp, timer: Timer);
    /// A vehicle's keys were admitted into the domain.
    fn admitted(&mut self, admission: Admission) {
        let _ = admission;
    }
    /// The domain's group was rekeyed: broadcast the rekey (message and sealed welcomes)
    /// in the domain through its RSUs.
    fn rekeyed(&mut self, rekey: DomainRekey) {
        let _ = rekey;
    }
    /// A block is durably on the manager's best chain.
    fn committed(&mut self, height: u64, hash: BlockHash) {
        let _ = (height, hash);
    }
    /// Something offered was refused.
    fn refused(&mut self, refusal: Refusal) {
        let _ = refusal;
    }
}

/// Carries out a security manager's `actions`, in order, through `effects`.
pub fn apply(actions: Vec<Action>, effects: &mut (impl ManagerEffects + ?Sized)) {
    for action in actions {
        match action {
            Action::Broadcast(message) => effects.broadcast(message),
            Action::Send { to, message } => effects.send(to, message),
            Action::StartMining(candidate) => effects.start_mining(candidate),
            Action::AbortMining => effects.abort_mining(),
            Action::SetTimer { at, timer } => effects.set_timer(at, timer),
            Action::Admit(admission) => effects.admitted(admission),
            Action::Rekey(rekey) => effects.rekeyed(rekey),
            Action::Committed { height, hash } => effects.committed(height, hash),
            Action::Refused(refusal) => effects.refused(refusal),
        }
    }
}

/// What a driver does for a node of the traditional structure.
pub trait RelayEffects {
    /// Delivers `message` to its receiver.
    fn send(&mut self, message: RelayMessage);
    /// A vehicle's keys reached their destination and were admitted.
    fn admitted(&mut self, admission: Admission) {
        let _ = admission;
    }
    /// A hop was refused.
    fn refused(&mut self, error: TransferError) {
        let _ = error;
    }
}

/// Carries out a relay node's `actions`, in order, through `effects`.
pub fn apply_relay(actions: Vec<RelayAction>, effects: &mut (impl RelayEffects + ?Sized)) {
    for action in actions {
        match action {
            RelayAction::Send(message) => effects.send(message),
            RelayAction::Admit(admission) => effects.admitted(admission),
            RelayAction::Refused(error) => effects.refused(error),
        }
    }
}

/// What a driver does for a vehicle.
pub trait VehicleEffects {
    /// Sends a crossing request to the RSU (which hands it to its security manager).
    fn send_request(&mut self, rsu: RsuId, request: CrossingRequest);
    /// Sends a sealed pseudonym change to the RSU (which hands it to its manager).
    fn send_change(&mut self, rsu: RsuId, sealed: Vec<u8>);
    /// Broadcasts a BSM to the vehicles around it in `domain`.
    fn broadcast_bsm(&mut self, domain: MemberId, bsm: SealedBsm);
    /// Delivers `vkm_node::vehicle::VehicleEvent::Timer` to the vehicle at `at`.
    fn set_timer(&mut self, at: Timestamp);
    /// The vehicle holds `domain`'s group key of `epoch` (welcomed in).
    fn joined(&mut self, domain: MemberId, epoch: u64) {
        let _ = (domain, epoch);
    }
    /// The vehicle followed its domain's rekey to `epoch`.
    fn rekeyed(&mut self, domain: MemberId, epoch: u64) {
        let _ = (domain, epoch);
    }
    /// The vehicle's domain rekeyed without it.
    fn evicted(&mut self, domain: MemberId) {
        let _ = domain;
    }
    /// The vehicle read a BSM of its domain.
    fn opened(&mut self, domain: MemberId, payload: Vec<u8>) {
        let _ = (domain, payload);
    }
    /// The vehicle switched pseudonym.
    fn switched(&mut self, from: PseudonymId, to: PseudonymId) {
        let _ = (from, to);
    }
    /// Something failed at the vehicle.
    fn failed(&mut self, error: VehicleError) {
        let _ = error;
    }
}

/// Carries out a vehicle's `actions`, in order, through `effects`.
pub fn apply_vehicle(actions: Vec<VehicleAction>, effects: &mut (impl VehicleEffects + ?Sized)) {
    for action in actions {
        match action {
            VehicleAction::SendRequest { rsu, request } => effects.send_request(rsu, request),
            VehicleAction::SendChange { rsu, sealed } => effects.send_change(rsu, sealed),
            VehicleAction::Broadcast { domain, bsm } => effects.broadcast_bsm(domain, bsm),
            VehicleAction::SetTimer { at } => effects.set_timer(at),
            VehicleAction::Joined { domain, epoch } => effects.joined(domain, epoch),
            VehicleAction::Rekeyed { domain, epoch } => effects.rekeyed(domain, epoch),
            VehicleAction::Evicted { domain } => effects.evicted(domain),
            VehicleAction::Opened { domain, payload } => effects.opened(domain, payload),
            VehicleAction::Switched { from, to } => effects.switched(from, to),
            VehicleAction::Failed(error) => effects.failed(error),
        }
    }
}
