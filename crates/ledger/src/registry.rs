//! The set of registered members, as registry transactions leave it.

use std::collections::{BTreeMap, BTreeSet};

use vkm_block::encode::put_seq;

use vkm_block::{
    CertificateId, Decode, DecodeError, Encode, Member, MemberId, Reader, RegistryAction,
    RegistryTx, Role, Sink,
};

/// Registered, unrevoked members by id, and revoked pseudonym certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    members: BTreeMap<MemberId, Member>,
    revoked: BTreeSet<CertificateId>,
}

impl Registry {
    /// The member with this id.
    pub fn get(&self, id: MemberId) -> Option<&Member> {
        self.members.get(&id)
    }

    /// The member with this id if it is a security manager.
    pub fn security_manager(&self, id: MemberId) -> Option<&Member> {
        self.get(id).filter(|m| m.role == Role::SecurityManager)
    }

    /// All members, by id.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether no member is registered.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether a pseudonym certificate has been revoked.
    pub fn is_revoked(&self, certificate: &CertificateId) -> bool {
        self.revoked.contains(certificate)
    }

    /// Revoked pseudonym certificates.
    pub fn revoked(&self) -> impl Iterator<Item = &CertificateId> {
        self.revoked.iter()
    }

    /// Applies a registry transaction's actions in order.
    pub fn apply(&mut self, tx: &RegistryTx) {
        for action in &tx.actions {
            match action {
                RegistryAction::Register(member) => {
                    self.members.insert(member.id, member.clone());
                }
                RegistryAction::Revoke(id) => {
                    self.members.remove(id);
                }
                RegistryAction::RevokeCertificate(id) => {
                    self.revoked.insert(*id);
                }
            }
        }
    }
}

impl Encode for Registry {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        let members: Vec<Member> = self.members.values().cloned().collect();
        put_seq(sink, &members);
        let revoked: Vec<CertificateId> = self.revoked.iter().copied().collect();
        put_seq(sink, &revoked);
    }
}

impl Decode for Registry {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let members: Vec<Member> = reader.seq(65_536, 80, "registry members")?;
        let revoked: Vec<CertificateId> = reader.seq(16_777_216, 32, "revoked certificates")?;
        Ok(Self {
            members: members.into_iter().map(|m| (m.id, m)).collect(),
            revoked: revoked.into_iter().collect(),
        })
    }
}
