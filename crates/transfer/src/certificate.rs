//! Vehicle identity materials: a pseudonym identifier and a compact pseudonym certificate
//! issued by a central manager (Lei et al. III.A: what a key transfer carries).

use p256::ecdsa::{SigningKey, VerifyingKey};
use vkm_block::{
    CompactSignature, Decode, DecodeError, Encode, MemberId, PublicKeyBytes, Reader, Sink,
    Timestamp,
};

use crate::signature::{RegisteredKey, sign};

/// Identifies a pseudonym (16 random bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PseudonymId(pub [u8; 16]);

/// A pseudonym certificate: the pseudonym's P-256 verification key and its P-256
/// encryption key (what its security manager seals the vehicle's welcome to, with IEEE
/// 1609.2 ECIES), its validity window, and the issuing central manager's signature. 150
/// bytes encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PseudonymCertificate {
    /// The pseudonym's verification key (compressed P-256 point): it signs the vehicle's
    /// crossing requests.
    pub pseudonym_key: PublicKeyBytes,
    /// The pseudonym's encryption key (compressed P-256 point), kept apart from the
    /// verification key as IEEE 1609.2 certificates do.
    pub encryption_key: PublicKeyBytes,
    /// Start of validity.
    pub valid_from: Timestamp,
    /// End of validity (exclusive).
    pub valid_until: Timestamp,
    /// The issuing central manager.
    pub issuer: MemberId,
    /// The issuer's ECDSA signature over [`PseudonymCertificate::signing_preimage`].
    pub signature: CompactSignature,
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
    /// The issuer is not a registered central manager.
    #[error("certificate issuer {0} is not a registered central manager")]
    UnknownIssuer(MemberId),
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

impl PseudonymCertificate {
    /// Domain-separation tag of the signing preimage.
    pub const SIGNING_TAG: &'static [u8] = b"vkm/pseudonym-certificate/sig/v1";

    /// Issues a certificate: the central manager signs it.
    pub fn issue(
        issuer: MemberId,
        issuer_key: &SigningKey,
        pseudonym_key: &VerifyingKey,
        encryption_key: &p256::PublicKey,
        valid_from: Timestamp,
        valid_until: Timestamp,
    ) -> Self {
        let mut cert = Self {
            pseudonym_key: crate::keys::verifying_key_to_chain(pseudonym_key),
            encryption_key: crate::keys::p256_public_to_chain(encryption_key),
            valid_from,
            valid_until,
            issuer,
            signature: CompactSignature::default(),
        };
        cert.signature = sign(issuer_key, &cert.signing_preimage());
        cert
    }

    /// The bytes the issuer signs: tag, then every field but the signature.
    pub fn signing_preimage(&self) -> Vec<u8> {
        let mut out = Self::SIGNING_TAG.to_vec();
        self.encode_unsigned(&mut out);
        out
    }

    fn encode_unsigned<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.pseudonym_key.encode(sink);
        self.encryption_key.encode(sink);
        self.valid_from.encode(sink);
        self.valid_until.encode(sink);
        self.issuer.encode(sink);
    }

    /// The certificate's id: the double SHA-256 of its encoding (what revocations name).
    pub fn id(&self) -> vkm_block::CertificateId {
        vkm_block::CertificateId(vkm_block::dhash(&vkm_block::serialize(self)))
    }

    /// Checks validity at `now` and the issuer's signature (`issuer_key` is the registered
    /// key of [`Self::issuer`], looked up by the caller).
    pub fn check(
        &self,
        issuer_key: &RegisteredKey,
        now: Timestamp,
    ) -> Result<(), CertificateError> {
        self.check_validity(now)?;
        self.check_signature(issuer_key)
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

    /// The part of [`Self::check`] that does not: both keys are valid points and the
    /// issuer's signature verifies.
    pub fn check_signature(&self, issuer_key: &RegisteredKey) -> Result<(), CertificateError> {
        self.verifying_key()?;
        self.encryption_public()?;
        issuer_key
            .verify(&self.signing_preimage(), &self.signature)
            .map_err(|_| CertificateError::BadSignature)
    }
}

impl PseudonymCertificate {
    /// The pseudonym's verification key, parsed.
    pub fn verifying_key(&self) -> Result<VerifyingKey, CertificateError> {
        crate::keys::verifying_key_from_chain(&self.pseudonym_key)
            .map_err(|_| CertificateError::BadPseudonymKey)
    }

    /// The pseudonym's encryption key, parsed (what a welcome is sealed to).
    pub fn encryption_public(&self) -> Result<p256::PublicKey, CertificateError> {
        p256::PublicKey::from_sec1_bytes(&self.encryption_key.0)
            .map_err(|_| CertificateError::BadEncryptionKey)
    }
}

impl Encode for PseudonymCertificate {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.encode_unsigned(sink);
        self.signature.encode(sink);
    }
}

impl Decode for PseudonymCertificate {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            pseudonym_key: Decode::decode(reader)?,
            encryption_key: Decode::decode(reader)?,
            valid_from: Decode::decode(reader)?,
            valid_until: Decode::decode(reader)?,
            issuer: Decode::decode(reader)?,
            signature: Decode::decode(reader)?,
        })
    }
}

/// What a key transfer carries, sealed: the vehicle's current pseudonym and its
/// certificate. 166 bytes encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityMaterials {
    /// The pseudonym identifier.
    pub pseudonym: PseudonymId,
    /// Its certificate.
    pub certificate: PseudonymCertificate,
}

impl Encode for IdentityMaterials {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        sink.put(&self.pseudonym.0);
        self.certificate.encode(sink);
    }
}

impl Decode for IdentityMaterials {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            pseudonym: PseudonymId(reader.array("pseudonym id")?),
            certificate: Decode::decode(reader)?,
        })
    }
}
