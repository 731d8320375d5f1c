//! The traditional structure's nodes (Lei et al. Figs. 3-4) as sans-IO state machines:
//! security managers originate and deliver, central managers relay, each hop with the real
//! verify, decrypt, re-encrypt and re-sign of `vkm-transfer`.

use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{MemberId, Timestamp};
use vkm_transfer::certificate::IdentityMaterials;
use vkm_transfer::directory::MemberDirectory;
use vkm_transfer::keys::MemberKeys;
use vkm_transfer::traditional::{RelayMessage, RelayedTransfer, deliver, originate, relay};
use vkm_transfer::transfer::TransferError;

use crate::sm::Admission;

/// What happens to a traditional-structure node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// An RSU reports a vehicle of this (security manager's) domain crossing.
    Crossing {
        /// The vehicle's identity materials.
        vehicle: IdentityMaterials,
        /// The destination security manager.
        destination: MemberId,
    },
    /// A hop addressed to this node.
    Received(RelayMessage),
}

/// The kind under which drivers count a relay's refused transfer, beside the security
/// managers' [`Refusal::kind`](crate::Refusal::kind).
pub const REFUSAL_KIND: &str = "relay_transfer";

/// What a traditional-structure node asks its runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayAction {
    /// Deliver to the message's receiver.
    Send(RelayMessage),
    /// A vehicle's keys arrived at its destination: admit it.
    Admit(Admission),
    /// A message was refused, with the reason.
    Refused(TransferError),
}

/// A security manager or central manager of the traditional structure.
pub struct RelayNode {
    id: MemberId,
    keys: MemberKeys,
    directory: Arc<MemberDirectory>,
    next_sequence: u64,
    rng: StdRng,
}

impl core::fmt::Debug for RelayNode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RelayNode")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl RelayNode {
    /// A node with its keys and the shared directory of members.
    pub fn new(id: MemberId, keys: MemberKeys, directory: Arc<MemberDirectory>, seed: u64) -> Self {
        Self {
            id,
            keys,
            directory,
            next_sequence: 0,
            rng: StdRng::seed_from_u64(seed ^ u64::from(id.0)),
        }
    }

    /// This node's id.
    pub fn id(&self) -> MemberId {
        self.id
    }

    /// Handles one event at time `now`.
    pub fn handle(&mut self, event: RelayEvent, now: Timestamp) -> Vec<RelayAction> {
        let result = match event {
            RelayEvent::Crossing {
                vehicle,
                destination,
            } => {
                let transfer = RelayedTransfer {
                    destination,
                    sequence: self.next_sequence,
                    timestamp: now,
                };
                self.next_sequence += 1;
                originate(
                    &self.keys,
                    self.id,
                    transfer,
                    &vehicle,
                    self.directory.as_ref(),
                    &mut self.rng,
                )
                .map(RelayAction::Send)
            }
            RelayEvent::Received(msg) if msg.destination == self.id => {
                deliver(&msg, &self.keys, self.id, self.directory.as_ref(), now).map(|vehicle| {
                    RelayAction::Admit(Admission {
                        vehicle,
                        crossed_at: msg.timestamp,
                        admitted_at: now,
                        txid: None,
                    })
                })
            }
            RelayEvent::Received(msg) => relay(
                &msg,
                &self.keys,
                self.id,
                self.directory.as_ref(),
                &mut self.rng,
            )
            .map(RelayAction::Send),
        };
        vec![result.unwrap_or_else(RelayAction::Refused)]
    }
}
