//! IEEE 1609.2 explicit certificates (ETSI TS 103 097 profile): decode any, read what a
//! user needs, issue P-256 ones, and check one signature.
//!
//! A certificate's signature (IEEE 1609.2 §5.3.1) is ECDSA over
//! `Hash(COER(toBeSigned)) || Hash(signer)`, where `signer` is the COER encoding of the
//! issuing certificate, or the empty string when the certificate signs itself; `Hash` is
//! SHA-256 for the 256-bit curves and SHA-384 for the 384-bit ones. A certificate's
//! `HashedId8` is the last 8 bytes of the same hash over its whole encoding.

use p256::ecdsa::SigningKey;
use p256::elliptic_curve::sec1::ToSec1Point;
use rasn::types::{FixedOctetString, Integer};
use rasn_its::ieee1609dot2 as asn;
use rasn_its::ieee1609dot2::base_types as base;
use sha2::{Digest, Sha256, Sha384};

use crate::codec::{self, DecodeError};
use crate::time::Time32;

/// The largest certificate vkm decodes, in bytes (a TS 103 097 authorization ticket is
/// about 150 bytes, a root certificate with regions and permissions a few hundred).
pub const MAX_CERTIFICATE_BYTES: usize = 4096;

/// The last 8 bytes of a certificate's hash: how IEEE 1609.2 names a certificate (an
/// issuer, an encryption recipient, a revocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HashedId8(pub [u8; 8]);

impl HashedId8 {
    /// Upper-case hex, as the EU trust lists print it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02X}")).collect()
    }
}

impl core::fmt::Display for HashedId8 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A provider service identifier: which application a permission is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Psid(pub u64);

/// The PSID vkm's certificates carry for the key transfer (a private value, not
/// registered with the IEEE 1609.12 registrar: set your own where you have one).
pub const PSID_VKM_KEY_TRANSFER: Psid = Psid(0x20_40_97);

/// The curve of a key or signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (secp256r1).
    NistP256,
    /// brainpoolP256r1.
    BrainpoolP256r1,
    /// brainpoolP384r1.
    BrainpoolP384r1,
    /// NIST P-384 (decoded and shown; vkm does not verify it).
    NistP384,
    /// SM2 (decoded and shown; vkm does not verify it).
    Sm2,
}

impl Curve {
    /// The curve's name as IEEE 1609.2 spells the choice (lower case).
    pub fn name(self) -> &'static str {
        match self {
            Self::NistP256 => "nistp256",
            Self::BrainpoolP256r1 => "brainpoolp256r1",
            Self::BrainpoolP384r1 => "brainpoolp384r1",
            Self::NistP384 => "nistp384",
            Self::Sm2 => "sm2",
        }
    }

    /// The hash that goes with the curve in IEEE 1609.2 (signature input, `HashedId8`).
    pub fn hash(self) -> HashAlgorithm {
        match self {
            Self::BrainpoolP384r1 | Self::NistP384 => HashAlgorithm::Sha384,
            _ => HashAlgorithm::Sha256,
        }
    }
}

/// A hash algorithm of IEEE 1609.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SM3 (named in certificates; vkm does not compute it).
    Sm3,
}

impl HashAlgorithm {
    /// The algorithm's name (lower case).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sm3 => "sm3",
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Result<Vec<u8>, CertificateError> {
        match self {
            Self::Sha256 => Ok(Sha256::digest(data).to_vec()),
            Self::Sha384 => Ok(Sha384::digest(data).to_vec()),
            Self::Sm3 => Err(CertificateError::UnsupportedHash("sm3")),
        }
    }

    fn from_asn(alg: &base::HashAlgorithm) -> Self {
        match alg {
            base::HashAlgorithm::Sha256 => Self::Sha256,
            base::HashAlgorithm::Sha384 => Self::Sha384,
            _ => Self::Sm3,
        }
    }
}

/// A public key as a certificate carries it: the curve and its SEC1 encoding (compressed
/// or uncompressed, as in the certificate).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    /// The curve.
    pub curve: Curve,
    /// SEC1 encoding: `02`/`03` and x, or `04`, x and y.
    pub sec1: Vec<u8>,
}

/// Who signed a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Issuer {
    /// The certificate signs itself (a root), hashing with the algorithm named.
    SelfSigned(HashAlgorithm),
    /// The certificate whose `HashedId8` (under the algorithm named) this is.
    Digest(HashAlgorithm, HashedId8),
}

