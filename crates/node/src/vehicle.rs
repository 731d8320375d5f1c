//! The vehicle (on-board unit) as a sans-IO state machine, and what its security manager
//! broadcasts to the domain.
//!
//! A vehicle holds its current pseudonym (signing and decryption keys, certificate) and
//! its domain's group keys (`vkm_rekey`'s vehicle side). Approaching a border it signs a
//! [`CrossingRequest`] for the RSU there; the security manager of the domain it enters
//! admits it when the key transfer is mined and, at its next rekey, broadcasts a
//! [`DomainRekey`]: the rekey message for every member and a [`SealedWelcome`] for each
//! joiner, its individual key sealed to its pseudonym's encryption key with IEEE 1609.2
//! ECIES. The vehicle opens its welcome, applies the rekey, and from then on seals and
//! opens basic safety messages (BSMs) under the domain's group key.

use std::sync::Arc;

use p256::{PublicKey, SecretKey};
use rand::CryptoRng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};
use vkm_block::{
    Decode, DecodeError, DecodeErrorKind, Encode, MemberId, Reader, Sink, Timestamp,
    encode::put_len,
};
use vkm_rekey::{BsmError, NodeKey, RekeyMessage, SealedBsm, VehicleId, VehicleKeys, Welcome};
use vkm_transfer::central::Pseudonym;
use vkm_transfer::certificate::PseudonymId;
use vkm_transfer::crossing::{CrossingRequest, PseudonymChange, RsuId};
use vkm_transfer::seal::ieee1609::{self, SealedMessage};
use vkm_transfer::seal::{MalformedCiphertext, OpenError, SealError, Sealer};
use zeroize::Zeroizing;

/// A joiner's individual key, sealed to its pseudonym's encryption key (IEEE 1609.2
/// ECIES; `P1` binds it to the domain, the pseudonym and the rekey epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedWelcome {
    /// The pseudonym it is for.
    pub pseudonym: PseudonymId,
    /// The `HashedId8` of that pseudonym's certificate: the IEEE 1609.2 `certRecipInfo`
    /// the welcome names on the wire.
    pub recipient: vkm_its::HashedId8,
    /// The sealed welcome: the security manager's handle for the vehicle, its leaf in the
    /// key tree and its individual key (28 bytes before sealing).
    pub sealed: SealedMessage,
}

/// What a security manager broadcasts in its domain after a batch rekey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRekey {
    /// The domain's security manager.
    pub domain: MemberId,
    /// The rekey message every member applies.
    pub message: RekeyMessage,
    /// One welcome per vehicle that joined.
    pub welcomes: Vec<SealedWelcome>,
}

/// Bytes of a welcome before sealing.
const WELCOME_BYTES: usize = 8 + 4 + 16;
/// Most bytes of a sealed welcome on the wire: the IEEE 1609.2 `EncryptedData` around
/// the sealed 28 bytes (about 20 bytes of structure; 32 allowed).
pub const SEALED_WELCOME_BYTES: usize = ieee1609::HEADER_BYTES + WELCOME_BYTES + 16 + 32;
/// Most welcomes in one broadcast.
pub const MAX_WELCOMES: usize = 1_000_000;

/// `P1` of a welcome: what both ends know of it.
pub fn welcome_p1(domain: MemberId, pseudonym: &PseudonymId, epoch: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"vkm/welcome/v1");
    h.update(domain.0.to_le_bytes());
    h.update(pseudonym.0);
    h.update(epoch.to_le_bytes());
    h.finalize().into()
}

/// Seals `welcome` (for the rekey of `epoch` in `domain`) to `pseudonym`'s encryption
/// key (`recipient` is its certificate's `HashedId8`).
#[allow(clippy::too_many_arguments)] // The welcome's binding: each part is needed.
pub fn seal_welcome<R: CryptoRng + ?Sized>(
    domain: MemberId,
    epoch: u64,
    pseudonym: PseudonymId,
    recipient_id: vkm_its::HashedId8,
    recipient: &PublicKey,
    welcome: &Welcome,
    rng: &mut R,
) -> Result<SealedWelcome, SealError> {
    let mut plaintext = Zeroizing::new([0u8; WELCOME_BYTES]);
    plaintext[..8].copy_from_slice(&welcome.vehicle.0.to_le_bytes());
    plaintext[8..12].copy_from_slice(&welcome.node.to_le_bytes());
    plaintext[12..].copy_from_slice(welcome.key.as_bytes());
    let p1 = welcome_p1(domain, &pseudonym, epoch);
    let bytes = ieee1609::Ieee1609Ecies.seal(recipient, &p1, plaintext.as_slice(), rng)?;
    let sealed = SealedMessage::from_bytes(&bytes).map_err(|_| SealError::BadRecipientKey)?;
    Ok(SealedWelcome {
        pseudonym,
        recipient: recipient_id,
        sealed,
    })
}

