//! Session keys that follow the chain (Chen et al. 4.4: `sk = Hash(mk, last block header
//! hash)`), and application messages protected with them.
//!
//! [`SessionKeys`] is fed the blocks of the party's best chain in order
//! ([`SessionKeys::follow`]); it checks that each one extends the chain it holds (a
//! reorganisation is followed from the fork), and keys every message it seals with the
//! session key of its tip (HKDF-SHA256, [`crate::session_key`]). A received message names
//! the block its key came from; it opens only if that block is on the receiver's best
//! chain, at its tip or among the `window` blocks before it (blocks take time to reach
//! everyone: the sender may be a block behind), and only once (a counter per sender and
//! block). Messages are AES-256-GCM with the block's height and hash, the counter, the
//! sender's side and the caller's associated data authenticated.
//!
//! ```
//! use vkm_block::{BlockHash, BlockHeader};
//! use vkm_coins::Wallet;
//! use vkm_negotiate::keys::Negotiated;
//! use vkm_negotiate::session::SessionKeys;
//! use vkm_negotiate::Group;
//!
//! let mut rng = rand::rng();
//! let group = Group::P256;
//! let (a, share_a) = group.keypair(&mut rng);
//! let (b, share_b) = group.keypair(&mut rng);
//! let negotiated = |master| Negotiated { master, txids: vec![], confirmed_in: BlockHash::ZERO };
//! let (alice, bob) = (Wallet::generate(&mut rng).address(), Wallet::generate(&mut rng).address());
//! let share_b = group.validate_share(&share_b)?;
//! let share_a = group.validate_share(&share_a)?;
//! let mut at_alice = SessionKeys::new(&negotiated(group.agree(&a, &share_b)?), alice, bob, 1);
//! let mut at_bob = SessionKeys::new(&negotiated(group.agree(&b, &share_a)?), bob, alice, 1);
//!
//! let header = BlockHeader::default(); // the header of the best chain's block 0
//! at_alice.follow(0, &header)?;
//! at_bob.follow(0, &header)?;
//! let message = at_alice.seal(b"diagnosis: ok", b"")?;
//! assert_eq!(at_bob.open(&message, b"")?, b"diagnosis: ok");
//! assert!(at_bob.open(&message, b"").is_err(), "a replay is refused");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, VecDeque};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use vkm_block::{BlockHash, BlockHeader};
use vkm_coins::Address;

use crate::group::MasterKey;
use crate::keys::{Negotiated, SessionKey, session_key};

/// Largest plaintext [`SessionKeys::seal`] protects, and largest message
/// [`Protected::decode`] reads (with its header and tag).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Bytes of a [`Protected`] message besides its ciphertext: height, block, counter,
/// sender's side, length.
const HEADER_BYTES: usize = 8 + 32 + 8 + 1 + 4;
/// AES-GCM's tag.
const TAG_BYTES: usize = 16;

/// Why a message could not be sealed or opened, or a block not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No block was followed yet: there is no session key.
    #[error("no block followed yet")]
    NoBlock,
    /// The message's block is not on this party's best chain among the blocks accepted
    /// (unknown, forked away, too old, or not reached here yet).
    #[error("block {block} at height {height} is not among the accepted blocks of the best chain")]
    NotOnChain {
        /// The block the message names.
        block: BlockHash,
        /// Its height.
        height: u64,
    },
    /// The message was opened before (or an older one from the same sender and block).
    #[error("replayed message (counter {0})")]
    Replayed(u64),
    /// The message does not authenticate under the block's session key: forged,
    /// altered, or keyed by another master key.
    #[error("the message does not authenticate")]
    Forged,
    /// The message came from this party's own side.
    #[error("the message was sealed by this side")]
    OwnMessage,
    /// The plaintext or message is longer than [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes is longer than {MAX_MESSAGE_BYTES}")]
    TooLong(usize),
    /// The bytes are not a protected message.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// A block that does not extend the chain followed (its parent is not the block
    /// before it).
    #[error("block at height {height} does not extend the chain followed")]
    NotExtending {
        /// Its height.
        height: u64,
    },
}