/// A validity period: its start and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Validity {
    /// First second of validity.
    pub start: Time32,
    /// Length in seconds.
    pub duration_s: u64,
}

impl Validity {
    /// The first second after the period (exclusive end).
    pub fn end_unix_s(&self) -> u64 {
        self.start.unix_s() + self.duration_s
    }

    /// Whether `at` is inside the period.
    pub fn contains(&self, at: Time32) -> bool {
        at >= self.start && at.unix_s() < self.end_unix_s()
    }

    /// Whether `other` lies wholly inside this period.
    pub fn covers(&self, other: &Validity) -> bool {
        other.start >= self.start && other.end_unix_s() <= self.end_unix_s()
    }

    fn from_asn(period: &base::ValidityPeriod) -> Self {
        let (n, unit) = match &period.duration {
            base::Duration::Microseconds(n) => (*n, 0),
            base::Duration::Milliseconds(n) => (*n, 0),
            base::Duration::Seconds(n) => (*n, 1),
            base::Duration::Minutes(n) => (*n, 60),
            base::Duration::Hours(n) => (*n, 3_600),
            base::Duration::SixtyHours(n) => (*n, 216_000),
            base::Duration::Years(n) => (*n, 31_556_952),
        };
        let duration_s = match &period.duration {
            base::Duration::Microseconds(n) => u64::from(*n) / 1_000_000,
            base::Duration::Milliseconds(n) => u64::from(*n) / 1_000,
            _ => u64::from(n) * unit,
        };
        Self {
            start: Time32(period.start.0),
            duration_s,
        }
    }

    /// The encoding: the largest unit that states the length exactly, else the smallest
    /// unit whose count fits (rounding the length up).
    fn to_asn(self) -> base::ValidityPeriod {
        type Unit = (u64, fn(u16) -> base::Duration);
        const UNITS: [Unit; 5] = [
            (1, base::Duration::Seconds),
            (60, base::Duration::Minutes),
            (3_600, base::Duration::Hours),
            (216_000, base::Duration::SixtyHours),
            (31_556_952, base::Duration::Years),
        ];
        let d = self.duration_s;
        let exact = UNITS
            .iter()
            .rev()
            .find(|(unit, _)| d.is_multiple_of(*unit) && d / unit <= u64::from(u16::MAX));
        let (unit, make) = exact
            .or_else(|| {
                UNITS
                    .iter()
                    .find(|(unit, _)| d.div_ceil(*unit) <= u64::from(u16::MAX))
            })
            .copied()
            .unwrap_or(UNITS[4]);
        let count = u16::try_from(d.div_ceil(unit)).unwrap_or(u16::MAX);
        base::ValidityPeriod {
            start: base::Time32(self.start.0),
            duration: make(count),
        }
    }
}