/// Opens a welcome with the pseudonym's decryption key: only its vehicle can.
pub fn open_welcome(
    domain: MemberId,
    epoch: u64,
    secret: &SecretKey,
    welcome: &SealedWelcome,
) -> Result<Welcome, OpenError> {
    let p1 = welcome_p1(domain, &welcome.pseudonym, epoch);
    let plaintext = ieee1609::open_message(secret, &p1, &welcome.sealed)?;
    if plaintext.len() != WELCOME_BYTES {
        return Err(OpenError::Malformed(MalformedCiphertext {
            what: "welcome",
            reason: "not 28 bytes",
        }));
    }
    let mut vehicle = [0u8; 8];
    vehicle.copy_from_slice(&plaintext[..8]);
    let mut node = [0u8; 4];
    node.copy_from_slice(&plaintext[8..12]);
    let mut key = [0u8; 16];
    key.copy_from_slice(&plaintext[12..]);
    Ok(Welcome {
        vehicle: VehicleId(u64::from_le_bytes(vehicle)),
        node: u32::from_le_bytes(node),
        key: NodeKey::from_bytes(key),
    })
}

impl Encode for SealedWelcome {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        sink.put(&self.pseudonym.0);
        // A parsed sealed message always re-encodes.
        let bytes = ieee1609::encrypted_data_for(
            &self.sealed.to_bytes(),
            vkm_its::RecipientKind::Certificate,
            self.recipient,
        )
        .unwrap_or_default();
        put_len(sink, bytes.len());
        sink.put(&bytes);
    }
}

impl Decode for SealedWelcome {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let pseudonym = PseudonymId(reader.array("pseudonym id")?);
        let bytes = reader.bytes(SEALED_WELCOME_BYTES, "sealed welcome")?;
        let invalid = |reason| {
            reader.error(DecodeErrorKind::Invalid {
                what: "sealed welcome",
                reason,
            })
        };
        let (kind, recipient, sealed) =
            ieee1609::sealed_in_encrypted_data(&bytes).map_err(|e| invalid(e.reason))?;
        if kind != vkm_its::RecipientKind::Certificate {
            return Err(invalid("recipient is not named by certificate"));
        }
        let sealed = SealedMessage::from_bytes(&sealed).map_err(|e| invalid(e.reason))?;
        Ok(Self {
            pseudonym,
            recipient,
            sealed,
        })
    }
}

impl Encode for DomainRekey {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.domain.encode(sink);
        self.message.encode(sink);
        put_len(sink, self.welcomes.len());
        for welcome in &self.welcomes {
            welcome.encode(sink);
        }
    }
}

impl Decode for DomainRekey {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let domain = Decode::decode(reader)?;
        let message = Decode::decode(reader)?;
        let count = reader.count(MAX_WELCOMES, 16 + ieee1609::HEADER_BYTES, "welcomes")?;
        let mut welcomes = Vec::with_capacity(count);
        for _ in 0..count {
            welcomes.push(Decode::decode(reader)?);
        }
        Ok(Self {
            domain,
            message,
            welcomes,
        })
    }
}

/// What happens to a vehicle.
#[derive(Debug, Clone)]
pub enum VehicleEvent {
    /// It approaches the RSU `rsu` at the border of `destination`'s domain (or, with its
    /// own domain's manager as destination, comes online there and asks to join).
    Approach {
        /// The security manager of the domain it enters.
        destination: MemberId,
        /// The RSU it talks to.
        rsu: RsuId,
    },
    /// A domain's rekey broadcast reached it.
    Rekey(Arc<DomainRekey>),
    /// A BSM of a vehicle in `domain` reached it.
    Bsm {
        /// The domain the sender is in.
        domain: MemberId,
        /// The sealed BSM.
        bsm: SealedBsm,
    },
    /// Time to send a BSM with this payload.
    Beacon(Vec<u8>),
    /// The central manager issued a new pseudonym set (a refresh); used in order.
    NewPseudonyms(Vec<Pseudonym>),
    /// Time to switch to the next pseudonym of the set: tell the domain's manager, whose
    /// encryption key the RSU `rsu` announces, so it stays a member under the new one.
    SwitchPseudonym {
        /// The RSU it talks to.
        rsu: RsuId,
        /// The P-256 encryption key of its domain's manager.
        manager_key: PublicKey,
    },
    /// A timer it set is due.
    Timer,
}

