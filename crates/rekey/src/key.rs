//! Node keys (AES-128) and their wrapping (AES key wrap, RFC 3394, with `aes-kw`).

use aes::cipher::KeyInit;
use aes_kw::KwAes128;
use rand::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bytes of a wrapped key: the 16-byte key and the 8-byte integrity block.
pub const WRAPPED_BYTES: usize = 24;

/// A key of the key tree (or the group key, the root's). Zeroized on drop; `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct NodeKey([u8; 16]);

impl core::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("NodeKey(..)")
    }
}

impl NodeKey {
    /// A fresh random key.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = [0u8; 16];
        rng.fill_bytes(&mut key);
        Self(key)
    }

    /// A key received from elsewhere (a welcome opened by its vehicle).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The key bytes (for AES).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Wraps `key` under this key.
    pub fn wrap(&self, key: &NodeKey) -> [u8; WRAPPED_BYTES] {
        let kek = KwAes128::new(&self.0.into());
        let mut out = [0u8; WRAPPED_BYTES];
        // Wrapping 16 bytes into a 24-byte buffer cannot fail.
        let _ = kek.wrap_key(&key.0, &mut out);
        out
    }

    /// Unwraps a key wrapped under this key; `None` if the integrity check fails.
    pub fn unwrap(&self, wrapped: &[u8; WRAPPED_BYTES]) -> Option<NodeKey> {
        let kek = KwAes128::new(&self.0.into());
        let mut out = NodeKey([0u8; 16]);
        kek.unwrap_key(wrapped, &mut out.0).ok()?;
        Some(out)
    }
}