/// Why a certificate cannot be read, issued or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The bytes are not a canonical COER certificate.
    #[error("not an IEEE 1609.2 certificate: {0}")]
    Decode(#[from] DecodeError),
    /// Implicit certificates (reconstruction values) carry no key to verify with.
    #[error("implicit certificate: no verification key to check a signature with")]
    Implicit,
    /// The certificate has no signature.
    #[error("certificate carries no signature")]
    Unsigned,
    /// A key or signature on a curve vkm does not verify.
    #[error("unsupported curve {0}")]
    UnsupportedCurve(&'static str),
    /// A hash vkm does not compute.
    #[error("unsupported hash {0}")]
    UnsupportedHash(&'static str),
    /// The key is not a point of its curve.
    #[error("verification key is not a point of {0}")]
    BadKey(&'static str),
    /// The signature's curve is not the signer's key's curve.
    #[error("signature on {signature} from a key on {key}")]
    CurveMismatch {
        /// The signature's curve.
        signature: &'static str,
        /// The key's curve.
        key: &'static str,
    },
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A self-signed certificate was given an issuer, or an issued one none.
    #[error("{0}")]
    WrongSigner(&'static str),
    /// The issuing key is not the issuer certificate's verification key.
    #[error("the issuing key is not the issuer certificate's key")]
    KeyMismatch,
    /// An encryption key was asked for on a certificate that has none, or not P-256.
    #[error("no P-256 encryption key")]
    NoEncryptionKey,
    /// A field cannot be encoded (too long a name, no permission at all...).
    #[error("cannot encode the certificate: {0}")]
    Encode(String),
}

/// An IEEE 1609.2 certificate: the decoded structure and its canonical COER bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    inner: asn::Certificate,
    bytes: Vec<u8>,
}

impl Certificate {
    /// Decodes a COER certificate (at most [`MAX_CERTIFICATE_BYTES`], canonical: it
    /// encodes back to the same bytes, nothing follows it).
    pub fn from_oer(bytes: &[u8]) -> Result<Self, CertificateError> {
        let inner: asn::Certificate = codec::decode(bytes, MAX_CERTIFICATE_BYTES)?;
        Ok(Self {
            inner,
            bytes: bytes.to_vec(),
        })
    }

    /// Its COER encoding.
    pub fn to_oer(&self) -> &[u8] {
        &self.bytes
    }

    /// The decoded structure, for what vkm's accessors do not show.
    pub fn asn(&self) -> &asn::Certificate {
        &self.inner
    }

    fn from_asn(inner: asn::Certificate) -> Result<Self, CertificateError> {
        let bytes =
            rasn::coer::encode(&inner).map_err(|e| CertificateError::Encode(e.to_string()))?;
        Ok(Self { inner, bytes })
    }

    /// The certificate format version (3).
    pub fn version(&self) -> u8 {
        self.inner.version
    }

    /// Whether the certificate is explicit (carries its key and a signature).
    pub fn is_explicit(&self) -> bool {
        self.inner.is_explicit()
    }

    /// `explicit` or `implicit`.
    pub fn kind(&self) -> &'static str {
        match self.inner.r#type {
            asn::CertificateType::Implicit => "implicit",
            _ => "explicit",
        }
    }

    /// Who signed it.
    pub fn issuer(&self) -> Issuer {
        match &self.inner.issuer {
            asn::IssuerIdentifier::VSelf(alg) => Issuer::SelfSigned(HashAlgorithm::from_asn(alg)),
            asn::IssuerIdentifier::Sha384AndDigest(id) => {
                Issuer::Digest(HashAlgorithm::Sha384, HashedId8(*id.0))
            }
            asn::IssuerIdentifier::Sm3AndDigest(id) => {
                Issuer::Digest(HashAlgorithm::Sm3, HashedId8(*id.0))
            }
            asn::IssuerIdentifier::Sha256AndDigest(id) => {
                Issuer::Digest(HashAlgorithm::Sha256, HashedId8(*id.0))
            }
            // A future issuer choice: treated as SHA-256 digest-less, i.e. unknown.
            _ => Issuer::Digest(HashAlgorithm::Sha256, HashedId8::default()),
        }
    }

    /// The subject's identifier as text: its name, `none`, `binary:<hex>` or
    /// `linkage:<iCert>`.
    pub fn id(&self) -> String {
        match &self.inner.to_be_signed.id {
            asn::CertificateId::Name(name) => name.0.to_string(),
            asn::CertificateId::BinaryId(bytes) => format!("binary:{}", hex(bytes)),
            asn::CertificateId::LinkageData(l) => format!("linkage:{}", l.i_cert.0),
            _ => "none".to_owned(),
        }
    }

    /// The validity period.
    pub fn validity(&self) -> Validity {
        Validity::from_asn(&self.inner.to_be_signed.validity_period)
    }

    /// The PSIDs of the application permissions (values too large for `u64` left out).
    pub fn app_permissions(&self) -> Vec<Psid> {
        self.inner
            .to_be_signed
            .app_permissions
            .as_ref()
            .map(|list| list.0.iter().filter_map(|p| psid_of(&p.psid)).collect())
            .unwrap_or_default()
    }

    /// What it may certify: `None` if it issues no certificates; `Some(None)` for every
    /// application; `Some(Some(list))` for the PSIDs listed (with the chain length each
    /// group allows below it: minimum and range, range -1 for unbounded).
    pub fn issue_permissions(&self) -> Option<Vec<IssuePermission>> {
        let groups = self.inner.to_be_signed.cert_issue_permissions.as_ref()?;
        Some(
            groups
                .0
                .iter()
                .map(|g| IssuePermission {
                    psids: match &g.subject_permissions {
                        asn::SubjectPermissions::Explicit(list) => {
                            Some(list.0.iter().filter_map(|r| psid_of(&r.psid)).collect())
                        }
                        _ => None,
                    },
                    min_chain_length: i64::try_from(&g.min_chain_length).unwrap_or(i64::MAX),
                    chain_length_range: i64::try_from(&g.chain_length_range).unwrap_or(0),
                })
                .collect(),
        )
    }

    /// The verification key (`None` for an implicit certificate, which carries a
    /// reconstruction value instead).
    pub fn verification_key(&self) -> Option<PublicKey> {
        match &self.inner.to_be_signed.verify_key_indicator {
            asn::VerificationKeyIndicator::VerificationKey(key) => {
                let (curve, sec1) = match key {
                    base::PublicVerificationKey::EcdsaNistP256(p) => {
                        (Curve::NistP256, p256_sec1(p))
                    }
                    base::PublicVerificationKey::EcdsaBrainpoolP256r1(p) => {
                        (Curve::BrainpoolP256r1, p256_sec1(p))
                    }
                    base::PublicVerificationKey::EcdsaBrainpoolP384r1(p) => {
                        (Curve::BrainpoolP384r1, p384_sec1(p))
                    }
                    base::PublicVerificationKey::EcdsaNistP384(p) => {
                        (Curve::NistP384, p384_sec1(p))
                    }
                    base::PublicVerificationKey::EcsigSm2(p) => (Curve::Sm2, p256_sec1(p)),
                    _ => return None,
                };
                Some(PublicKey { curve, sec1: sec1? })
            }
            _ => None,
        }
    }

    /// The encryption key, if the certificate carries one.
    pub fn encryption_key(&self) -> Option<PublicKey> {
        let key = self.inner.to_be_signed.encryption_key.as_ref()?;
        let (curve, point) = match &key.public_key {
            base::BasePublicEncryptionKey::EciesNistP256(p) => (Curve::NistP256, p),
            base::BasePublicEncryptionKey::EciesBrainpoolP256r1(p) => (Curve::BrainpoolP256r1, p),
            base::BasePublicEncryptionKey::EcencSm2(p) => (Curve::Sm2, p),
            _ => return None,
        };
        Some(PublicKey {
            curve,
            sec1: p256_sec1(point)?,
        })
    }

    /// The P-256 encryption key, parsed (what a sender seals to with IEEE 1609.2 ECIES).
    pub fn p256_encryption_key(&self) -> Result<p256::PublicKey, CertificateError> {
        match self.encryption_key() {
            Some(PublicKey {
                curve: Curve::NistP256,
                sec1,
            }) => p256::PublicKey::from_sec1_bytes(&sec1)
                .map_err(|_| CertificateError::NoEncryptionKey),
            _ => Err(CertificateError::NoEncryptionKey),
        }
    }

    /// The P-256 verification key, parsed.
    pub fn p256_verification_key(&self) -> Result<p256::ecdsa::VerifyingKey, CertificateError> {
        match self.verification_key() {
            Some(PublicKey {
                curve: Curve::NistP256,
                sec1,
            }) => p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map_err(|_| CertificateError::BadKey("nistp256")),
            Some(key) => Err(CertificateError::UnsupportedCurve(key.curve.name())),
            None => Err(CertificateError::Implicit),
        }
    }

    /// The signature's curve, if signed.
    pub fn signature_curve(&self) -> Option<Curve> {
        Some(match self.inner.signature.as_ref()? {
            base::Signature::EcdsaNistP256(_) => Curve::NistP256,
            base::Signature::EcdsaBrainpoolP256r1(_) => Curve::BrainpoolP256r1,
            base::Signature::EcdsaBrainpoolP384r1(_) => Curve::BrainpoolP384r1,
            base::Signature::EcdsaNistP384(_) => Curve::NistP384,
            _ => Curve::Sm2,
        })
    }

    /// The signature's curve and `r || s` (32 + 32 or 48 + 48 bytes), `r` being the
    /// x-coordinate however the certificate writes it.
    pub fn signature_rs(&self) -> Result<(Curve, Vec<u8>), CertificateError> {
        let signature = self
            .inner
            .signature
            .as_ref()
            .ok_or(CertificateError::Unsigned)?;
        let (curve, r, s) = crate::ecdsa::parts(signature)?;
        Ok((curve, [r, s].concat()))
    }

    /// The hash that names this certificate (IEEE 1609.2 §5.3.9.2: the one that goes with
    /// its verification key's curve; SHA-256 for an implicit certificate).
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.verification_key()
            .map(|k| k.curve.hash())
            .unwrap_or(HashAlgorithm::Sha256)
    }

    /// The hash of the whole certificate (what an issued certificate's signature input
    /// contains).
    pub fn digest(&self) -> Result<Vec<u8>, CertificateError> {
        self.hash_algorithm().digest(&self.bytes)
    }

    /// The certificate's `HashedId8`: the last 8 bytes of [`Self::digest`].
    pub fn hashed_id8(&self) -> Result<HashedId8, CertificateError> {
        let digest = self.digest()?;
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[digest.len() - 8..]);
        Ok(HashedId8(id))
    }

    /// The hash of `COER(toBeSigned)`, with the hash of the signature's curve: the first
    /// half of [`Self::signing_input`].
    pub fn tbs_digest(&self) -> Result<Vec<u8>, CertificateError> {
        let curve = self.signature_curve().ok_or(CertificateError::Unsigned)?;
        let tbs = rasn::coer::encode(&self.inner.to_be_signed)
            .map_err(|e| CertificateError::Encode(e.to_string()))?;
        curve.hash().digest(&tbs)
    }

    /// The bytes the signer signs (ECDSA hashes them once more): `Hash(COER(toBeSigned))
    /// || Hash(signer)`, with the signer's certificate, or the empty string for a
    /// self-signed one.
    pub fn signing_input(&self, signer: Option<&Certificate>) -> Result<Vec<u8>, CertificateError> {
        let curve = self.signature_curve().ok_or(CertificateError::Unsigned)?;
        let mut input = self.tbs_digest()?;
        input.extend(
            curve
                .hash()
                .digest(signer.map(|s| s.to_oer()).unwrap_or_default())?,
        );
        Ok(input)
    }

    /// Checks the signature: with the certificate's own key when it is self-signed
    /// (`signer` must be `None`), else with `signer`'s key.
    pub fn verify_signature(&self, signer: Option<&Certificate>) -> Result<(), CertificateError> {
        let key_holder = match (self.issuer(), signer) {
            (Issuer::SelfSigned(_), None) => self,
            (Issuer::Digest(..), Some(signer)) => signer,
            (Issuer::SelfSigned(_), Some(_)) => {
                return Err(CertificateError::WrongSigner(
                    "a self-signed certificate is checked with its own key",
                ));
            }
            (Issuer::Digest(..), None) => {
                return Err(CertificateError::WrongSigner(
                    "an issued certificate is checked with its issuer's certificate",
                ));
            }
        };
        let key = key_holder
            .verification_key()
            .ok_or(CertificateError::Implicit)?;
        let signature = self
            .inner
            .signature
            .as_ref()
            .ok_or(CertificateError::Unsigned)?;
        let input = self.signing_input(signer)?;
        crate::ecdsa::verify(&key, signature, &input)
    }

    /// A self-signed root certificate for `key`: it may issue certificates for every
    /// application, in chains of any length below it.
    pub fn root(
        key: &SigningKey,
        name: &str,
        validity: Validity,
    ) -> Result<Self, CertificateError> {
        let request = CertificateRequest {
            name: Some(name.to_owned()),
            validity,
            app_permissions: Vec::new(),
            issue: Some(1),
            verification_key: *key.verifying_key(),
            encryption_key: None,
        };
        Self::self_signed(key, &request)
    }

    /// A self-signed certificate saying what `request` says (its verification key must be
    /// `key`'s); as an authority (`request.issue`), it heads chains of any length.
    pub fn self_signed(
        key: &SigningKey,
        request: &CertificateRequest,
    ) -> Result<Self, CertificateError> {
        if request.verification_key != *key.verifying_key() {
            return Err(CertificateError::KeyMismatch);
        }
        let tbs = request.to_be_signed(-1)?;
        sign(
            key,
            asn::IssuerIdentifier::VSelf(base::HashAlgorithm::Sha256),
            tbs,
            None,
        )
    }

    /// Issues a certificate for `request` under this certificate, signed with `key` (the
    /// private key of this certificate's verification key). P-256 only; the validity must
    /// lie inside the issuer's and the PSIDs must be ones the issuer may grant.
    pub fn issue(
        &self,
        key: &SigningKey,
        request: &CertificateRequest,
    ) -> Result<Self, CertificateError> {
        if self.p256_verification_key()? != *key.verifying_key() {
            return Err(CertificateError::KeyMismatch);
        }
        let permissions = self.issue_permissions().ok_or_else(|| {
            CertificateError::Encode("the issuer has no certIssuePermissions".into())
        })?;
        for psid in &request.app_permissions {
            if !permissions.iter().any(|p| p.grants(*psid)) {
                return Err(CertificateError::Encode(format!(
                    "the issuer may not grant PSID {:#x}",
                    psid.0
                )));
            }
        }
        if !self.validity().covers(&request.validity) {
            return Err(CertificateError::Encode(
                "the validity is not inside the issuer's".into(),
            ));
        }
        let tbs = request.to_be_signed(0)?;
        let id = self.hashed_id8()?;
        sign(
            key,
            asn::IssuerIdentifier::Sha256AndDigest(base::HashedId8(FixedOctetString::from(id.0))),
            tbs,
            Some(self),
        )
    }
}

