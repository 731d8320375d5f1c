//! Registered members as the transfer logic sees them: parsed keys, a fast verifier per
//! signer, and the `P1` that binds ciphertexts to their recipient.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use vkm_block::{
    CertificateId, DomainName, Member, MemberId, RegistryAction, RegistryTx, Role, serialize,
};

use crate::keys::{EncryptionPublic, InvalidKey, verifying_key_from_chain};
use crate::signature::RegisteredKey;

/// A registered member, prepared once at registration.
#[derive(Debug)]
pub struct RegisteredMember {
    /// The registry entry as on the chain.
    pub record: Member,
    /// Fast verifier of the member's signatures (precomputed table).
    pub verifier: RegisteredKey,
    /// The member's validated encryption key.
    pub encryption: EncryptionPublic,
    /// `P1` for ciphertexts sealed to this member: SHA-256 of its encoded registry entry.
    pub binding: [u8; 32],
    /// A central manager's authority certificate, when its entry carries one that is a
    /// P-256 IEEE 1609.2 certificate of the member's own signing key: what its pseudonym
    /// certificates name as issuer. `None` otherwise (such a member issues nothing vkm
    /// accepts).
    pub authority: Option<Authority>,
}

/// A registered central manager's authority certificate, as pseudonym checks need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authority {
    /// Its `HashedId8` (what tickets name as issuer).
    pub hashed_id8: vkm_its::HashedId8,
    /// Its SHA-256 (the second half of a ticket's signature input).
    pub digest: [u8; 32],
}

impl Authority {
    /// The authority certificate of `record`, if it has a usable one.
    fn of(record: &Member) -> Option<Self> {
        if record.role != Role::CentralManager {
            return None;
        }
        let cert = vkm_its::Certificate::from_oer(&record.authority_certificate).ok()?;
        let key = cert.p256_verification_key().ok()?;
        if crate::keys::verifying_key_to_chain(&key) != record.signing_key
            || cert.hash_algorithm() != vkm_its::HashAlgorithm::Sha256
        {
            return None;
        }
        Some(Self {
            hashed_id8: cert.hashed_id8().ok()?,
            digest: Sha256::digest(cert.to_oer()).into(),
        })
    }
}

impl RegisteredMember {
    /// Validates the entry's keys and precomputes the verifier.
    pub fn new(record: Member) -> Result<Self, InvalidKey> {
        let verifier = RegisteredKey::new(verifying_key_from_chain(&record.signing_key)?);
        let encryption = EncryptionPublic::from_chain(&record.encryption_key)?;
        let binding = Sha256::digest(serialize(&record)).into();
        let authority = Authority::of(&record);
        Ok(Self {
            record,
            verifier,
            encryption,
            binding,
            authority,
        })
    }

    /// The member's id.
    pub fn id(&self) -> MemberId {
        self.record.id
    }
}

/// What the transfer logic needs to know about the chain's members.
pub trait Directory {
    /// The registered, unrevoked member with this id.
    fn member(&self, id: MemberId) -> Option<&RegisteredMember>;

    /// The central manager serving `domain` (the traditional structure's relay).
    fn central_manager_of(&self, domain: &DomainName) -> Option<&RegisteredMember>;

    /// Whether a central manager revoked this pseudonym certificate on the chain.
    fn is_revoked(&self, certificate: &CertificateId) -> bool;

    /// The registered central manager whose authority certificate has this `HashedId8`.
    fn central_manager_by_certificate(&self, id: &vkm_its::HashedId8) -> Option<&RegisteredMember>;
}

/// An in-memory directory, built from registry transactions. Cloning shares the prepared
/// members.
#[derive(Debug, Default, Clone)]
pub struct MemberDirectory {
    members: BTreeMap<MemberId, Arc<RegisteredMember>>,
    revoked: BTreeSet<CertificateId>,
}

impl MemberDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a member.
    pub fn insert(&mut self, record: Member) -> Result<(), InvalidKey> {
        let member = RegisteredMember::new(record)?;
        self.members.insert(member.id(), Arc::new(member));
        Ok(())
    }

    /// Applies a registry transaction's actions in order. Validates every registration
    /// first, so an invalid key changes nothing.
    pub fn apply(&mut self, tx: &RegistryTx) -> Result<(), InvalidKey> {
        let mut prepared = Vec::with_capacity(tx.actions.len());
        for action in &tx.actions {
            prepared.push(match action {
                RegistryAction::Register(member) => Some(RegisteredMember::new(member.clone())?),
                RegistryAction::Revoke(_) | RegistryAction::RevokeCertificate(_) => None,
            });
        }
        for (action, member) in tx.actions.iter().zip(prepared) {
            match (action, member) {
                (_, Some(member)) => {
                    self.members.insert(member.id(), Arc::new(member));
                }
                (RegistryAction::Revoke(id), None) => {
                    self.members.remove(id);
                }
                (RegistryAction::RevokeCertificate(id), None) => {
                    self.revoked.insert(*id);
                }
                (RegistryAction::Register(_), None) => {}
            }
        }
        Ok(())
    }

    /// All members, by id.
    pub fn members(&self) -> impl Iterator<Item = &RegisteredMember> {
        self.members.values().map(|m| m.as_ref())
    }

    /// All members, shared (for a [`crate::rules::MemberCache`] that need not prepare them
    /// again).
    pub fn shared_members(&self) -> impl Iterator<Item = &Arc<RegisteredMember>> {
        self.members.values()
    }
}

impl Directory for MemberDirectory {
    fn member(&self, id: MemberId) -> Option<&RegisteredMember> {
        self.members.get(&id).map(|m| m.as_ref())
    }

    fn central_manager_of(&self, domain: &DomainName) -> Option<&RegisteredMember> {
        self.members()
            .find(|m| m.record.role == Role::CentralManager && m.record.domain == *domain)
    }

    fn is_revoked(&self, certificate: &CertificateId) -> bool {
        self.revoked.contains(certificate)
    }

    fn central_manager_by_certificate(&self, id: &vkm_its::HashedId8) -> Option<&RegisteredMember> {
        self.members()
            .find(|m| m.authority.is_some_and(|a| a.hashed_id8 == *id))
    }
}
