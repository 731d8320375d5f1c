//! IEEE 1609.2 `SignedData`: verify what others signed (the EU trust list, a BSM) and
//! sign a payload with a P-256 certificate's key.
//!
//! The signature input (IEEE 1609.2 §5.3.1) is `Hash(COER(tbsData)) || Hash(signer's
//! certificate)` with the `hashId` algorithm; ECDSA hashes it once more.

use p256::ecdsa::SigningKey;
use rasn::types::{FixedOctetString, Integer, OctetString};
use rasn_its::ieee1609dot2 as asn;
use rasn_its::ieee1609dot2::base_types as base;

use crate::certificate::{Certificate, CertificateError, HashAlgorithm, HashedId8, Psid};
use crate::codec::{self, DecodeError};

/// The largest signed data vkm decodes, in bytes.
pub const MAX_SIGNED_DATA_BYTES: usize = 1 << 20;

/// How a `SignedData` names its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// The `HashedId8` of the signer's certificate, which the verifier must already hold.
    Digest(HashedId8),
    /// The signer's certificate, carried along.
    Certificate(Box<Certificate>),
}

/// Why signed data is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignedDataError {
    /// Not a canonical COER `Ieee1609Dot2Data`.
    #[error("not IEEE 1609.2 data: {0}")]
    Decode(#[from] DecodeError),
    /// Valid 1609.2 data that is not signed data vkm handles.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The signer named is not the certificate given.
    #[error("signed by {named}, not by {given}")]
    WrongSigner {
        /// The signer the data names.
        named: HashedId8,
        /// The certificate given.
        given: HashedId8,
    },
    /// No certificate to verify with: the data names a digest and none was given.
    #[error("signed by {0}: its certificate is needed to verify")]
    SignerUnknown(HashedId8),
    /// The signature or a certificate does not check.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
}

/// An `Ieee1609Dot2Data` whose content is `SignedData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedData {
    inner: asn::SignedData,
    bytes: Vec<u8>,
}

impl SignedData {
    /// Decodes signed data (at most [`MAX_SIGNED_DATA_BYTES`], canonical).
    pub fn from_oer(bytes: &[u8]) -> Result<Self, SignedDataError> {
        let data: asn::Ieee1609Dot2Data = codec::decode(bytes, MAX_SIGNED_DATA_BYTES)?;
        let asn::Ieee1609Dot2Content::SignedData(inner) = data.content else {
            return Err(SignedDataError::Unsupported("content is not SignedData"));
        };
        Ok(Self {
            inner: *inner,
            bytes: bytes.to_vec(),
        })
    }

    /// Its COER encoding.
    pub fn to_oer(&self) -> &[u8] {
        &self.bytes
    }

    /// The application it is for.
    pub fn psid(&self) -> Option<Psid> {
        u64::try_from(&self.inner.tbs_data.header_info.psid.0)
            .ok()
            .map(Psid)
    }

    /// Generation time, microseconds since the IEEE 1609.2 epoch, if stated.
    pub fn generation_time_us(&self) -> Option<u64> {
        self.inner
            .tbs_data
            .header_info
            .generation_time
            .as_ref()
            .map(|t| t.0)
    }

    /// The payload, when it is unsecured data inside (what was signed).
    pub fn payload(&self) -> Option<&[u8]> {
        match &self.inner.tbs_data.payload.data.as_ref()?.content {
            asn::Ieee1609Dot2Content::UnsecuredData(bytes) => Some(&bytes.0[..]),
            _ => None,
        }
    }

    /// How the signer is named.
    pub fn signer(&self) -> Result<Signer, SignedDataError> {
        match &self.inner.signer {
            asn::SignerIdentifier::Digest(id) => Ok(Signer::Digest(HashedId8(*id.0))),
            asn::SignerIdentifier::Certificate(chain) => {
                let first = chain.0.first().ok_or(SignedDataError::Unsupported(
                    "empty signer certificate list",
                ))?;
                let bytes = rasn::coer::encode(first).map_err(|_| {
                    SignedDataError::Unsupported("signer certificate does not encode")
                })?;
                Ok(Signer::Certificate(Box::new(
                    Certificate::from_oer(&bytes).map_err(SignedDataError::Certificate)?,
                )))
            }
            _ => Err(SignedDataError::Unsupported("self-signed data")),
        }
    }

    /// The hash algorithm the data names (`hashId`).
    fn hash(&self) -> HashAlgorithm {
        match self.inner.hash_id {
            base::HashAlgorithm::Sha256 => HashAlgorithm::Sha256,
            base::HashAlgorithm::Sha384 => HashAlgorithm::Sha384,
            _ => HashAlgorithm::Sm3,
        }
    }

    /// What the signer signed (ECDSA hashes it once more): `Hash(COER(tbsData)) ||
    /// Hash(signer's certificate)`, with the `hashId` algorithm.
    pub fn signing_input(&self, signer: &Certificate) -> Result<Vec<u8>, SignedDataError> {
        let tbs = rasn::coer::encode(&self.inner.tbs_data)
            .map_err(|_| SignedDataError::Unsupported("tbsData does not encode"))?;
        let mut input = self.hash().digest(&tbs)?;
        input.extend(self.hash().digest(signer.to_oer())?);
        Ok(input)
    }

    /// The signature's curve and `r || s` (`r` the x-coordinate however it is written).
    pub fn signature_rs(&self) -> Result<(crate::Curve, Vec<u8>), SignedDataError> {
        let (curve, r, s) = crate::ecdsa::parts(&self.inner.signature)?;
        Ok((curve, [r, s].concat()))
    }