/// One group of a certificate's issuing permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuePermission {
    /// The PSIDs it may grant, or `None` for all.
    pub psids: Option<Vec<Psid>>,
    /// How many certificates at least lie below the issuer in a chain it heads.
    pub min_chain_length: i64,
    /// How many more may (-1: any number).
    pub chain_length_range: i64,
}

impl IssuePermission {
    /// Whether the group lets the issuer grant `psid`.
    pub fn grants(&self, psid: Psid) -> bool {
        self.psids.as_ref().is_none_or(|list| list.contains(&psid))
    }

    /// Whether a chain with `below` certificates under the issuer fits the group.
    pub fn allows_depth(&self, below: usize) -> bool {
        let below = i64::try_from(below).unwrap_or(i64::MAX);
        below >= self.min_chain_length
            && (self.chain_length_range < 0
                || below
                    <= self
                        .min_chain_length
                        .saturating_add(self.chain_length_range))
    }
}

/// What a new P-256 certificate says about its subject.
#[derive(Debug, Clone)]
pub struct CertificateRequest {
    /// The subject's name, or `None` (TS 103 097 authorization tickets carry no name).
    pub name: Option<String>,
    /// The validity period.
    pub validity: Validity,
    /// The applications the subject may sign for.
    pub app_permissions: Vec<Psid>,
    /// `Some(n)`: the subject is an authority that may issue certificates for every
    /// application, heading chains of exactly `n` certificates below it (1: it issues
    /// end entities).
    pub issue: Option<u8>,
    /// The subject's verification key.
    pub verification_key: p256::ecdsa::VerifyingKey,
    /// The subject's encryption key (IEEE 1609.2 ECIES, AES-128-CCM), if any.
    pub encryption_key: Option<p256::PublicKey>,
}

