//! A vehicle's signed crossing request: what starts a key transfer.
//!
//! A vehicle approaching the border of its domain signs a request with its pseudonym key
//! and sends it to the road-side unit (RSU) there. The request names the destination
//! security manager, the RSU and the time it was signed, and carries the vehicle's
//! identity materials. The source security manager checks it ([`CrossingRequest::check`])
//! before it builds the key transfer: the certificate (issued by a registered central
//! manager, valid, not revoked), the signature under the certified key (proof of
//! possession: only the pseudonym's holder can move its identity), the RSU it came
//! through, freshness, and replay ([`ReplayGuard`]). Lei et al. start the transfer from a
//! crossing the RSU reports and check nothing of the vehicle; `docs/deviations.md` says
//! why vkm asks for this.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use vkm_block::{
    CompactSignature, Decode, DecodeError, Encode, MemberId, Reader, Sink, Timestamp, serialize,
};

use crate::central::Pseudonym;
use crate::certificate::{CertificateError, IdentityMaterials};
use crate::directory::Directory;
use crate::signature::{sign, verify};
use crate::transfer::check_certificate;

/// A road-side unit of a domain, numbered by its security manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RsuId(pub u32);

/// A crossing request, signed by the vehicle's pseudonym key: on the wire, an IEEE 1609.2
/// `SignedData` (vkm's PSID, generation time, payload `destination (u32) || RSU (u32)`)
/// carrying the pseudonym certificate as its signer; 295 bytes encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossingRequest {
    /// The vehicle's identity materials (pseudonym and certificate).
    pub materials: IdentityMaterials,
    /// The security manager of the domain it is about to enter.
    pub destination: MemberId,
    /// The RSU it sends the request to.
    pub rsu: RsuId,
    /// When it signed the request.
    pub signed_at: Timestamp,
    /// ECDSA P-256 (low S) under the certificate's pseudonym key, over
    /// [`CrossingRequest::signing_preimage`].
    pub signature: CompactSignature,
}

/// Identifies a request by what was signed (what the replay guard remembers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub [u8; 32]);

/// Why a crossing request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The certificate is refused (unknown issuer, bad signature, expired, revoked...).
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// The signature does not verify under the certified pseudonym key: whoever sent it
    /// does not hold the pseudonym.
    #[error("request signature does not verify under the pseudonym key")]
    BadSignature,
    /// Signed too long ago.
    #[error("request signed at {signed_at:?}, older than {window_ms} ms at {now:?}")]
    Stale {
        /// When it was signed.
        signed_at: Timestamp,
        /// When it was checked.
        now: Timestamp,
        /// The freshness window.
        window_ms: u64,
    },
    /// Signed later than the checker's clock allows.
    #[error("request signed at {signed_at:?}, in the future at {now:?}")]
    FromTheFuture {
        /// When it claims to be signed.
        signed_at: Timestamp,
        /// When it was checked.
        now: Timestamp,
    },
    /// It arrived through another RSU than the one it was signed for.
    #[error("request signed for {signed_for:?}, arrived through {arrived_via:?}")]
    WrongRsu {
        /// The RSU named in the request.
        signed_for: RsuId,
        /// The RSU that delivered it.
        arrived_via: RsuId,
    },
    /// The same request was accepted before.
    #[error("request seen before (replay)")]
    Replayed,
}

/// How a security manager judges a request's age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// A request older than this is stale, ms.
    pub window_ms: u64,
    /// A request may be signed up to this far ahead of the checker's clock, ms.
    pub skew_ms: u64,
}

impl Default for Freshness {
    /// Ten seconds back, one second ahead.
    fn default() -> Self {
        Self {
            window_ms: 10_000,
            skew_ms: 1_000,
        }
    }
}

/// The largest crossing request accepted, in bytes (one is about 300).
pub const MAX_CROSSING_REQUEST_BYTES: usize = 1024;

/// IEEE 1609.2 `Time64` (microseconds since 2004-01-01) of a vkm timestamp (saturating at
/// the 2004 epoch).
fn generation_time_us(at: Timestamp) -> u64 {
    at.0.saturating_sub(vkm_its::EPOCH_UNIX_S * 1000)
        .saturating_mul(1000)
}

