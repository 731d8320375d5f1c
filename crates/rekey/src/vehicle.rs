//! The vehicle side: its keys, rekey messages applied, and basic safety messages (BSMs)
//! encrypted and decrypted under the current group key (AES-128-CCM).

use std::collections::HashMap;

use aes::Aes128;
use ccm::Ccm;
use ccm::aead::{Aead, KeyInit, Payload};
use ccm::consts::{U12, U16};
use rand::CryptoRng;
use vkm_block::{Decode, DecodeError, Encode, Reader, Sink, encode::put_len};

use crate::key::NodeKey;
use crate::message::{RekeyMessage, VehicleId, Welcome};

type Aes128Ccm = Ccm<Aes128, U16, U12>;

/// Largest BSM payload, bytes.
pub const MAX_BSM_BYTES: usize = 2048;

/// A basic safety message sealed under a group key of some epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBsm {
    /// The group-key epoch it was sealed under.
    pub epoch: u64,
    /// The CCM nonce.
    pub nonce: [u8; 12],
    /// The CCM ciphertext with its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl Encode for SealedBsm {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.epoch.encode(sink);
        sink.put(&self.nonce);
        put_len(sink, self.ciphertext.len());
        sink.put(&self.ciphertext);
    }
}

impl Decode for SealedBsm {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            epoch: reader.u64("epoch")?,
            nonce: reader.array("nonce")?,
            ciphertext: reader.bytes(MAX_BSM_BYTES + 16, "bsm ciphertext")?,
        })
    }
}

/// Why a BSM cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BsmError {
    /// This vehicle holds no current group key (not a member, or evicted).
    #[error("no current group key")]
    NoGroupKey,
    /// Sealed under another epoch's group key.
    #[error("sealed under epoch {0}, not the current one")]
    WrongEpoch(u64),
    /// Does not open. Deliberately without detail.
    #[error("cannot open the message")]
    CannotOpen,
    /// The payload is too long.
    #[error("payload longer than {MAX_BSM_BYTES} bytes")]
    TooLong,
}

/// Seals a BSM under `key` for `epoch` (the epoch is authenticated).
pub fn seal_bsm<R: CryptoRng + ?Sized>(
    key: &NodeKey,
    epoch: u64,
    payload: &[u8],
    rng: &mut R,
) -> Result<SealedBsm, BsmError> {
    if payload.len() > MAX_BSM_BYTES {
        return Err(BsmError::TooLong);
    }
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let cipher = Aes128Ccm::new(&(*key.as_bytes()).into());
    let aad = epoch.to_le_bytes();
    let ciphertext = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: payload,
                aad: &aad,
            },
        )
        .map_err(|_| BsmError::TooLong)?;
    Ok(SealedBsm {
        epoch,
        nonce,
        ciphertext,
    })
}

/// Opens a BSM with `key`.
pub fn open_bsm(key: &NodeKey, bsm: &SealedBsm) -> Result<Vec<u8>, BsmError> {
    let cipher = Aes128Ccm::new(&(*key.as_bytes()).into());
    let aad = bsm.epoch.to_le_bytes();
    cipher
        .decrypt(
            &bsm.nonce.into(),
            Payload {
                msg: &bsm.ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| BsmError::CannotOpen)
}

/// A vehicle's keys in its domain's key tree.
#[derive(Debug)]
pub struct VehicleKeys {
    id: VehicleId,
    keys: HashMap<u32, NodeKey>,
    group: Option<(u64, NodeKey)>,
}

impl VehicleKeys {
    /// A vehicle holding no keys.
    pub fn new(id: VehicleId) -> Self {
        Self {
            id,
            keys: HashMap::new(),
            group: None,
        }
    }

    /// This vehicle.
    pub fn id(&self) -> VehicleId {
        self.id
    }

    /// Takes the individual key handed over on joining (forgetting any older keys).
    pub fn welcome(&mut self, welcome: &Welcome) {
        self.keys.clear();
        self.group = None;
        self.keys.insert(welcome.node, welcome.key.clone());
    }

    /// Applies a rekey broadcast: unwraps every key it can, in order. Returns whether it
    /// now holds the new group key; if not, it holds none (it left or was evicted).
    pub fn apply(&mut self, message: &RekeyMessage) -> bool {
        let mut root = None;
        for entry in &message.keys {
            let Some(kek) = self.keys.get(&entry.under) else {
                continue;
            };
            let Some(key) = kek.unwrap(&entry.wrapped) else {
                continue;
            };
            if entry.node == message.root {
                root = Some(key.clone());
            }
            self.keys.insert(entry.node, key);
        }
        self.group = root.map(|key| (message.epoch, key));
        self.group.is_some()
    }

    /// The current group key and its epoch.
    pub fn group_key(&self) -> Option<(u64, &NodeKey)> {
        self.group.as_ref().map(|(epoch, key)| (*epoch, key))
    }

    /// Seals a BSM under the current group key.
    pub fn seal<R: CryptoRng + ?Sized>(
        &self,
        payload: &[u8],
        rng: &mut R,
    ) -> Result<SealedBsm, BsmError> {
        let (epoch, key) = self.group_key().ok_or(BsmError::NoGroupKey)?;
        seal_bsm(key, epoch, payload, rng)
    }

    /// Opens a BSM sealed under the current group key.
    pub fn open(&self, bsm: &SealedBsm) -> Result<Vec<u8>, BsmError> {
        let (epoch, key) = self.group_key().ok_or(BsmError::NoGroupKey)?;
        if bsm.epoch != epoch {
            return Err(BsmError::WrongEpoch(bsm.epoch));
        }
        open_bsm(key, bsm)
    }
}
