//! The one place where the protocol's actions become effects. A driver implements the
//! effects it has (send, timers, mining, what it records) and hands every batch of
//! actions to [`apply`] or [`apply_relay`]; no driver matches on an action itself.

use vkm_block::{Block, BlockHash, MemberId, Timestamp};
use vkm_node::relay::RelayAction;
use vkm_node::sm::{Action, Admission, Message, Refusal, Timer};
use vkm_rekey::Rekey;
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
    /// The domain's group was rekeyed: broadcast the message in the domain, hand each
    /// welcome to its joiner.
    fn rekeyed(&mut self, rekey: Rekey) {
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