impl CertificateRequest {
    fn to_be_signed(
        &self,
        chain_range: i8,
    ) -> Result<asn::ToBeSignedCertificate, CertificateError> {
        let id = match &self.name {
            Some(name) if name.len() > 255 => {
                return Err(CertificateError::Encode(
                    "name longer than 255 bytes".into(),
                ));
            }
            Some(name) => asn::CertificateId::Name(base::Hostname(name.clone())),
            None => asn::CertificateId::None(()),
        };
        let app_permissions = (!self.app_permissions.is_empty()).then(|| {
            base::SequenceOfPsidSsp(
                self.app_permissions
                    .iter()
                    .map(|p| base::PsidSsp {
                        psid: base::Psid(Integer::from(p.0)),
                        ssp: None,
                    })
                    .collect(),
            )
        });
        let cert_issue_permissions = self.issue.map(|min| {
            asn::SequenceOfPsidGroupPermissions(vec![
                asn::PsidGroupPermissions::builder()
                    .subject_permissions(asn::SubjectPermissions::All(()))
                    .min_chain_length(Integer::from(min))
                    .chain_length_range(Integer::from(chain_range))
                    .build(),
            ])
        });
        let encryption_key = self.encryption_key.map(|key| base::PublicEncryptionKey {
            supported_symm_alg: base::SymmAlgorithm::Aes128Ccm,
            public_key: base::BasePublicEncryptionKey::EciesNistP256(compressed_point(
                key.to_sec1_point(true).as_bytes(),
            )),
        });
        let verify_key = base::PublicVerificationKey::EcdsaNistP256(compressed_point(
            self.verification_key.to_sec1_point(true).as_bytes(),
        ));
        asn::ToBeSignedCertificate::builder()
            .id(id)
            .craca_id(base::HashedId3(FixedOctetString::from([0u8; 3])))
            .crl_series(base::CrlSeries(0))
            .validity_period(self.validity.to_asn())
            .maybe_app_permissions(app_permissions)
            .maybe_cert_issue_permissions(cert_issue_permissions)
            .maybe_encryption_key(encryption_key)
            .verify_key_indicator(asn::VerificationKeyIndicator::VerificationKey(verify_key))
            .build()
            .map_err(|e| CertificateError::Encode(e.to_string()))
    }
}

