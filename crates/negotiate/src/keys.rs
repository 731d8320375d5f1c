//! What follows agreement: key confirmation over the transcript (`docs/deviations.md`, decision 10),
//! session keys with HKDF-SHA256 from the master key and a block header hash (Chen et al.
//! 4.4, `docs/deviations.md`, decision 11), and the key book of the C(n,2) master keys of n parties.

use std::collections::BTreeMap;

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use vkm_block::{BlockHash, Txid};
use vkm_coins::Address;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::group::{Group, MasterKey};
use crate::wire::{Channel, Role, SessionId};

/// Everything both sides agree they negotiated: hashed into the confirmation tags, so a
/// share changed anywhere (off-chain, in a script, by a miner) breaks confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transcript(pub [u8; 32]);

impl Transcript {
    /// `SHA-256("vkm/dh/transcript/v1" || channel || group parameters || session ||
    /// Alice's address || Bob's address || A || B)`, variable fields length-prefixed.
    pub fn new(
        channel: Channel,
        group: &Group,
        session: &SessionId,
        initiator: &Address,
        responder: &Address,
        share_a: &[u8],
        share_b: &[u8],
    ) -> Self {
        let mut h = Sha256::new();
        h.update(b"vkm/dh/transcript/v1");
        h.update(channel.name().as_bytes());
        for part in [&group.encode()[..], share_a, share_b] {
            h.update((part.len() as u32).to_be_bytes());
            h.update(part);
        }
        h.update(session);
        h.update(initiator.0);
        h.update(responder.0);
        Self(h.finalize().into())
    }
}

fn confirmation_mac(master: &MasterKey, transcript: &Transcript, role: Role) -> Hmac<Sha256> {
    let hk = Hkdf::<Sha256>::new(Some(&transcript.0), master.as_bytes());
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF's limit of 255 * 32.
    let _ = hk.expand(b"vkm/dh/confirm/v1", key.as_mut());
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_ref())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(&[match role {
        Role::Initiator => b'A',
        Role::Responder => b'B',
    }]);
    mac.update(&transcript.0);
    mac
}

/// `role`'s key-confirmation tag: HMAC-SHA256 under a key derived from the master key
/// (HKDF, the transcript as salt), over the role and the transcript.
pub fn confirmation_tag(master: &MasterKey, transcript: &Transcript, role: Role) -> [u8; 32] {
    confirmation_mac(master, transcript, role)
        .finalize()
        .into_bytes()
        .into()
}

/// Whether `tag` is `role`'s tag (constant-time comparison).
pub fn verify_confirmation(
    master: &MasterKey,
    transcript: &Transcript,
    role: Role,
    tag: &[u8; 32],
) -> bool {
    confirmation_mac(master, transcript, role)
        .verify_slice(tag)
        .is_ok()
}

/// A session key: 32 bytes, zeroized on drop, never printed, compared in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// The key bytes (to key a cipher).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// SHA-256 of the key, hex: what output and logs may show.
    pub fn fingerprint(&self) -> String {
        hex_digest(&self.0)
    }
}

impl core::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl PartialEq for SessionKey {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for SessionKey {}

/// SHA-256 of `bytes`, hex.
pub fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The session key for one block: HKDF-SHA256 with the master key as input key material,
/// the block header hash as salt, and both identities (in a fixed order, so both sides
/// derive the same key) as context.
pub fn session_key(master: &MasterKey, block: &BlockHash, a: &Address, b: &Address) -> SessionKey {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let hk = Hkdf::<Sha256>::new(Some(block.as_bytes()), master.as_bytes());
    let mut info = Vec::with_capacity(14 + 40);
    info.extend_from_slice(b"vkm/session/v1");
    info.extend_from_slice(&first.0);
    info.extend_from_slice(&second.0);
    let mut key = [0u8; 32];
    let _ = hk.expand(&info, &mut key);
    SessionKey(key)
}

/// A negotiated master key and where the chain recorded its negotiation.
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// The master key.
    pub master: MasterKey,
    /// The negotiation's transactions, in order.
    pub txids: Vec<Txid>,
    /// The block that confirmed it.
    pub confirmed_in: BlockHash,
}

/// A session key with the block it came from (traceability).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedSessionKey {
    /// The key.
    pub key: SessionKey,
    /// The block whose header hash salted it.
    pub block: BlockHash,
    /// That block's height.
    pub height: u64,
}

/// The master keys of pairs of parties: n parties negotiate C(n,2) times, then derive a
/// fresh session key per block without touching the chain (Chen et al. 4.4).
#[derive(Debug, Default)]
pub struct KeyBook {
    pairs: BTreeMap<(Address, Address), Negotiated>,
}

fn pair(a: &Address, b: &Address) -> (Address, Address) {
    if a <= b { (*a, *b) } else { (*b, *a) }
}

impl KeyBook {
    /// Records the master key `a` and `b` negotiated (replacing an older one).
    pub fn insert(&mut self, a: &Address, b: &Address, negotiated: Negotiated) {
        self.pairs.insert(pair(a, b), negotiated);
    }

    /// The negotiation of `a` and `b`, either order.
    pub fn get(&self, a: &Address, b: &Address) -> Option<&Negotiated> {
        self.pairs.get(&pair(a, b))
    }

    /// Pairs recorded.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no pair is recorded.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The session key of `a` and `b` for the block `block` at `height`.
    pub fn session_key(
        &self,
        a: &Address,
        b: &Address,
        block: BlockHash,
        height: u64,
    ) -> Option<DerivedSessionKey> {
        let negotiated = self.get(a, b)?;
        Some(DerivedSessionKey {
            key: session_key(&negotiated.master, &block, a, b),
            block,
            height,
        })
    }
}

/// Negotiations n parties need so every pair shares a master key: C(n,2).
pub fn pairs_needed(parties: u64) -> u64 {
    parties.saturating_mul(parties.saturating_sub(1)) / 2
}