impl CrossingRequest {
    /// The request `pseudonym`'s holder signs at `signed_at`, to enter `destination`'s
    /// domain through `rsu`.
    pub fn sign(
        pseudonym: &Pseudonym,
        destination: MemberId,
        rsu: RsuId,
        signed_at: Timestamp,
    ) -> Self {
        let mut request = Self {
            materials: pseudonym.materials.clone(),
            destination,
            rsu,
            // IEEE 1609.2 time (`Time64`, microseconds) starts in 2004 and ends some
            // 584,000 years later: a clock outside signs the nearest end.
            signed_at: Timestamp(signed_at.0.clamp(
                vkm_its::EPOCH_UNIX_S * 1000,
                vkm_its::EPOCH_UNIX_S * 1000 + u64::MAX / 1000,
            )),
            signature: CompactSignature::default(),
        };
        request.signature = sign(&pseudonym.key, &request.signing_preimage());
        request
    }

    /// The data to be signed, as IEEE 1609.2 `ToBeSignedData`.
    fn unsigned(&self) -> Option<vkm_its::Unsigned> {
        let mut payload = Vec::with_capacity(8);
        self.destination.encode(&mut payload);
        self.rsu.0.encode(&mut payload);
        vkm_its::Unsigned::new(
            &payload,
            vkm_its::PSID_VKM_KEY_TRANSFER,
            generation_time_us(self.signed_at),
        )
        .ok()
    }

    /// The bytes the vehicle signs (ECDSA-SHA256 hashes them once more), IEEE 1609.2's
    /// `SHA-256(COER(tbsData)) || SHA-256(pseudonym certificate)`.
    pub fn signing_preimage(&self) -> Vec<u8> {
        self.unsigned()
            .and_then(|u| u.signing_input(self.materials.certificate.ticket()).ok())
            .unwrap_or_default()
    }

    /// The IEEE 1609.2 signed data it travels as.
    pub fn signed_data(&self) -> Option<vkm_its::SignedData> {
        self.unsigned()?
            .assemble(
                vkm_its::SignerRef::Certificate(self.materials.certificate.ticket()),
                &self.signature.0,
            )
            .ok()
    }

    /// The request's id: SHA-256 of what was signed.
    pub fn id(&self) -> RequestId {
        RequestId(Sha256::digest(self.signing_preimage()).into())
    }

    /// What the source security manager checks, in this order: the certificate against
    /// the chain's `directory` at `now` (registered central manager, its signature,
    /// validity, revocation); the request's signature under the certified key; the RSU it
    /// `arrived_via`; its age. Replay is the [`ReplayGuard`]'s.
    pub fn check<D: Directory + ?Sized>(
        &self,
        directory: &D,
        arrived_via: RsuId,
        now: Timestamp,
        freshness: Freshness,
    ) -> Result<(), RequestError> {
        check_certificate(&self.materials, directory, now)?;
        let key = self.materials.certificate.verifying_key()?;
        verify(&key, &self.signing_preimage(), &self.signature)
            .map_err(|_| RequestError::BadSignature)?;
        check_route_and_age(self.rsu, arrived_via, self.signed_at, now, freshness)
    }

    /// Its canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        serialize(self)
    }
}

/// The request came through the RSU it was signed for, and its age is within the window.
fn check_route_and_age(
    signed_for: RsuId,
    arrived_via: RsuId,
    signed_at: Timestamp,
    now: Timestamp,
    freshness: Freshness,
) -> Result<(), RequestError> {
    if signed_for != arrived_via {
        return Err(RequestError::WrongRsu {
            signed_for,
            arrived_via,
        });
    }
    if signed_at.0 > now.0.saturating_add(freshness.skew_ms) {
        return Err(RequestError::FromTheFuture { signed_at, now });
    }
    if now.0.saturating_sub(signed_at.0) > freshness.window_ms {
        return Err(RequestError::Stale {
            signed_at,
            now,
            window_ms: freshness.window_ms,
        });
    }
    Ok(())
}

impl Encode for CrossingRequest {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        // Built from valid parts, the signed data always encodes.
        let bytes = self
            .signed_data()
            .map(|d| d.to_oer().to_vec())
            .unwrap_or_default();
        vkm_block::put_len(sink, bytes.len());
        sink.put(&bytes);
    }
}