/// An application message protected with a session key: what travels between the
/// parties (off the chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    /// The height of the block whose session key sealed it.
    pub height: u64,
    /// That block.
    pub block: BlockHash,
    /// The sender's message counter (the nonce; never repeats under a key).
    pub counter: u64,
    /// Which side sealed it: 0 for the party with the smaller address, 1 for the other.
    pub side: u8,
    /// AES-256-GCM ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

impl Protected {
    /// Height, block, counter (big-endian), side, ciphertext length (u32), ciphertext.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + self.ciphertext.len());
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(self.block.as_bytes());
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.push(self.side);
        out.extend_from_slice(&(self.ciphertext.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Reads [`Protected::encode`]'s bytes: the length is checked against
    /// [`MAX_MESSAGE_BYTES`] before anything is allocated; trailing bytes are refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, SessionError> {
        if bytes.len() > MAX_MESSAGE_BYTES + HEADER_BYTES + TAG_BYTES {
            return Err(SessionError::TooLong(bytes.len()));
        }
        let header = bytes
            .get(..HEADER_BYTES)
            .ok_or(SessionError::Malformed("shorter than the header"))?;
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&header[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let mut block = [0u8; 32];
        block.copy_from_slice(&header[8..40]);
        let side = header[48];
        if side > 1 {
            return Err(SessionError::Malformed("side is neither 0 nor 1"));
        }
        let mut len = [0u8; 4];
        len.copy_from_slice(&header[49..53]);
        let len = u32::from_be_bytes(len) as usize;
        let ciphertext = &bytes[HEADER_BYTES..];
        if ciphertext.len() != len {
            return Err(SessionError::Malformed(
                "ciphertext length differs from the bytes",
            ));
        }
        if len < TAG_BYTES {
            return Err(SessionError::Malformed("ciphertext shorter than its tag"));
        }
        Ok(Self {
            height: u64_at(0),
            block: BlockHash(block),
            counter: u64_at(40),
            side,
            ciphertext: ciphertext.to_vec(),
        })
    }

    fn nonce(&self) -> Nonce<aes_gcm::aead::consts::U12> {
        let mut nonce = [0u8; 12];
        nonce[0] = self.side;
        nonce[4..].copy_from_slice(&self.counter.to_be_bytes());
        nonce.into()
    }

    /// What the tag covers besides the plaintext.
    fn associated(&self, aad: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + HEADER_BYTES + aad.len());
        out.extend_from_slice(b"vkm/session-message/v1");
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(self.block.as_bytes());
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.push(self.side);
        out.extend_from_slice(aad);
        out
    }
}

/// One side's session keys over a confirmed negotiation: see the module documentation.
pub struct SessionKeys {
    master: MasterKey,
    me: Address,
    peer: Address,
    /// Blocks before the tip whose keys still open messages.
    window: usize,
    /// The best chain's latest blocks, oldest first: the tip and `window` before it.
    recent: VecDeque<(u64, BlockHash)>,
    /// Messages sealed by this side (the next counter).
    sent: u64,
    /// The highest counter opened from the peer, per block.
    opened: BTreeMap<BlockHash, u64>,
}

impl core::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("me", &self.me)
            .field("peer", &self.peer)
            .field("tip", &self.tip())
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// The session keys of `me` with `peer` over `negotiated`, accepting messages keyed by
    /// the tip or the `window` blocks before it.
    pub fn new(negotiated: &Negotiated, me: Address, peer: Address, window: usize) -> Self {
        Self {
            master: negotiated.master.clone(),
            me,
            peer,
            window,
            recent: VecDeque::with_capacity(window + 1),
            sent: 0,
            opened: BTreeMap::new(),
        }
    }