/// Why a vehicle could not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VehicleError {
    /// A BSM does not open (or it holds no current group key).
    #[error(transparent)]
    Bsm(#[from] BsmError),
    /// Its welcome does not open with its key.
    #[error("welcome: {0}")]
    Welcome(#[from] OpenError),
    /// Its welcome opened, but the rekey message does not lead to the group key.
    #[error("the rekey message of epoch {0} does not give the group key")]
    RekeyUnusable(u64),
    /// Asked to switch pseudonym with none left (the central manager's refresh is due).
    #[error("no pseudonym left to switch to")]
    NoSparePseudonym,
    /// No welcome came from this domain after every try.
    #[error("no welcome from {0}")]
    NoWelcome(MemberId),
    /// The pseudonym change could not be sealed to the manager.
    #[error("sealing the pseudonym change: {0}")]
    Seal(SealError),
}

/// What a vehicle asks its runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VehicleAction {
    /// Send this crossing request to the RSU.
    SendRequest {
        /// The RSU.
        rsu: RsuId,
        /// The signed request.
        request: CrossingRequest,
    },
    /// Send this sealed pseudonym change to the RSU (for its domain's manager).
    SendChange {
        /// The RSU.
        rsu: RsuId,
        /// The [`PseudonymChange`], sealed to the manager.
        sealed: Vec<u8>,
    },
    /// Deliver [`VehicleEvent::Timer`] at this time.
    SetTimer {
        /// When.
        at: Timestamp,
    },
    /// Broadcast this BSM in `domain`.
    Broadcast {
        /// The domain it is in.
        domain: MemberId,
        /// The sealed BSM.
        bsm: SealedBsm,
    },
    /// It holds `domain`'s group key of `epoch`: welcomed in.
    Joined {
        /// The domain.
        domain: MemberId,
        /// The group-key epoch.
        epoch: u64,
    },
    /// It follows its domain's rekey to `epoch`.
    Rekeyed {
        /// The domain.
        domain: MemberId,
        /// The new epoch.
        epoch: u64,
    },
    /// Its domain's rekey left it out (it left, or its certificate was revoked).
    Evicted {
        /// The domain.
        domain: MemberId,
    },
    /// It read a BSM of its domain.
    Opened {
        /// The domain.
        domain: MemberId,
        /// The payload.
        payload: Vec<u8>,
    },
    /// It switched to its next pseudonym.
    Switched {
        /// The pseudonym it used before.
        from: PseudonymId,
        /// The one it uses now.
        to: PseudonymId,
    },
    /// Something it received or was asked to do failed.
    Failed(VehicleError),
}

/// A vehicle's on-board unit.
pub struct Vehicle {
    pseudonym: Pseudonym,
    spare: Vec<Pseudonym>,
    domain: Option<MemberId>,
    /// It asked to cross into another domain since it last joined one.
    leaving: bool,
    /// The domain it waits to be welcomed into, until when, and how often it asked.
    awaiting: Option<Awaiting>,
    welcome_timeout_ms: u64,
    /// When it last signed a request: it never signs two at the same millisecond.
    last_signed: Option<Timestamp>,
    keys: VehicleKeys,
    rng: StdRng,
}

/// A welcome a vehicle waits for.
#[derive(Debug, Clone, Copy)]
struct Awaiting {
    domain: MemberId,
    deadline: Timestamp,
    attempts: u32,
}

/// How long a vehicle waits for its welcome before it asks the domain it is in to let it
/// join, ms (and again after each try).
pub const WELCOME_TIMEOUT_MS: u64 = 5_000;

/// How often a vehicle asks again before it gives up.
const MAX_JOIN_ATTEMPTS: u32 = 8;

