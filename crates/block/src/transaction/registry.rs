//! Registry transactions: who may submit transactions and mine blocks (`docs/deviations.md`, decision 6).

use crate::encode::{Decode, DecodeError, DecodeErrorKind, Encode, Reader, Sink, put_len, put_seq};
use crate::hash::CertificateId;
use crate::limits::{MAX_AUTHORITY_CERTIFICATE_BYTES, MAX_REGISTRY_ACTIONS};
use crate::primitives::{CompactSignature, DomainName, MemberId, PublicKeyBytes, Timestamp};

use super::{TxKind, signing_preimage};

/// What a registered member does on the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    /// Runs a security domain, mines blocks, sends and receives key transfers.
    SecurityManager = 1,
    /// Issues pseudonym certificates and publishes revocations (Lei et al. III.A.3).
    CentralManager = 2,
}

/// A member's public encryption key, tagged with the sealing scheme it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncryptionKey {
    /// IEEE 1609.2 ECIES on NIST P-256 (compressed SEC1 point); the default.
    P256(PublicKeyBytes),
    /// The `ecies` crate's scheme on secp256k1 (compressed SEC1 point).
    Secp256k1(PublicKeyBytes),
}

/// A registered member: a security manager or a central manager.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Member {
    /// Its identifier on the chain.
    pub id: MemberId,
    /// What it does.
    pub role: Role,
    /// Its ECDSA P-256 verifying key (compressed SEC1 point).
    pub signing_key: PublicKeyBytes,
    /// Its encryption key, kept apart from the signing key.
    pub encryption_key: EncryptionKey,
    /// The security domain it runs or serves.
    pub domain: DomainName,
    /// A central manager's IEEE 1609.2 authority certificate (COER bytes, at most
    /// [`MAX_AUTHORITY_CERTIFICATE_BYTES`]): what its pseudonym certificates name as
    /// issuer. Empty for security managers. This crate keeps the bytes opaque;
    /// `vkm-transfer` reads them.
    pub authority_certificate: Vec<u8>,
}

/// One change to the set of members.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegistryAction {
    /// Adds a member (or replaces its keys).
    Register(Member),
    /// Removes a member from the next block on.
    Revoke(MemberId),
    /// Revokes a vehicle's pseudonym certificate from the next block on (Lei et al.
    /// III.A.3: revocation by chain look-up). A whole pseudonym set is revoked by naming
    /// each of its certificates.
    RevokeCertificate(CertificateId),
}

/// Who authorised a registry transaction, and their signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Authorization {
    /// The signing member (a central manager).
    pub signer: MemberId,
    /// ECDSA P-256 signature over [`RegistryTx::signing_preimage`].
    pub signature: CompactSignature,
}

/// Registers or revokes members. The genesis block's registry transaction lists the
/// initial members and carries no authorization; later ones must.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistryTx {
    /// When it was issued (also makes two otherwise equal transactions distinct).
    pub timestamp: Timestamp,
    /// The changes, applied in order.
    pub actions: Vec<RegistryAction>,
    /// The authorising signature; `None` only in genesis.
    pub authorization: Option<Authorization>,
}

impl RegistryTx {
    /// Domain-separation tag that starts the signing preimage.
    pub const SIGNING_TAG: &'static [u8] = b"vkm/registry/sig/v1";

    /// The bytes the authorising member signs: tag, kind, version, timestamp, actions and
    /// the signer's id.
    pub fn signing_preimage(&self, signer: MemberId) -> Vec<u8> {
        signing_preimage(Self::SIGNING_TAG, TxKind::Registry, |out| {
            self.timestamp.encode(out);
            put_seq(out, &self.actions);
            signer.encode(out);
        })
    }

    pub(super) fn encode_body<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.timestamp.encode(sink);
        put_seq(sink, &self.actions);
        match &self.authorization {
            None => sink.put(&[0]),
            Some(auth) => {
                sink.put(&[1]);
                auth.signer.encode(sink);
                auth.signature.encode(sink);
            }
        }
    }

    pub(super) fn decode_body(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let timestamp = Decode::decode(reader)?;
        let actions = reader.seq(MAX_REGISTRY_ACTIONS, 5, "registry actions")?;
        let start = reader.offset();
        let authorization = match reader.u8("authorization flag")? {
            0 => None,
            1 => Some(Authorization {
                signer: Decode::decode(reader)?,
                signature: Decode::decode(reader)?,
            }),
            value => return Err(unknown_tag(start, "authorization flag", value)),
        };
        Ok(Self {
            timestamp,
            actions,
            authorization,
        })
    }
}

fn unknown_tag(offset: usize, what: &'static str, value: u8) -> DecodeError {
    DecodeError {
        offset,
        kind: DecodeErrorKind::UnknownTag { what, value },
    }
}

impl Encode for EncryptionKey {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        let (tag, key) = match self {
            Self::P256(key) => (1, key),
            Self::Secp256k1(key) => (2, key),
        };
        sink.put(&[tag]);
        key.encode(sink);
    }
}

impl Decode for EncryptionKey {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = reader.offset();
        match reader.u8("encryption scheme")? {
            1 => Ok(Self::P256(Decode::decode(reader)?)),
            2 => Ok(Self::Secp256k1(Decode::decode(reader)?)),
            value => Err(unknown_tag(start, "encryption scheme", value)),
        }
    }
}

impl Encode for Member {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.id.encode(sink);
        sink.put(&[self.role as u8]);
        self.signing_key.encode(sink);
        self.encryption_key.encode(sink);
        self.domain.encode(sink);
        put_len(sink, self.authority_certificate.len());
        sink.put(&self.authority_certificate);
    }
}

impl Decode for Member {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let id = Decode::decode(reader)?;
        let start = reader.offset();
        let role = match reader.u8("role")? {
            1 => Role::SecurityManager,
            2 => Role::CentralManager,
            value => return Err(unknown_tag(start, "role", value)),
        };
        Ok(Self {
            id,
            role,
            signing_key: Decode::decode(reader)?,
            encryption_key: Decode::decode(reader)?,
            domain: Decode::decode(reader)?,
            authority_certificate: reader
                .bytes(MAX_AUTHORITY_CERTIFICATE_BYTES, "authority certificate")?,
        })
    }
}

impl Encode for RegistryAction {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        match self {
            Self::Register(member) => {
                sink.put(&[1]);
                member.encode(sink);
            }
            Self::Revoke(id) => {
                sink.put(&[2]);
                id.encode(sink);
            }
            Self::RevokeCertificate(id) => {
                sink.put(&[3]);
                id.encode(sink);
            }
        }
    }
}

impl Decode for RegistryAction {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = reader.offset();
        match reader.u8("registry action")? {
            1 => Ok(Self::Register(Decode::decode(reader)?)),
            2 => Ok(Self::Revoke(Decode::decode(reader)?)),
            3 => Ok(Self::RevokeCertificate(Decode::decode(reader)?)),
            value => Err(unknown_tag(start, "registry action", value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preimage_binds_signer_and_actions() {
        let tx = RegistryTx {
            timestamp: Timestamp(5),
            actions: vec![RegistryAction::Revoke(MemberId(3))],
            authorization: None,
        };
        assert_ne!(
            tx.signing_preimage(MemberId(1)),
            tx.signing_preimage(MemberId(2))
        );
        let other = RegistryTx {
            actions: vec![RegistryAction::Revoke(MemberId(4))],
            ..tx.clone()
        };
        assert_ne!(
            tx.signing_preimage(MemberId(1)),
            other.signing_preimage(MemberId(1))
        );
    }
}
