//! Vehicle identity materials (Lei et al. III.A: what a key transfer carries): a pseudonym
//! certificate that is an IEEE 1609.2 authorization ticket in the ETSI TS 103 097 profile,
//! issued by a central manager whose own 1609.2 authority certificate is in the registry.
//!
//! The ticket carries the pseudonym's P-256 verification key, its P-256 encryption key
//! (what its security manager seals the welcome to), its validity (whole seconds, IEEE
//! 1609.2 `Time32`), vkm's key-transfer PSID, and as issuer the `HashedId8` of the central
//! manager's authority certificate. Its signature is IEEE 1609.2's: ECDSA over
//! `SHA-256(COER(toBeSigned)) || SHA-256(authority certificate)`. Any 1609.2
//! implementation reads it (`vkm cert show`).

use p256::ecdsa::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use vkm_block::{
    CompactSignature, Decode, DecodeError, Encode, PublicKeyBytes, Reader, Sink, Timestamp, put_len,
};
use vkm_its::{
    Certificate, CertificateRequest, HashedId8, Issuer, PSID_VKM_KEY_TRANSFER, Time32, Validity,
};

use crate::signature::RegisteredKey;

/// Identifies a pseudonym: the first 16 bytes of its certificate's SHA-256 (the
/// certificate's `HashedId8` is the last 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PseudonymId(pub [u8; 16]);

/// The largest pseudonym certificate accepted inside identity materials, in bytes (a
/// ticket is about 170).
pub const MAX_PSEUDONYM_CERTIFICATE_BYTES: usize = 512;

/// A pseudonym certificate: an IEEE 1609.2 authorization ticket with a P-256
/// verification key, a P-256 encryption key, a validity period and an issuer `HashedId8`,
/// signed with P-256. Other tickets (implicit, brainpool, no encryption key) are refused
/// when decoded, so every value of this type has what the key transfer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PseudonymCertificate {
    // Boxed: the decoded ASN.1 structure is large, and events and actions carry this.
    ticket: Box<Certificate>,
    pseudonym_key: PublicKeyBytes,
    valid_from: Timestamp,
    valid_until: Timestamp,
    issuer: HashedId8,
}

/// Why a certificate is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// Not valid yet at the time of checking.
    #[error("certificate not valid before {0:?}")]
    NotYetValid(Timestamp),
    /// Expired at the time of checking.
    #[error("certificate expired at {0:?}")]
    Expired(Timestamp),
    /// The issuer is not a registered central manager's authority certificate.
    #[error("certificate issuer {0} is not a registered central manager")]
    UnknownIssuer(HashedId8),
    /// The issuer's signature does not verify.
    #[error("certificate signature does not verify")]
    BadSignature,
    /// The pseudonym key is not a P-256 point.
    #[error("certificate pseudonym key is not a P-256 point")]
    BadPseudonymKey,
    /// The encryption key is not a P-256 point.
    #[error("certificate encryption key is not a P-256 point")]
    BadEncryptionKey,
    /// A central manager revoked the certificate on the chain.
    #[error("certificate revoked on the chain")]
    Revoked,
}

/// A central manager's authority certificate as the registry holds it: self-signed,
/// named `vkm central manager <id>`, P-256, allowed to issue tickets for vkm's PSID,
/// valid over the whole `Time32` range. Deterministic (RFC 6979 signature): the same id
/// and key give the same bytes, so a central manager can always reproduce the certificate
/// its registry entry carries.
pub fn authority_certificate(issuer: vkm_block::MemberId, key: &SigningKey) -> Certificate {
    let validity = Validity {
        start: Time32(0),
        duration_s: 136 * 31_556_952,
    };
    let request = CertificateRequest {
        name: Some(format!("vkm central manager {}", issuer.0)),
        validity,
        app_permissions: vec![PSID_VKM_KEY_TRANSFER],
        issue: Some(1),
        verification_key: *key.verifying_key(),
        encryption_key: None,
    };
    Certificate::self_signed(key, &request).unwrap_or_else(|_| unreachable_issue())
}

#[cold]
fn unreachable_issue() -> ! {
    // Issuing fails only for names over 255 bytes or validity outside the issuer's; vkm's
    // own names and periods are neither.
    panic!("issuing a vkm certificate failed")
}