impl core::fmt::Debug for Vehicle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vehicle")
            .field("pseudonym", &self.pseudonym.materials.pseudonym)
            .field("domain", &self.domain)
            .field("epoch", &self.keys.group_key().map(|(epoch, _)| epoch))
            .field("awaiting", &self.awaiting)
            .finish_non_exhaustive()
    }
}

impl Vehicle {
    /// A vehicle using `pseudonym`, in no domain's group yet; `seed` seeds the randomness
    /// of its BSM nonces.
    pub fn new(pseudonym: Pseudonym, seed: u64) -> Self {
        Self {
            pseudonym,
            spare: Vec::new(),
            domain: None,
            leaving: false,
            awaiting: None,
            welcome_timeout_ms: WELCOME_TIMEOUT_MS,
            last_signed: None,
            keys: VehicleKeys::new(VehicleId(0)),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The same vehicle waiting `timeout_ms` for a welcome before asking again.
    pub fn with_welcome_timeout(mut self, timeout_ms: u64) -> Self {
        self.welcome_timeout_ms = timeout_ms.max(1);
        self
    }

    /// Its current pseudonym's id.
    pub fn pseudonym(&self) -> PseudonymId {
        self.pseudonym.materials.pseudonym
    }

    /// Its current pseudonym (keys and certificate).
    pub fn current_pseudonym(&self) -> &Pseudonym {
        &self.pseudonym
    }

    /// The domain whose group key it holds.
    pub fn domain(&self) -> Option<MemberId> {
        self.domain
    }

    /// The epoch of the group key it holds.
    pub fn epoch(&self) -> Option<u64> {
        self.keys.group_key().map(|(epoch, _)| epoch)
    }

    /// Its group keys (to seal or open a BSM directly).
    pub fn keys(&self) -> &VehicleKeys {
        &self.keys
    }

    /// Handles one event at time `now`.
    pub fn handle(&mut self, event: VehicleEvent, now: Timestamp) -> Vec<VehicleAction> {
        let mut actions = Vec::new();
        match event {
            VehicleEvent::Approach { destination, rsu } => {
                self.leaving = self.domain.is_some_and(|d| d != destination);
                let request = self.sign_request(destination, rsu, now);
                actions.push(VehicleAction::SendRequest { rsu, request });
                self.await_welcome(destination, 0, now, &mut actions);
            }
            VehicleEvent::Timer => self.on_timer(now, &mut actions),
            VehicleEvent::Rekey(rekey) => self.on_rekey(&rekey, now, &mut actions),
            VehicleEvent::Bsm { domain, bsm } => {
                if Some(domain) == self.domain {
                    actions.push(match self.keys.open(&bsm) {
                        Ok(payload) => VehicleAction::Opened { domain, payload },
                        Err(e) => VehicleAction::Failed(e.into()),
                    });
                }
            }
            VehicleEvent::Beacon(payload) => {
                match (self.domain, self.keys.seal(&payload, &mut self.rng)) {
                    (Some(domain), Ok(bsm)) => {
                        actions.push(VehicleAction::Broadcast { domain, bsm })
                    }
                    (None, _) => actions.push(VehicleAction::Failed(BsmError::NoGroupKey.into())),
                    (_, Err(e)) => actions.push(VehicleAction::Failed(e.into())),
                }
            }
            VehicleEvent::NewPseudonyms(set) => {
                self.spare = set;
                self.spare.reverse();
            }
            VehicleEvent::SwitchPseudonym { rsu, manager_key } => {
                self.switch(rsu, &manager_key, now, &mut actions)
            }
        }
        actions
    }

    /// Switches to the next spare pseudonym; a member tells its manager first.
    fn switch(
        &mut self,
        rsu: RsuId,
        manager_key: &PublicKey,
        now: Timestamp,
        actions: &mut Vec<VehicleAction>,
    ) {
        let Some(next) = self.spare.pop() else {
            actions.push(VehicleAction::Failed(VehicleError::NoSparePseudonym));
            return;
        };
        if let Some(manager) = self.domain {
            let change = PseudonymChange::sign(&self.pseudonym, &next, rsu, now);
            match change.seal(manager, manager_key, &mut self.rng) {
                Ok(sealed) => actions.push(VehicleAction::SendChange { rsu, sealed }),
                Err(e) => {
                    self.spare.push(next);
                    actions.push(VehicleAction::Failed(VehicleError::Seal(e)));
                    return;
                }
            }
        }
        let from = self.pseudonym();
        self.pseudonym = next;
        actions.push(VehicleAction::Switched {
            from,
            to: self.pseudonym(),
        });
    }

    fn on_rekey(&mut self, rekey: &DomainRekey, now: Timestamp, actions: &mut Vec<VehicleAction>) {
        let mine = self.pseudonym();
        let domain = rekey.domain;
        let epoch = rekey.message.epoch;
        if let Some(sealed) = rekey.welcomes.iter().find(|w| w.pseudonym == mine) {
            match open_welcome(domain, epoch, &self.pseudonym.encryption, sealed) {
                Ok(welcome) => {
                    let mut keys = VehicleKeys::new(welcome.vehicle);
                    keys.welcome(&welcome);
                    if keys.apply(&rekey.message) {
                        self.keys = keys;
                        self.domain = Some(domain);
                        self.leaving = false;
                        if self.awaiting.is_some_and(|a| a.domain == domain) {
                            self.awaiting = None;
                        }
                        actions.push(VehicleAction::Joined { domain, epoch });
                    } else {
                        actions.push(VehicleAction::Failed(VehicleError::RekeyUnusable(epoch)));
                    }
                }
                Err(e) => actions.push(VehicleAction::Failed(e.into())),
            }
            return;
        }
        if Some(domain) != self.domain || self.epoch().is_some_and(|e| e >= epoch) {
            return;
        }
        if self.keys.apply(&rekey.message) {
            actions.push(VehicleAction::Rekeyed { domain, epoch });
        } else {
            self.domain = None;
            actions.push(VehicleAction::Evicted { domain });
            if !self.leaving {
                // Left out without leaving: its manager lost the group (a restart), it
                // missed a rekey on the radio, or it was revoked. It asks to join again
                // (a revoked one is refused).
                self.ask_to_join(domain, 0, now, actions);
            }
        }
    }

    /// Signs a request into `destination` through `rsu` at `now`, or a millisecond after
    /// the request it signed last if that was as late: a request's id covers its signing
    /// time, and managers refuse a second request with the same id as a replay, so two
    /// requests signed in one millisecond (a burst of crossings handled together) would
    /// lose the second.
    fn sign_request(
        &mut self,
        destination: MemberId,
        rsu: RsuId,
        now: Timestamp,
    ) -> CrossingRequest {
        let at = match self.last_signed {
            Some(last) if last.0 >= now.0 => Timestamp(last.0.saturating_add(1)),
            _ => now,
        };
        self.last_signed = Some(at);
        CrossingRequest::sign(&self.pseudonym, destination, rsu, at)
    }

    /// Waits for a welcome into `domain` (asked `attempts` times before).
    fn await_welcome(
        &mut self,
        domain: MemberId,
        attempts: u32,
        now: Timestamp,
        actions: &mut Vec<VehicleAction>,
    ) {
        let deadline = Timestamp(now.0.saturating_add(self.welcome_timeout_ms));
        self.awaiting = Some(Awaiting {
            domain,
            deadline,
            attempts,
        });
        actions.push(VehicleAction::SetTimer { at: deadline });
    }

    /// Asks the manager of `domain`, where it is, to let it join its group.
    fn ask_to_join(
        &mut self,
        domain: MemberId,
        attempts: u32,
        now: Timestamp,
        actions: &mut Vec<VehicleAction>,
    ) {
        let request = self.sign_request(domain, RsuId(0), now);
        actions.push(VehicleAction::SendRequest {
            rsu: RsuId(0),
            request,
        });
        self.await_welcome(domain, attempts, now, actions);
    }

    /// No welcome in time (its request or the rekey was lost on the radio, or its
    /// transfer is slow): it asks the domain it is in directly, a few times.
    fn on_timer(&mut self, now: Timestamp, actions: &mut Vec<VehicleAction>) {
        let Some(awaiting) = self.awaiting else {
            return;
        };
        if now < awaiting.deadline {
            return; // an earlier timer
        }
        if awaiting.attempts >= MAX_JOIN_ATTEMPTS {
            self.awaiting = None;
            actions.push(VehicleAction::Failed(VehicleError::NoWelcome(
                awaiting.domain,
            )));
            return;
        }
        self.ask_to_join(awaiting.domain, awaiting.attempts + 1, now, actions);
    }
}