/// Signs `tbs` into an explicit certificate (RFC 6979 deterministic ECDSA, so the same
/// request and key give the same bytes).
fn sign(
    key: &SigningKey,
    issuer: asn::IssuerIdentifier,
    tbs: asn::ToBeSignedCertificate,
    signer: Option<&Certificate>,
) -> Result<Certificate, CertificateError> {
    use p256::ecdsa::signature::Signer;
    let unsigned = asn::CertificateBase {
        version: asn::CertificateBase::VERSION,
        r#type: asn::CertificateType::Explicit,
        issuer,
        to_be_signed: tbs,
        signature: Some(base::Signature::EcdsaNistP256(base::EcdsaP256Signature {
            r_sig: base::EccP256CurvePoint::XOnly(FixedOctetString::from([0u8; 32])),
            s_sig: FixedOctetString::from([0u8; 32]),
        })),
    };
    let explicit = asn::ExplicitCertificate::new(unsigned)
        .map_err(|e| CertificateError::Encode(e.to_string()))?;
    let mut cert = Certificate::from_asn(asn::Certificate::from(explicit))?;
    let input = cert.signing_input(signer)?;
    // Low S: verifiers that insist on it (vkm's do) accept it, the others too.
    let signature: p256::ecdsa::Signature = key.sign(&input);
    let signature = signature.normalize_s();
    let (r, s) = signature.split_bytes();
    let mut base = (*cert.inner).clone();
    base.signature = Some(base::Signature::EcdsaNistP256(base::EcdsaP256Signature {
        r_sig: base::EccP256CurvePoint::XOnly(FixedOctetString::from(<[u8; 32]>::from(r))),
        s_sig: FixedOctetString::from(<[u8; 32]>::from(s)),
    }));
    let explicit =
        asn::ExplicitCertificate::new(base).map_err(|e| CertificateError::Encode(e.to_string()))?;
    cert = Certificate::from_asn(asn::Certificate::from(explicit))?;
    Ok(cert)
}