    /// Verifies the signature with the certificate the data carries, or with `signer`
    /// (which must be the certificate it names). Returns the certificate used.
    pub fn verify(&self, signer: Option<&Certificate>) -> Result<Certificate, SignedDataError> {
        let cert = match (self.signer()?, signer) {
            (Signer::Certificate(cert), _) => *cert,
            (Signer::Digest(named), Some(given)) => {
                let given_id = given.hashed_id8()?;
                if given_id != named {
                    return Err(SignedDataError::WrongSigner {
                        named,
                        given: given_id,
                    });
                }
                given.clone()
            }
            (Signer::Digest(named), None) => return Err(SignedDataError::SignerUnknown(named)),
        };
        let input = self.signing_input(&cert)?;
        let key = cert.verification_key().ok_or(CertificateError::Implicit)?;
        crate::ecdsa::verify(&key, &self.inner.signature, &input)?;
        Ok(cert)
    }

    /// Signs `payload` (as unsecured data) for `psid` at `generation_time_us` with the key
    /// of the P-256 certificate `signer`, naming the signer by its digest (RFC 6979 nonce,
    /// low S).
    pub fn sign(
        payload: &[u8],
        psid: Psid,
        generation_time_us: u64,
        signer: &Certificate,
        key: &SigningKey,
    ) -> Result<Self, SignedDataError> {
        use p256::ecdsa::signature::Signer as _;
        if signer.p256_verification_key()? != *key.verifying_key() {
            return Err(CertificateError::KeyMismatch.into());
        }
        let unsigned = Unsigned::new(payload, psid, generation_time_us)?;
        let input = unsigned.signing_input(signer)?;
        // Low S: verifiers that insist on it (vkm's do) accept it, the others too.
        let signature: p256::ecdsa::Signature = key.sign(&input);
        let rs: [u8; 64] = signature.normalize_s().to_bytes().into();
        unsigned.assemble(SignerRef::Digest(signer), &rs)
    }
}

/// How [`Unsigned::assemble`] names the signer.
#[derive(Debug, Clone, Copy)]
pub enum SignerRef<'a> {
    /// By the `HashedId8` of this certificate.
    Digest(&'a Certificate),
    /// By carrying this certificate.
    Certificate(&'a Certificate),
}

/// Signed data before its signature: the payload (as unsecured data), the PSID and the
/// generation time, SHA-256 (the hash for P-256). Sign [`Unsigned::signing_input`] with
/// any P-256 signer, then [`Unsigned::assemble`].
#[derive(Debug, Clone)]
pub struct Unsigned {
    tbs: asn::ToBeSignedData,
}

impl Unsigned {
    /// The data to be signed.
    pub fn new(
        payload: &[u8],
        psid: Psid,
        generation_time_us: u64,
    ) -> Result<Self, SignedDataError> {
        let inner_data = asn::Ieee1609Dot2Data {
            protocol_version: asn::Ieee1609Dot2Data::VERSION,
            content: asn::Ieee1609Dot2Content::UnsecuredData(base::Opaque(OctetString::from(
                payload.to_vec(),
            ))),
        };
        let tbs = asn::ToBeSignedData::builder()
            .payload(
                asn::SignedDataPayload::builder()
                    .data(inner_data)
                    .build()
                    .map_err(|_| SignedDataError::Unsupported("payload"))?,
            )
            .header_info(
                asn::HeaderInfo::builder()
                    .psid(base::Psid(Integer::from(psid.0)))
                    .generation_time(base::Time64(generation_time_us))
                    .build(),
            )
            .build();
        Ok(Self { tbs })
    }

    /// What the signer signs (ECDSA-SHA256 hashes it once more): `SHA-256(COER(tbsData))
    /// || SHA-256(signer's certificate)`.
    pub fn signing_input(&self, signer: &Certificate) -> Result<Vec<u8>, SignedDataError> {
        let tbs_bytes = rasn::coer::encode(&self.tbs)
            .map_err(|_| SignedDataError::Unsupported("tbsData does not encode"))?;
        let mut input = HashAlgorithm::Sha256.digest(&tbs_bytes)?;
        input.extend(HashAlgorithm::Sha256.digest(signer.to_oer())?);
        Ok(input)
    }

    /// The signed data with P-256 signature `r || s` (`r` written x-only).
    pub fn assemble(
        self,
        signer: SignerRef<'_>,
        rs: &[u8; 64],
    ) -> Result<SignedData, SignedDataError> {
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&rs[..32]);
        s.copy_from_slice(&rs[32..]);
        let signer = match signer {
            SignerRef::Digest(cert) => asn::SignerIdentifier::Digest(base::HashedId8(
                FixedOctetString::from(cert.hashed_id8()?.0),
            )),
            SignerRef::Certificate(cert) => {
                asn::SignerIdentifier::Certificate(asn::SequenceOfCertificate(vec![
                    cert.asn().clone(),
                ]))
            }
        };
        let signed = asn::SignedData {
            hash_id: base::HashAlgorithm::Sha256,
            tbs_data: self.tbs,
            signer,
            signature: base::Signature::EcdsaNistP256(base::EcdsaP256Signature {
                r_sig: base::EccP256CurvePoint::XOnly(FixedOctetString::from(r)),
                s_sig: FixedOctetString::from(s),
            }),
        };
        let data = asn::Ieee1609Dot2Data {
            protocol_version: asn::Ieee1609Dot2Data::VERSION,
            content: asn::Ieee1609Dot2Content::SignedData(Box::new(signed)),
        };
        let bytes = rasn::coer::encode(&data)
            .map_err(|_| SignedDataError::Unsupported("signed data does not encode"))?;
        SignedData::from_oer(&bytes)
    }
}