impl PseudonymCertificate {
    /// Issues a ticket: the central manager `issuer` signs it with `issuer_key` under its
    /// [`authority_certificate`]. The validity is widened to whole seconds (and, past 18
    /// hours, to whole minutes or hours: IEEE 1609.2 durations count a unit up to 65,535),
    /// and cut to the authority's (2004 to 2140).
    pub fn issue(
        issuer: vkm_block::MemberId,
        issuer_key: &SigningKey,
        pseudonym_key: &VerifyingKey,
        encryption_key: &p256::PublicKey,
        valid_from: Timestamp,
        valid_until: Timestamp,
    ) -> Self {
        let authority = authority_certificate(issuer, issuer_key);
        Self::issue_under(
            &authority,
            issuer_key,
            pseudonym_key,
            encryption_key,
            valid_from,
            valid_until,
        )
    }

    /// [`Self::issue`] with the authority certificate given (issue many without signing
    /// it again each time).
    pub fn issue_under(
        authority: &Certificate,
        issuer_key: &SigningKey,
        pseudonym_key: &VerifyingKey,
        encryption_key: &p256::PublicKey,
        valid_from: Timestamp,
        valid_until: Timestamp,
    ) -> Self {
        // Inside the authority's validity (2004 to 2140 for vkm's), at least a second.
        let limit = authority.validity();
        let last_start = Time32::from_unix_s(limit.end_unix_s().saturating_sub(1));
        let start = Time32::from_unix_s(valid_from.0 / 1000)
            .max(limit.start)
            .min(last_start);
        let end_s = valid_until
            .0
            .div_ceil(1000)
            .max(start.unix_s() + 1)
            .min(limit.end_unix_s());
        let request = CertificateRequest {
            name: None,
            validity: Validity {
                start,
                duration_s: end_s - start.unix_s(),
            },
            app_permissions: vec![PSID_VKM_KEY_TRANSFER],
            issue: None,
            verification_key: *pseudonym_key,
            encryption_key: Some(*encryption_key),
        };
        let ticket = authority
            .issue(issuer_key, &request)
            .unwrap_or_else(|_| unreachable_issue());
        Self::from_ticket(ticket).unwrap_or_else(|_| unreachable_issue())
    }