/// A SEC1 P-256 point (33 or 65 bytes) as the compressed 1609.2 choice.
pub(crate) fn compressed_point(sec1: &[u8]) -> base::EccP256CurvePoint {
    let mut x = [0u8; 32];
    x.copy_from_slice(&sec1[1..33]);
    let odd = match sec1.len() {
        65 => sec1[64] & 1 == 1,
        _ => sec1[0] == 0x03,
    };
    if odd {
        base::EccP256CurvePoint::CompressedY1(FixedOctetString::from(x))
    } else {
        base::EccP256CurvePoint::CompressedY0(FixedOctetString::from(x))
    }
}

/// The SEC1 encoding of a 256-bit curve point (`None` for x-only and fill).
pub(crate) fn p256_sec1(point: &base::EccP256CurvePoint) -> Option<Vec<u8>> {
    Some(match point {
        base::EccP256CurvePoint::CompressedY0(x) => [&[0x02u8][..], &x[..]].concat(),
        base::EccP256CurvePoint::CompressedY1(x) => [&[0x03u8][..], &x[..]].concat(),
        base::EccP256CurvePoint::Uncompressed(p) => [&[0x04u8][..], &p.x[..], &p.y[..]].concat(),
        _ => return None,
    })
}

fn p384_sec1(point: &base::EccP384CurvePoint) -> Option<Vec<u8>> {
    Some(match point {
        base::EccP384CurvePoint::CompressedY0(x) => [&[0x02u8][..], &x[..]].concat(),
        base::EccP384CurvePoint::CompressedY1(x) => [&[0x03u8][..], &x[..]].concat(),
        base::EccP384CurvePoint::Uncompressed(p) => [&[0x04u8][..], &p.x[..], &p.y[..]].concat(),
        _ => return None,
    })
}

fn psid_of(psid: &base::Psid) -> Option<Psid> {
    u64::try_from(&psid.0).ok().map(Psid)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
