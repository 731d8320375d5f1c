//! Flat rekeying: the new group key wrapped under every remaining member's individual key
//! (O(n) wrapped keys per rekey).

use std::collections::HashMap;

use rand::CryptoRng;

use crate::key::NodeKey;
use crate::message::{RekeyMessage, VehicleId, Welcome, WrappedKey};
use crate::scheme::{GroupKeyScheme, Rekey, RekeyError, check_changes};

/// The group key's node id in flat messages.
const GROUP_NODE: u32 = 0;

/// Flat rekeying.
#[derive(Debug, Clone)]
pub struct Flat {
    group: NodeKey,
    epoch: u64,
    members: HashMap<VehicleId, (u32, NodeKey)>,
    next_node: u32,
}

impl Flat {
    /// An empty group with a fresh key.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self {
            group: NodeKey::random(rng),
            epoch: 0,
            members: HashMap::new(),
            next_node: 1,
        }
    }
}

impl GroupKeyScheme for Flat {
    fn rekey<R: CryptoRng + ?Sized>(
        &mut self,
        joins: &[VehicleId],
        leaves: &[VehicleId],
        rng: &mut R,
    ) -> Result<Rekey, RekeyError> {
        check_changes(|v| self.members.contains_key(v), joins, leaves)?;
        for v in leaves {
            self.members.remove(v);
        }
        let mut welcomes = Vec::with_capacity(joins.len());
        for v in joins {
            let key = NodeKey::random(rng);
            self.members.insert(*v, (self.next_node, key.clone()));
            welcomes.push(Welcome {
                vehicle: *v,
                node: self.next_node,
                key,
            });
            self.next_node += 1;
        }
        self.group = NodeKey::random(rng);
        self.epoch += 1;
        let keys = self
            .members
            .values()
            .map(|(node, key)| WrappedKey {
                node: GROUP_NODE,
                under: *node,
                wrapped: key.wrap(&self.group),
            })
            .collect();
        Ok(Rekey {
            message: RekeyMessage {
                epoch: self.epoch,
                root: GROUP_NODE,
                keys,
            },
            welcomes,
        })
    }

    fn group_key(&self) -> &NodeKey {
        &self.group
    }

    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn members(&self) -> usize {
        self.members.len()
    }
}
