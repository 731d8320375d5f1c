//! A domain's secured group as its security manager keeps it: which pseudonyms are
//! members, and the joins and leaves waiting for the next batch rekey, over any
//! [`GroupKeyScheme`] (LKH by default, flat selectable).

use std::collections::HashMap;

use p256::PublicKey;
use rand::CryptoRng;
use vkm_block::{CertificateId, MemberId};
use vkm_ledger::Registry;
use vkm_rekey::{GroupKeyScheme, RekeyError, VehicleId};
use vkm_transfer::certificate::{CertificateError, IdentityMaterials, PseudonymId};
use vkm_transfer::seal::SealError;

use crate::vehicle::{DomainRekey, seal_welcome};

/// A member as the group keeps it: its handle in the key tree, its certificate (for
/// revocation) and its pseudonym's encryption key (for its welcome).
#[derive(Debug, Clone)]
struct MemberEntry {
    vehicle: VehicleId,
    certificate: CertificateId,
    encryption: PublicKey,
    verifying: vkm_block::PublicKeyBytes,
}

/// Why a domain's group could not be rekeyed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The rekeying scheme refused the batch.
    #[error(transparent)]
    Rekey(#[from] RekeyError),
    /// A welcome could not be sealed.
    #[error("sealing a welcome: {0}")]
    Seal(#[from] SealError),
}

/// The members of a domain's group and the changes since its last rekey.
#[derive(Debug)]
pub struct DomainGroup<G> {
    scheme: G,
    members: HashMap<PseudonymId, MemberEntry>,
    pseudonyms: HashMap<VehicleId, PseudonymId>,
    next_vehicle: u64,
    joins: Vec<VehicleId>,
    leaves: Vec<VehicleId>,
    /// Vehicles that left before their admission here (they crossed on while their
    /// transfer was still being mined), with when they left: their admission does not
    /// make them members.
    departed: HashMap<PseudonymId, vkm_block::Timestamp>,
    /// Added to the scheme's epochs in what is broadcast, so that a manager restarted
    /// with an empty group never reuses an epoch its vehicles already saw.
    epoch_base: u64,
}

impl<G: GroupKeyScheme> DomainGroup<G> {
    /// An empty group keyed by `scheme`.
    pub fn new(scheme: G) -> Self {
        Self {
            scheme,
            members: HashMap::new(),
            pseudonyms: HashMap::new(),
            next_vehicle: 0,
            joins: Vec::new(),
            leaves: Vec::new(),
            departed: HashMap::new(),
            epoch_base: 0,
        }
    }

    /// The rekeying scheme (its group key, epoch and members).
    pub fn scheme(&self) -> &G {
        &self.scheme
    }

    /// Numbers this group's epochs from `base` on (a manager sets it from its clock when
    /// it starts).
    pub fn set_epoch_base(&mut self, base: u64) {
        self.epoch_base = base;
    }

    /// The epoch of the current group key as broadcast.
    pub fn epoch(&self) -> u64 {
        self.epoch_base.saturating_add(self.scheme.epoch())
    }

    /// Members in the group's key tree.
    pub fn members(&self) -> usize {
        self.scheme.members()
    }

    /// Whether the vehicle under `pseudonym` is a member (or joins at the next rekey).
    pub fn contains(&self, pseudonym: &PseudonymId) -> bool {
        self.members.contains_key(pseudonym)
    }

    /// The certified verification key and the certificate of member `pseudonym` (what a
    /// pseudonym change is checked against).
    pub fn member_keys(
        &self,
        pseudonym: &PseudonymId,
    ) -> Option<(vkm_block::PublicKeyBytes, CertificateId)> {
        self.members
            .get(pseudonym)
            .map(|m| (m.verifying, m.certificate))
    }

    /// The vehicle with these (checked) identity materials joins at the next rekey,
    /// unless it is a member or has left already ([`DomainGroup::depart`]); its welcome
    /// will be sealed to the certificate's encryption key. Whether it joins.
    pub fn join(&mut self, materials: &IdentityMaterials) -> Result<bool, CertificateError> {
        if self.members.contains_key(&materials.pseudonym)
            || self.departed.remove(&materials.pseudonym).is_some()
        {
            return Ok(false);
        }
        let encryption = materials.certificate.encryption_public()?;
        let id = VehicleId(self.next_vehicle);
        self.next_vehicle += 1;
        self.members.insert(
            materials.pseudonym,
            MemberEntry {
                vehicle: id,
                certificate: materials.certificate.id(),
                encryption,
                verifying: materials.certificate.pseudonym_key(),
            },
        );
        self.pseudonyms.insert(id, materials.pseudonym);
        self.joins.push(id);
        Ok(true)
    }

    /// The vehicle with these (checked) identity materials asks, from inside the domain,
    /// to join: it joins at the next rekey whatever it did before; a member asking again
    /// lost its keys (a rekey missed on the radio) and joins afresh, at a new place in the
    /// key tree.
    pub fn enrol(&mut self, materials: &IdentityMaterials) -> Result<bool, CertificateError> {
        self.leave(&materials.pseudonym);
        self.departed.remove(&materials.pseudonym);
        self.join(materials)
    }

    /// The vehicle under `pseudonym` crossed out of the domain at `now`: it leaves at the
    /// next rekey if it is a member; if it is not one yet (its transfer here is still
    /// being mined), its admission will not make it one.
    pub fn depart(&mut self, pseudonym: &PseudonymId, now: vkm_block::Timestamp) {
        if self.members.contains_key(pseudonym) {
            self.leave(pseudonym);
        } else {
            self.departed.insert(*pseudonym, now);
        }
    }

    /// Forgets departures recorded before `before` (their transfers are long admitted or
    /// lost).
    pub fn forget_departures_before(&mut self, before: vkm_block::Timestamp) {
        self.departed.retain(|_, at| *at >= before);
    }

    /// The vehicle under `pseudonym` leaves at the next rekey (if it is a member).
    pub fn leave(&mut self, pseudonym: &PseudonymId) {
        if let Some(entry) = self.members.remove(pseudonym) {
            self.pseudonyms.remove(&entry.vehicle);
            self.leaves.push(entry.vehicle);
        }
    }

    /// Member `old` goes on under the pseudonym of `new` (checked materials): the same
    /// place in the key tree, so it keeps its keys and nobody is rekeyed. `false` if `old`
    /// is not a member or `new` is one already.
    pub fn rename(
        &mut self,
        old: &PseudonymId,
        new: &IdentityMaterials,
    ) -> Result<bool, CertificateError> {
        if self.members.contains_key(&new.pseudonym) || !self.members.contains_key(old) {
            return Ok(false);
        }
        let encryption = new.certificate.encryption_public()?;
        let Some(entry) = self.members.remove(old) else {
            return Ok(false);
        };
        self.pseudonyms.insert(entry.vehicle, new.pseudonym);
        self.members.insert(
            new.pseudonym,
            MemberEntry {
                vehicle: entry.vehicle,
                certificate: new.certificate.id(),
                encryption,
                verifying: new.certificate.pseudonym_key(),
            },
        );
        Ok(true)
    }

    /// One rekey for everything that changed since the last: joins, leaves, and members
    /// whose certificate `registry` now revokes (Lei et al. III.A.3), as `domain`'s
    /// broadcast with a welcome sealed to each joiner. `None` if nothing changed. A
    /// vehicle that joined and left within the period never enters the tree.
    pub fn rekey<R: CryptoRng + ?Sized>(
        &mut self,
        domain: MemberId,
        registry: &Registry,
        rng: &mut R,
    ) -> Option<Result<DomainRekey, GroupError>> {
        let revoked: Vec<PseudonymId> = self
            .members
            .iter()
            .filter(|(_, entry)| registry.is_revoked(&entry.certificate))
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
        Some(self.seal(domain, kept_joins, kept_leaves, rng))
    }

    fn seal<R: CryptoRng + ?Sized>(
        &mut self,
        domain: MemberId,
        joins: Vec<VehicleId>,
        leaves: Vec<VehicleId>,
        rng: &mut R,
    ) -> Result<DomainRekey, GroupError> {
        let mut rekey = self.scheme.rekey(&joins, &leaves, rng)?;
        rekey.message.epoch = rekey.message.epoch.saturating_add(self.epoch_base);
        let epoch = rekey.message.epoch;
        let mut welcomes = Vec::with_capacity(rekey.welcomes.len());
        for welcome in &rekey.welcomes {
            let Some(entry) = self
                .pseudonyms
                .get(&welcome.vehicle)
                .and_then(|p| self.members.get(p).map(|e| (*p, e)))
            else {
                continue;
            };
            let (pseudonym, entry) = entry;
            // The certificate id is the ticket's SHA-256; its last 8 bytes, the HashedId8.
            let mut hashed_id8 = [0u8; 8];
            hashed_id8.copy_from_slice(&entry.certificate.0[24..]);
            welcomes.push(seal_welcome(
                domain,
                epoch,
                pseudonym,
                vkm_its::HashedId8(hashed_id8),
                &entry.encryption,
                welcome,
                rng,
            )?);
        }
        Ok(DomainRekey {
            domain,
            message: rekey.message,
            welcomes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::elliptic_curve::Generate;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use vkm_block::Timestamp;
    use vkm_rekey::{Flat, VehicleKeys};
    use vkm_transfer::central::Pseudonym;

    fn pseudonym(rng: &mut StdRng) -> Pseudonym {
        let issuer = SigningKey::generate_from_rng(rng);
        Pseudonym::issue(MemberId(1001), &issuer, Timestamp(0), Timestamp(1_000), rng)
    }

    #[test]
    fn a_vehicle_that_joins_and_leaves_within_a_period_never_enters() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut group = DomainGroup::new(Flat::new(&mut rng));
        let registry = Registry::default();
        let sm = MemberId(1);
        assert!(
            group.rekey(sm, &registry, &mut rng).is_none(),
            "nothing changed"
        );
        let (one, two) = (pseudonym(&mut rng), pseudonym(&mut rng));
        group.join(&one.materials).expect("valid key");
        group.join(&two.materials).expect("valid key");
        group.leave(&two.materials.pseudonym);
        let rekey = group
            .rekey(sm, &registry, &mut rng)
            .expect("changed")
            .expect("rekey");
        assert_eq!(rekey.welcomes.len(), 1);
        assert_eq!(rekey.welcomes[0].pseudonym, one.materials.pseudonym);
        // On the wire the welcome is IEEE 1609.2 EncryptedData naming the ticket.
        assert_eq!(
            rekey.welcomes[0].recipient,
            one.materials.certificate.hashed_id8()
        );
        assert_eq!(
            one.materials.certificate.ticket().hashed_id8().ok(),
            Some(one.materials.certificate.hashed_id8())
        );
        let wire = vkm_block::serialize(&rekey.welcomes[0]);
        let data = vkm_its::EncryptedData::from_oer(&wire[20..]).expect("EncryptedData");
        assert_eq!(data.recipients[0].kind, vkm_its::RecipientKind::Certificate);
        assert_eq!(
            vkm_block::deserialize::<crate::vehicle::SealedWelcome>(&wire)
                .ok()
                .as_ref(),
            Some(&rekey.welcomes[0])
        );
        assert_eq!(group.members(), 1);
        // The welcome opens with its pseudonym's key only, and only for its epoch.
        let epoch = rekey.message.epoch;
        let welcome = crate::vehicle::open_welcome(sm, epoch, &one.encryption, &rekey.welcomes[0])
            .expect("its own welcome");
        assert!(
            crate::vehicle::open_welcome(sm, epoch, &two.encryption, &rekey.welcomes[0]).is_err()
        );
        assert!(
            crate::vehicle::open_welcome(sm, epoch + 1, &one.encryption, &rekey.welcomes[0])
                .is_err()
        );
        let mut keys = VehicleKeys::new(welcome.vehicle);
        keys.welcome(&welcome);
        assert!(keys.apply(&rekey.message));
        assert_eq!(
            keys.group_key().map(|(_, k)| k),
            Some(group.scheme().group_key())
        );
        group.leave(&one.materials.pseudonym);
        group
            .rekey(sm, &registry, &mut rng)
            .expect("changed")
            .expect("rekey");
        assert_eq!(group.members(), 0);
    }
}