    /// Follows the block with `header` at `height` of the best chain: the next block, or
    /// (after a reorganisation) a block at or below the tip held, whose parent must be
    /// the block held just below it. `Err` if it does not extend the chain followed.
    pub fn follow(&mut self, height: u64, header: &BlockHeader) -> Result<(), SessionError> {
        while self.recent.back().is_some_and(|(h, _)| *h >= height) {
            self.recent.pop_back();
        }
        if let Some((h, hash)) = self.recent.back()
            && (*h + 1 != height || *hash != header.prev_block)
        {
            // A gap, or another parent: the caller must follow from the fork.
            return Err(SessionError::NotExtending { height });
        }
        self.recent.push_back((height, header.block_hash()));
        while self.recent.len() > self.window + 1 {
            self.recent.pop_front();
        }
        let kept: std::collections::BTreeSet<BlockHash> =
            self.recent.iter().map(|(_, b)| *b).collect();
        self.opened.retain(|b, _| kept.contains(b));
        Ok(())
    }

    /// The tip followed: its height and hash.
    pub fn tip(&self) -> Option<(u64, BlockHash)> {
        self.recent.back().copied()
    }

    /// The current session key (of the tip).
    pub fn current_key(&self) -> Option<SessionKey> {
        self.tip().map(|(_, block)| self.key(&block))
    }

    fn key(&self, block: &BlockHash) -> SessionKey {
        session_key(&self.master, block, &self.me, &self.peer)
    }

    fn cipher(&self, block: &BlockHash) -> Aes256Gcm {
        let key = self.key(block);
        let key: Key<Aes256Gcm> = (*key.as_bytes()).into();
        Aes256Gcm::new(&key)
    }

    /// This side: 0 if its address is the smaller.
    fn side(&self) -> u8 {
        u8::from(self.me > self.peer)
    }

    /// Seals `plaintext` (with `aad` authenticated, not sent) under the tip's session key.
    pub fn seal(&mut self, plaintext: &[u8], aad: &[u8]) -> Result<Protected, SessionError> {
        if plaintext.len() > MAX_MESSAGE_BYTES {
            return Err(SessionError::TooLong(plaintext.len()));
        }
        let (height, block) = self.tip().ok_or(SessionError::NoBlock)?;
        let mut message = Protected {
            height,
            block,
            counter: self.sent,
            side: self.side(),
            ciphertext: Vec::new(),
        };
        let associated = message.associated(aad);
        message.ciphertext = self
            .cipher(&block)
            .encrypt(
                &message.nonce(),
                Payload {
                    msg: plaintext,
                    aad: &associated,
                },
            )
            .map_err(|_| SessionError::TooLong(plaintext.len()))?;
        self.sent += 1;
        Ok(message)
    }

    /// Opens a message from the peer (with the same `aad` as it was sealed with): its
    /// block must be among the accepted blocks of the best chain, its counter new.
    pub fn open(&mut self, message: &Protected, aad: &[u8]) -> Result<Vec<u8>, SessionError> {
        if !self
            .recent
            .iter()
            .any(|(h, b)| *h == message.height && *b == message.block)
        {
            return Err(SessionError::NotOnChain {
                block: message.block,
                height: message.height,
            });
        }
        if self
            .opened
            .get(&message.block)
            .is_some_and(|last| message.counter <= *last)
        {
            return Err(SessionError::Replayed(message.counter));
        }
        let associated = message.associated(aad);
        let plaintext = self
            .cipher(&message.block)
            .decrypt(
                &message.nonce(),
                Payload {
                    msg: &message.ciphertext,
                    aad: &associated,
                },
            )
            .map_err(|_| SessionError::Forged)?;
        // Authentic, and sealed by this side: reflected back.
        if message.side == self.side() {
            return Err(SessionError::OwnMessage);
        }
        self.opened.insert(message.block, message.counter);
        Ok(plaintext)
    }
}