    /// Reads what vkm needs from a ticket, refusing one without it.
    pub fn from_ticket(ticket: Certificate) -> Result<Self, &'static str> {
        let key = ticket
            .p256_verification_key()
            .map_err(|_| "not a P-256 verification key")?;
        ticket
            .p256_encryption_key()
            .map_err(|_| "no P-256 encryption key")?;
        let Issuer::Digest(vkm_its::HashAlgorithm::Sha256, issuer) = ticket.issuer() else {
            return Err("issuer is not a SHA-256 digest");
        };
        p256_signature(&ticket).ok_or("signature is not P-256")?;
        let validity = ticket.validity();
        Ok(Self {
            pseudonym_key: crate::keys::verifying_key_to_chain(&key),
            valid_from: Timestamp(validity.start.unix_s().saturating_mul(1000)),
            valid_until: Timestamp(validity.end_unix_s().saturating_mul(1000)),
            issuer,
            ticket: Box::new(ticket),
        })
    }

    /// The IEEE 1609.2 certificate.
    pub fn ticket(&self) -> &Certificate {
        &self.ticket
    }

    /// The pseudonym's verification key (compressed P-256 point): it signs the vehicle's
    /// crossing requests.
    pub fn pseudonym_key(&self) -> PublicKeyBytes {
        self.pseudonym_key
    }

    /// Start of validity.
    pub fn valid_from(&self) -> Timestamp {
        self.valid_from
    }

    /// End of validity (exclusive).
    pub fn valid_until(&self) -> Timestamp {
        self.valid_until
    }

    /// The `HashedId8` of the issuing central manager's authority certificate.
    pub fn issuer(&self) -> HashedId8 {
        self.issuer
    }

    /// The certificate's id: the SHA-256 of its COER encoding (what revocations name; its
    /// last 8 bytes are the IEEE 1609.2 `HashedId8`).
    pub fn id(&self) -> vkm_block::CertificateId {
        vkm_block::CertificateId(Sha256::digest(self.ticket.to_oer()).into())
    }

    /// The certificate's IEEE 1609.2 `HashedId8` (the last 8 bytes of [`Self::id`]): how
    /// a welcome sealed to it names it.
    pub fn hashed_id8(&self) -> HashedId8 {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.id().0[24..]);
        HashedId8(id)
    }

    /// Checks validity at `now` and the issuer's signature (`issuer_key` is the registered
    /// key of the central manager whose authority certificate hashes to
    /// `authority_digest`, both looked up by the caller).
    pub fn check(
        &self,
        issuer_key: &RegisteredKey,
        authority_digest: &[u8; 32],
        now: Timestamp,
    ) -> Result<(), CertificateError> {
        self.check_validity(now)?;
        self.check_signature(issuer_key, authority_digest)
    }

    /// The part of [`Self::check`] that depends on time: `now` is inside the validity
    /// period.
    pub fn check_validity(&self, now: Timestamp) -> Result<(), CertificateError> {
        if now < self.valid_from {
            return Err(CertificateError::NotYetValid(self.valid_from));
        }
        if now >= self.valid_until {
            return Err(CertificateError::Expired(self.valid_until));
        }
        Ok(())
    }

    /// The part of [`Self::check`] that does not: the issuer's IEEE 1609.2 signature
    /// verifies (low S, as vkm's central managers sign), through the registered key's
    /// precomputed table. Both keys were checked to be points when decoded.
    pub fn check_signature(
        &self,
        issuer_key: &RegisteredKey,
        authority_digest: &[u8; 32],
    ) -> Result<(), CertificateError> {
        let mut input = self
            .ticket
            .tbs_digest()
            .map_err(|_| CertificateError::BadSignature)?;
        input.extend_from_slice(authority_digest);
        let signature = p256_signature(&self.ticket).ok_or(CertificateError::BadSignature)?;
        issuer_key
            .verify(&input, &signature)
            .map_err(|_| CertificateError::BadSignature)
    }

    /// The pseudonym's verification key, parsed.
    pub fn verifying_key(&self) -> Result<VerifyingKey, CertificateError> {
        crate::keys::verifying_key_from_chain(&self.pseudonym_key)
            .map_err(|_| CertificateError::BadPseudonymKey)
    }

    /// The pseudonym's encryption key, parsed (what a welcome is sealed to).
    pub fn encryption_public(&self) -> Result<p256::PublicKey, CertificateError> {
        self.ticket
            .p256_encryption_key()
            .map_err(|_| CertificateError::BadEncryptionKey)
    }
}

/// `r || s` of a P-256 ticket signature.
fn p256_signature(ticket: &Certificate) -> Option<CompactSignature> {
    match ticket.signature_rs().ok()? {
        (vkm_its::Curve::NistP256, rs) => Some(CompactSignature(rs.try_into().ok()?)),
        _ => None,
    }
}

impl Encode for PseudonymCertificate {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        let bytes = self.ticket.to_oer();
        put_len(sink, bytes.len());
        sink.put(bytes);
    }
}

impl Decode for PseudonymCertificate {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = reader.offset();
        let invalid = |reason| DecodeError::invalid(start, "pseudonym certificate", reason);
        let bytes = reader.bytes(MAX_PSEUDONYM_CERTIFICATE_BYTES, "pseudonym certificate")?;
        let ticket = Certificate::from_oer(&bytes)
            .map_err(|_| invalid("not a canonical COER IEEE 1609.2 certificate"))?;
        Self::from_ticket(ticket).map_err(invalid)
    }
}

/// What a key transfer carries, sealed: the vehicle's pseudonym certificate (an IEEE
/// 1609.2 authorization ticket), which also names the pseudonym.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityMaterials {
    /// The pseudonym identifier (derived from the certificate: see [`PseudonymId`]).
    pub pseudonym: PseudonymId,
    /// Its certificate.
    pub certificate: PseudonymCertificate,
}

impl IdentityMaterials {
    /// The materials of a certificate.
    pub fn new(certificate: PseudonymCertificate) -> Self {
        let digest = Sha256::digest(certificate.ticket.to_oer());
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        Self {
            pseudonym: PseudonymId(id),
            certificate,
        }
    }
}

impl Encode for IdentityMaterials {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.certificate.encode(sink);
    }
}

impl Decode for IdentityMaterials {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self::new(Decode::decode(reader)?))
    }
}