impl Decode for CrossingRequest {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = reader.offset();
        let invalid = |reason| DecodeError::invalid(start, "crossing request", reason);
        let bytes = reader.bytes(MAX_CROSSING_REQUEST_BYTES, "crossing request")?;
        let data = vkm_its::SignedData::from_oer(&bytes)
            .map_err(|_| invalid("not canonical IEEE 1609.2 signed data"))?;
        let vkm_its::Signer::Certificate(ticket) = data
            .signer()
            .map_err(|_| invalid("signer is not a certificate"))?
        else {
            return Err(invalid("signer is not a certificate"));
        };
        let certificate =
            crate::certificate::PseudonymCertificate::from_ticket(*ticket).map_err(invalid)?;
        if data.psid() != Some(vkm_its::PSID_VKM_KEY_TRANSFER) {
            return Err(invalid("not vkm's PSID"));
        }
        let payload: &[u8; 8] = data
            .payload()
            .and_then(|p| p.try_into().ok())
            .ok_or(invalid("payload is not destination and RSU"))?;
        let generated = data
            .generation_time_us()
            .filter(|us| us % 1000 == 0)
            .ok_or(invalid("no generation time in whole milliseconds"))?;
        let rs = match data.signature_rs() {
            Ok((vkm_its::Curve::NistP256, rs)) => rs,
            _ => return Err(invalid("signature is not P-256")),
        };
        let mut fields = Reader::new(payload);
        let request = Self {
            materials: IdentityMaterials::new(certificate),
            destination: Decode::decode(&mut fields)?,
            rsu: RsuId(fields.u32("rsu")?),
            signed_at: Timestamp((generated / 1000).saturating_add(vkm_its::EPOCH_UNIX_S * 1000)),
            signature: CompactSignature(rs.try_into().map_err(|_| invalid("signature length"))?),
        };
        // One encoding per request (an `r` written other than x-only is refused).
        if request.signed_data().as_ref().map(|d| d.to_oer()) != Some(&bytes[..]) {
            return Err(invalid("not the canonical encoding"));
        }
        Ok(request)
    }
}

/// The requests a security manager accepted within the freshness window: a request seen
/// again is a replay. Older ones are forgotten (they are stale anyway), so the guard holds
/// at most a window's worth of requests.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: HashMap<RequestId, Timestamp>,
    window_ms: u64,
}

impl ReplayGuard {
    /// A guard remembering requests for the freshness window.
    pub fn new(freshness: Freshness) -> Self {
        Self {
            seen: HashMap::new(),
            window_ms: freshness.window_ms.saturating_add(freshness.skew_ms),
        }
    }

    /// Records `request` (checked, so fresh); [`RequestError::Replayed`] if it was recorded
    /// before. Call [`ReplayGuard::forget_before`] now and then (a manager does at the end
    /// of every collection period).
    pub fn record(&mut self, request: &CrossingRequest) -> Result<(), RequestError> {
        self.record_id(request.id(), request.signed_at)
    }

    /// Records a signed message by its id and signing time (a [`PseudonymChange`], say).
    pub fn record_id(&mut self, id: RequestId, signed_at: Timestamp) -> Result<(), RequestError> {
        match self.seen.entry(id) {
            std::collections::hash_map::Entry::Occupied(_) => Err(RequestError::Replayed),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(signed_at);
                Ok(())
            }
        }
    }

    /// Forgets requests that are stale at `now`.
    pub fn forget_before(&mut self, now: Timestamp) {
        let window = self.window_ms;
        self.seen
            .retain(|_, signed_at| now.0.saturating_sub(signed_at.0) <= window);
    }

    /// Requests remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether it remembers none.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// A vehicle's switch to a new pseudonym inside its domain (a refresh from its central
/// manager's new set): signed by the old pseudonym's key (it is the member) and by the new
/// one's (it holds the new pseudonym). Its manager keeps the vehicle in the group under
/// the new pseudonym, with the same keys: no rekey. The vehicle seals it to its manager
/// ([`PseudonymChange::seal`]), so that nobody on the radio links the two pseudonyms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PseudonymChange {
    /// The pseudonym the vehicle is a member under.
    pub old: crate::certificate::PseudonymId,
    /// The new pseudonym's identity materials.
    pub new: IdentityMaterials,
    /// The RSU it sends the change to.
    pub rsu: RsuId,
    /// When it signed.
    pub signed_at: Timestamp,
    /// Signature under the old pseudonym's key.
    pub old_signature: CompactSignature,
    /// Signature under the new pseudonym's key.
    pub new_signature: CompactSignature,
}

/// Why a pseudonym change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeError {
    /// It does not open with the manager's key, or does not decode.
    #[error("the sealed change does not open or decode")]
    Unreadable,
    /// The old pseudonym is not a member of this domain's group.
    #[error("the old pseudonym is not a member here")]
    NotAMember,
    /// The new pseudonym is a member already.
    #[error("the new pseudonym is a member already")]
    AlreadyAMember,
    /// The old pseudonym's certificate is revoked: no escape by refresh.
    #[error("the old pseudonym's certificate is revoked")]
    OldRevoked,
    /// A check the crossing request also makes failed (the new certificate, a signature,
    /// RSU, freshness, replay).
    #[error(transparent)]
    Request(#[from] RequestError),
}

