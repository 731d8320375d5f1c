//! The byte encoding of what security managers send each other ([`Message`]), for
//! drivers that cross a real link (the peer-to-peer node): one kind byte, then the
//! payload in vkm's canonical encoding (transactions and blocks exactly as blocks carry
//! them). Decoding enforces [`MAX_MESSAGE_BYTES`] before reading anything, and every
//! count its own limit before allocating.
//!
//! ```
//! use vkm_block::{BlockHash, deserialize, serialize};
//! use vkm_node::sm::Message;
//!
//! let tip = Message::Tip { height: 7, hash: BlockHash([1; 32]) };
//! let bytes = serialize(&tip);
//! assert_eq!(bytes.len(), tip.encoded_len());
//! assert_eq!(deserialize::<Message>(&bytes)?, tip);
//! # Ok::<(), vkm_block::DecodeError>(())
//! ```

use vkm_block::encode::put_len;
use vkm_block::limits::MAX_BLOCK_BYTES;
use vkm_block::{
    Block, BlockHash, Decode, DecodeError, DecodeErrorKind, Encode, Reader, Sink, Transaction,
};

use crate::sm::{MAX_LOCATOR, MAX_SYNC_BLOCKS, Message};

/// Largest encoded [`Message`] a decoder reads: a full batch of catching-up blocks of
/// ordinary size. Bigger input is refused before any field is read.
pub const MAX_MESSAGE_BYTES: usize = 4 * MAX_BLOCK_BYTES;

/// The one-byte kinds, in the order of [`Message`]'s variants.
const TRANSACTION: u8 = 0;
const VALUE: u8 = 1;
const BLOCK: u8 = 2;
const REGISTRY: u8 = 3;
const TIP: u8 = 4;
const GET_BLOCKS: u8 = 5;
const BLOCKS: u8 = 6;

/// Smallest encoded block header plus its empty body: a lower bound for a count of blocks.
const MIN_BLOCK_LEN: usize = 80;

impl Message {
    /// The kind byte this message is encoded with (what a transport may route on).
    pub fn kind(&self) -> u8 {
        match self {
            Self::Transaction(_) => TRANSACTION,
            Self::Value(_) => VALUE,
            Self::Block(_) => BLOCK,
            Self::Registry(_) => REGISTRY,
            Self::Tip { .. } => TIP,
            Self::GetBlocks { .. } => GET_BLOCKS,
            Self::Blocks(_) => BLOCKS,
        }
    }

    /// A short name of its kind, for logs and metrics.
    pub fn kind_name(&self) -> &'static str {
        kind_name(self.kind())
    }
}

/// The name of a message kind byte ([`Message::kind`]), `"unknown"` for any other byte.
pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        TRANSACTION => "transaction",
        VALUE => "value",
        BLOCK => "block",
        REGISTRY => "registry",
        TIP => "tip",
        GET_BLOCKS => "get_blocks",
        BLOCKS => "blocks",
        _ => "unknown",
    }
}

impl Encode for Message {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        sink.put(&[self.kind()]);
        match self {
            Self::Transaction(tx) => Transaction::KeyTransfer(tx.clone()).encode(sink),
            Self::Value(tx) => Transaction::Value(tx.clone()).encode(sink),
            Self::Registry(tx) => Transaction::Registry(tx.clone()).encode(sink),
            Self::Block(block) => block.encode(sink),
            Self::Tip { height, hash } => {
                height.encode(sink);
                hash.encode(sink);
            }
            Self::GetBlocks { locator } => {
                put_len(sink, locator.len());
                for hash in locator {
                    hash.encode(sink);
                }
            }
            Self::Blocks(blocks) => {
                put_len(sink, blocks.len());
                for block in blocks {
                    block.encode(sink);
                }
            }
        }
    }
}

impl Decode for Message {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if reader.remaining() > MAX_MESSAGE_BYTES {
            return Err(reader.error(DecodeErrorKind::TooLong {
                what: "message",
                len: reader.remaining(),
                max: MAX_MESSAGE_BYTES,
            }));
        }
        let start = reader.offset();
        let kind = reader.u8("message kind")?;
        let wrong_kind = |found: &Transaction| DecodeError {
            offset: start + 1,
            kind: DecodeErrorKind::Invalid {
                what: "message",
                reason: match found {
                    Transaction::KeyTransfer(_) => "carries a key transfer under another kind",
                    Transaction::Value(_) => "carries a value transaction under another kind",
                    Transaction::Registry(_) => "carries a registry transaction under another kind",
                },
            },
        };
        Ok(match kind {
            TRANSACTION | VALUE | REGISTRY => match (kind, Transaction::decode(reader)?) {
                (TRANSACTION, Transaction::KeyTransfer(tx)) => Self::Transaction(tx),
                (VALUE, Transaction::Value(tx)) => Self::Value(tx),
                (REGISTRY, Transaction::Registry(tx)) => Self::Registry(tx),
                (_, other) => return Err(wrong_kind(&other)),
            },
            BLOCK => Self::Block(Block::decode(reader)?),
            TIP => Self::Tip {
                height: reader.u64("tip height")?,
                hash: BlockHash::decode(reader)?,
            },
            GET_BLOCKS => Self::GetBlocks {
                locator: reader.seq(MAX_LOCATOR, 32, "locator")?,
            },
            BLOCKS => Self::Blocks(reader.seq(MAX_SYNC_BLOCKS, MIN_BLOCK_LEN, "blocks")?),
            value => {
                return Err(DecodeError {
                    offset: start,
                    kind: DecodeErrorKind::UnknownTag {
                        what: "message kind",
                        value,
                    },
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use vkm_block::{deserialize, serialize};

    #[test]
    fn oversized_input_is_refused_before_reading() {
        let bytes = vec![TIP; MAX_MESSAGE_BYTES + 1];
        let error = deserialize::<Message>(&bytes).unwrap_err();
        assert!(matches!(
            error.kind,
            DecodeErrorKind::TooLong {
                what: "message",
                ..
            }
        ));
    }

    #[test]
    fn unknown_kind_and_long_locator_are_refused() {
        assert!(matches!(
            deserialize::<Message>(&[9]).unwrap_err().kind,
            DecodeErrorKind::UnknownTag { value: 9, .. }
        ));
        let long = Message::GetBlocks {
            locator: vec![BlockHash([3; 32]); MAX_LOCATOR + 1],
        };
        assert!(matches!(
            deserialize::<Message>(&serialize(&long)).unwrap_err().kind,
            DecodeErrorKind::TooLong {
                what: "locator",
                ..
            }
        ));
        // A count that claims more blocks than the bytes could hold is refused before
        // anything is allocated for them.
        let mut claim = vec![BLOCKS];
        claim.extend_from_slice(&(MAX_SYNC_BLOCKS as u32).to_le_bytes());
        assert!(deserialize::<Message>(&claim).is_err());
    }
}
