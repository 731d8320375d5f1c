//! What a rekey broadcasts, and what a joiner receives privately.

use vkm_block::{Decode, DecodeError, DecodeErrorKind, Encode, Reader, Sink, encode::put_len};

use crate::key::{NodeKey, WRAPPED_BYTES};

/// Identifies a vehicle in a domain's group (the security manager's handle for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VehicleId(pub u64);

/// One node's new key, wrapped under another node's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The node whose new key this is.
    pub node: u32,
    /// The node whose key wraps it.
    pub under: u32,
    /// The AES-KW output.
    pub wrapped: [u8; WRAPPED_BYTES],
}

/// A rekey broadcast to the domain: wrapped keys, deepest first, so a member unwraps
/// everything it may learn in one pass from the keys it holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RekeyMessage {
    /// The new group-key epoch.
    pub epoch: u64,
    /// The node whose key is the group key.
    pub root: u32,
    /// The wrapped keys.
    pub keys: Vec<WrappedKey>,
}

/// A joiner's individual key, handed to it privately (sealed to its pseudonym).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// The vehicle.
    pub vehicle: VehicleId,
    /// Its node (leaf) in the key tree.
    pub node: u32,
    /// Its individual key.
    pub key: NodeKey,
}

/// Most wrapped keys in one message (enough for a full rekey of about a million members).
pub const MAX_WRAPPED_KEYS: usize = 2_000_000;

impl Encode for RekeyMessage {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.epoch.encode(sink);
        self.root.encode(sink);
        put_len(sink, self.keys.len());
        for key in &self.keys {
            key.node.encode(sink);
            key.under.encode(sink);
            sink.put(&key.wrapped);
        }
    }
}

impl Decode for RekeyMessage {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let epoch = reader.u64("epoch")?;
        let root = reader.u32("root")?;
        let count = reader.count(MAX_WRAPPED_KEYS, 8 + WRAPPED_BYTES, "wrapped keys")?;
        let mut keys = Vec::with_capacity(count);
        for _ in 0..count {
            let node = reader.u32("node")?;
            let under = reader.u32("under")?;
            if node == under {
                return Err(reader.error(DecodeErrorKind::Invalid {
                    what: "wrapped key",
                    reason: "wrapped under itself",
                }));
            }
            keys.push(WrappedKey {
                node,
                under,
                wrapped: reader.array("wrapped key")?,
            });
        }
        Ok(Self { epoch, root, keys })
    }
}