/// `P1` of a sealed pseudonym change to `manager`.
fn change_p1(manager: MemberId) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"vkm/pseudonym-change/v1");
    h.update(manager.0.to_le_bytes());
    h.finalize().into()
}

impl PseudonymChange {
    /// Domain-separation tag of the signing preimage.
    pub const SIGNING_TAG: &'static [u8] = b"vkm/pseudonym-change/sig/v1";

    /// The change from `old` to `new`, signed by both, at `signed_at` through `rsu`.
    pub fn sign(old: &Pseudonym, new: &Pseudonym, rsu: RsuId, signed_at: Timestamp) -> Self {
        let mut change = Self {
            old: old.materials.pseudonym,
            new: new.materials.clone(),
            rsu,
            signed_at,
            old_signature: CompactSignature::default(),
            new_signature: CompactSignature::default(),
        };
        let preimage = change.signing_preimage();
        change.old_signature = sign(&old.key, &preimage);
        change.new_signature = sign(&new.key, &preimage);
        change
    }

    /// The bytes both keys sign: tag, then every field but the signatures.
    pub fn signing_preimage(&self) -> Vec<u8> {
        let mut out = Self::SIGNING_TAG.to_vec();
        self.encode_unsigned(&mut out);
        out
    }

    fn encode_unsigned<S: Sink + ?Sized>(&self, sink: &mut S) {
        sink.put(&self.old.0);
        self.new.encode(sink);
        self.rsu.0.encode(sink);
        self.signed_at.encode(sink);
    }

    /// The change's id: SHA-256 of what was signed.
    pub fn id(&self) -> RequestId {
        RequestId(Sha256::digest(self.signing_preimage()).into())
    }

    /// Seals the change to `manager`'s P-256 encryption key (IEEE 1609.2 ECIES).
    pub fn seal<R: rand::CryptoRng + ?Sized>(
        &self,
        manager: MemberId,
        manager_key: &p256::PublicKey,
        rng: &mut R,
    ) -> Result<Vec<u8>, crate::seal::SealError> {
        use crate::seal::Sealer;
        crate::seal::ieee1609::Ieee1609Ecies.seal(
            manager_key,
            &change_p1(manager),
            &serialize(self),
            rng,
        )
    }

    /// Opens what [`PseudonymChange::seal`] sealed to `manager`.
    pub fn open(
        manager: MemberId,
        secret: &crate::keys::EncryptionSecret,
        sealed: &[u8],
    ) -> Result<Self, ChangeError> {
        use crate::seal::Sealer;
        let secret = secret.as_p256().ok_or(ChangeError::Unreadable)?;
        let plaintext = crate::seal::ieee1609::Ieee1609Ecies
            .open(secret, &change_p1(manager), sealed)
            .map_err(|_| ChangeError::Unreadable)?;
        vkm_block::deserialize(&plaintext).map_err(|_| ChangeError::Unreadable)
    }

    /// What the manager checks, given the certified key of the member `old`: both
    /// signatures, the new certificate against the chain's `directory` at `now`, the RSU
    /// and freshness (replay is the [`ReplayGuard`]'s).
    pub fn check<D: Directory + ?Sized>(
        &self,
        old_key: &vkm_block::PublicKeyBytes,
        directory: &D,
        arrived_via: RsuId,
        now: Timestamp,
        freshness: Freshness,
    ) -> Result<(), ChangeError> {
        let preimage = self.signing_preimage();
        let old_key = crate::keys::verifying_key_from_chain(old_key)
            .map_err(|_| RequestError::BadSignature)?;
        verify(&old_key, &preimage, &self.old_signature).map_err(|_| RequestError::BadSignature)?;
        check_certificate(&self.new, directory, now).map_err(RequestError::from)?;
        let new_key = self
            .new
            .certificate
            .verifying_key()
            .map_err(RequestError::from)?;
        verify(&new_key, &preimage, &self.new_signature).map_err(|_| RequestError::BadSignature)?;
        check_route_and_age(self.rsu, arrived_via, self.signed_at, now, freshness)?;
        Ok(())
    }
}

impl Encode for PseudonymChange {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.encode_unsigned(sink);
        self.old_signature.encode(sink);
        self.new_signature.encode(sink);
    }
}

impl Decode for PseudonymChange {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            old: crate::certificate::PseudonymId(reader.array("old pseudonym id")?),
            new: Decode::decode(reader)?,
            rsu: RsuId(reader.u32("rsu")?),
            signed_at: Decode::decode(reader)?,
            old_signature: Decode::decode(reader)?,
            new_signature: Decode::decode(reader)?,
        })
    }
}
