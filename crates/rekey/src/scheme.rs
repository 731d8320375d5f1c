//! The narrow trait both rekeying schemes implement.

use rand::CryptoRng;

use crate::key::NodeKey;
use crate::message::{RekeyMessage, VehicleId, Welcome};

/// What one batch rekey produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rekey {
    /// The broadcast to the domain.
    pub message: RekeyMessage,
    /// Each joiner's individual key, to hand over privately.
    pub welcomes: Vec<Welcome>,
}

/// Why a rekey is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RekeyError {
    /// A joiner is already a member.
    #[error("vehicle {0:?} is already a member")]
    AlreadyMember(VehicleId),
    /// A leaver is not a member.
    #[error("vehicle {0:?} is not a member")]
    NotMember(VehicleId),
}

/// Checks a batch: every leaver is a member, no joiner is one (unless it also leaves).
pub fn check_changes(
    is_member: impl Fn(&VehicleId) -> bool,
    joins: &[VehicleId],
    leaves: &[VehicleId],
) -> Result<(), RekeyError> {
    if let Some(v) = leaves.iter().find(|v| !is_member(v)) {
        return Err(RekeyError::NotMember(*v));
    }
    if let Some(v) = joins.iter().find(|v| is_member(v) && !leaves.contains(v)) {
        return Err(RekeyError::AlreadyMember(*v));
    }
    Ok(())
}

/// A domain's group key, changed by batch rekeys when members join and leave: the seam
/// between the security manager and the rekeying scheme.
pub trait GroupKeyScheme {
    /// Applies one period's joins and leaves in one rekey: a new group key that leavers
    /// cannot learn (forward secrecy) and joiners could not know before (backward secrecy).
    fn rekey<R: CryptoRng + ?Sized>(
        &mut self,
        joins: &[VehicleId],
        leaves: &[VehicleId],
        rng: &mut R,
    ) -> Result<Rekey, RekeyError>;

    /// The current group key.
    fn group_key(&self) -> &NodeKey;

    /// The current epoch (number of rekeys so far).
    fn epoch(&self) -> u64;

    /// Number of members.
    fn members(&self) -> usize;
}
