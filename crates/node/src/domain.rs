//! A domain's secured group as its security manager keeps it: which pseudonyms are
//! members, and the joins and leaves waiting for the next batch rekey, over any
//! [`GroupKeyScheme`] (LKH by default, flat selectable).

use std::collections::HashMap;

use rand::CryptoRng;
use vkm_block::CertificateId;
use vkm_ledger::Registry;
use vkm_rekey::{GroupKeyScheme, Rekey, RekeyError, VehicleId};
use vkm_transfer::certificate::PseudonymId;

/// The members of a domain's group and the changes since its last rekey.
#[derive(Debug)]
pub struct DomainGroup<G> {
    scheme: G,
    members: HashMap<PseudonymId, (VehicleId, CertificateId)>,
    next_vehicle: u64,
    joins: Vec<VehicleId>,
    leaves: Vec<VehicleId>,
}

impl<G: GroupKeyScheme> DomainGroup<G> {
    /// An empty group keyed by `scheme`.
    pub fn new(scheme: G) -> Self {
        Self {
            scheme,
            members: HashMap::new(),
            next_vehicle: 0,
            joins: Vec::new(),
            leaves: Vec::new(),
        }
    }

    /// The rekeying scheme (its group key, epoch and members).
    pub fn scheme(&self) -> &G {
        &self.scheme
    }

    /// Members in the group's key tree.
    pub fn members(&self) -> usize {
        self.scheme.members()
    }

    /// The vehicle under `pseudonym` joins at the next rekey (unless it is a member).
    pub fn join(&mut self, pseudonym: PseudonymId, certificate: CertificateId) {
        if !self.members.contains_key(&pseudonym) {
            let id = VehicleId(self.next_vehicle);
            self.next_vehicle += 1;
            self.members.insert(pseudonym, (id, certificate));
            self.joins.push(id);
        }
    }

    /// The vehicle under `pseudonym` leaves at the next rekey (if it is a member).
    pub fn leave(&mut self, pseudonym: &PseudonymId) {
        if let Some((id, _)) = self.members.remove(pseudonym) {
            self.leaves.push(id);
        }
    }

    /// One rekey for everything that changed since the last: joins, leaves, and members
    /// whose certificate `registry` now revokes (Lei et al. III.A.3). `None` if nothing
    /// changed. A vehicle that joined and left within the period never enters the tree.
    pub fn rekey<R: CryptoRng + ?Sized>(
        &mut self,
        registry: &Registry,
        rng: &mut R,
    ) -> Option<Result<Rekey, RekeyError>> {
        let revoked: Vec<PseudonymId> = self
            .members
            .iter()
            .filter(|(_, (_, certificate))| registry.is_revoked(certificate))
            .map(|(pseudonym, _)| *pseudonym)
            .collect();
        for pseudonym in &revoked {
            self.leave(pseudonym);
        }
        if self.joins.is_empty() && self.leaves.is_empty() {
            return None;
        }
        let joins = std::mem::take(&mut self.joins);
        let leaves = std::mem::take(&mut self.leaves);
        let kept_joins: Vec<VehicleId> = joins
            .iter()
            .copied()
            .filter(|j| !leaves.contains(j))
            .collect();
        let kept_leaves: Vec<VehicleId> = leaves
            .iter()
            .copied()
            .filter(|l| !joins.contains(l))
            .collect();
        Some(self.scheme.rekey(&kept_joins, &kept_leaves, rng))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use vkm_rekey::Flat;

    #[test]
    fn a_vehicle_that_joins_and_leaves_within_a_period_never_enters() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut group = DomainGroup::new(Flat::new(&mut rng));
        let registry = Registry::default();
        assert!(
            group.rekey(&registry, &mut rng).is_none(),
            "nothing changed"
        );
        group.join(PseudonymId([1; 16]), CertificateId([1; 32]));
        group.join(PseudonymId([2; 16]), CertificateId([2; 32]));
        group.leave(&PseudonymId([2; 16]));
        let rekey = group
            .rekey(&registry, &mut rng)
            .expect("changed")
            .expect("rekey");
        assert_eq!(rekey.welcomes.len(), 1);
        assert_eq!(group.members(), 1);
        group.leave(&PseudonymId([1; 16]));
        group
            .rekey(&registry, &mut rng)
            .expect("changed")
            .expect("rekey");
        assert_eq!(group.members(), 0);
    }
}
