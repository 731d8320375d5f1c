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
use crate::signature::{sign, verify_reference};
use crate::transfer::check_certificate;

/// A road-side unit of a domain, numbered by its security manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RsuId(pub u32);

/// A crossing request, signed by the vehicle's pseudonym key. 243 bytes encoded.
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

impl CrossingRequest {
    /// Domain-separation tag of the signing preimage.
    pub const SIGNING_TAG: &'static [u8] = b"vkm/crossing-request/sig/v1";

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
            signed_at,
            signature: CompactSignature::default(),
        };
        request.signature = sign(&pseudonym.key, &request.signing_preimage());
        request
    }

    /// The bytes the vehicle signs: tag, then every field but the signature.
    pub fn signing_preimage(&self) -> Vec<u8> {
        let mut out = Self::SIGNING_TAG.to_vec();
        self.encode_unsigned(&mut out);
        out
    }

    fn encode_unsigned<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.materials.encode(sink);
        self.destination.encode(sink);
        self.rsu.0.encode(sink);
        self.signed_at.encode(sink);
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
        verify_reference(&key, &self.signing_preimage(), &self.signature)
            .map_err(|_| RequestError::BadSignature)?;
        if self.rsu != arrived_via {
            return Err(RequestError::WrongRsu {
                signed_for: self.rsu,
                arrived_via,
            });
        }
        if self.signed_at.0 > now.0.saturating_add(freshness.skew_ms) {
            return Err(RequestError::FromTheFuture {
                signed_at: self.signed_at,
                now,
            });
        }
        if now.0.saturating_sub(self.signed_at.0) > freshness.window_ms {
            return Err(RequestError::Stale {
                signed_at: self.signed_at,
                now,
                window_ms: freshness.window_ms,
            });
        }
        Ok(())
    }

    /// Its canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        serialize(self)
    }
}

impl Encode for CrossingRequest {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.encode_unsigned(sink);
        self.signature.encode(sink);
    }
}

impl Decode for CrossingRequest {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            materials: Decode::decode(reader)?,
            destination: Decode::decode(reader)?,
            rsu: RsuId(reader.u32("rsu")?),
            signed_at: Decode::decode(reader)?,
            signature: Decode::decode(reader)?,
        })
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
        match self.seen.entry(request.id()) {
            std::collections::hash_map::Entry::Occupied(_) => Err(RequestError::Replayed),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(request.signed_at);
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
