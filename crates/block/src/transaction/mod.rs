//! Transactions: one enum, each kind tagged by a byte and versioned.
//!
//! Encoding: `kind (u8) || version (u8) || body`. A new kind or a new version of a kind
//! gets a new tag or version number, so blocks written before it still decode.

mod key_transfer;
mod registry;
mod value;

pub use key_transfer::KeyTransferTx;
pub use registry::{Authorization, EncryptionKey, Member, RegistryAction, RegistryTx, Role};
pub use value::{Amount, OutPoint, TxIn, TxOut, ValueTx};

use sha2::Sha256;

use crate::encode::{Decode, DecodeError, DecodeErrorKind, Encode, Reader, Sink};
use crate::hash::{Txid, dhash_finish};

/// The kinds of transaction, with their tag bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TxKind {
    /// A key transfer between security domains (Lei et al. Table I).
    KeyTransfer = 1,
    /// A UTXO value transfer (Chen et al.'s coins and scripts).
    Value = 2,
    /// Registration or revocation of chain members.
    Registry = 3,
}

impl TxKind {
    /// The body format version this code writes and reads for the kind.
    pub const fn current_version(self) -> u8 {
        1
    }

    fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(Self::KeyTransfer),
            2 => Some(Self::Value),
            3 => Some(Self::Registry),
            _ => None,
        }
    }
}

/// Any transaction that a block can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transaction {
    /// Sealed vehicle identity materials sent from one security manager to another.
    KeyTransfer(KeyTransferTx),
    /// Coins moved between scripts.
    Value(ValueTx),
    /// Members registered or revoked.
    Registry(RegistryTx),
}

impl Transaction {
    /// The kind of this transaction.
    pub fn kind(&self) -> TxKind {
        match self {
            Self::KeyTransfer(_) => TxKind::KeyTransfer,
            Self::Value(_) => TxKind::Value,
            Self::Registry(_) => TxKind::Registry,
        }
    }

    /// The transaction id: double SHA-256 of the full encoding.
    pub fn txid(&self) -> Txid {
        let mut hasher = Sha256::default();
        self.encode(&mut hasher);
        Txid(dhash_finish(hasher))
    }
}

/// Writes the `kind || version` prefix of a transaction of `kind`.
fn put_kind<S: Sink + ?Sized>(sink: &mut S, kind: TxKind) {
    sink.put(&[kind as u8, kind.current_version()]);
}

/// Builds the preimage that a transaction's signature covers: a domain-separation tag,
/// the kind and version, then the fields that `encode_fields` writes.
fn signing_preimage(tag: &[u8], kind: TxKind, encode_fields: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(tag.len() + 256);
    out.extend_from_slice(tag);
    put_kind(&mut out, kind);
    encode_fields(&mut out);
    out
}

impl Encode for Transaction {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        put_kind(sink, self.kind());
        match self {
            Self::KeyTransfer(tx) => tx.encode_body(sink),
            Self::Value(tx) => tx.encode_body(sink),
            Self::Registry(tx) => tx.encode_body(sink),
        }
    }
}

impl Decode for Transaction {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = reader.offset();
        let tag = reader.u8("transaction kind")?;
        let kind = TxKind::from_tag(tag).ok_or(DecodeError {
            offset: start,
            kind: DecodeErrorKind::UnknownTag {
                what: "transaction kind",
                value: tag,
            },
        })?;
        let version = reader.u8("transaction version")?;
        if version != kind.current_version() {
            return Err(DecodeError {
                offset: start + 1,
                kind: DecodeErrorKind::UnsupportedVersion {
                    what: "transaction",
                    version,
                },
            });
        }
        Ok(match kind {
            TxKind::KeyTransfer => Self::KeyTransfer(KeyTransferTx::decode_body(reader)?),
            TxKind::Value => Self::Value(ValueTx::decode_body(reader)?),
            TxKind::Registry => Self::Registry(RegistryTx::decode_body(reader)?),
        })
    }
}

/// The smallest encoding of any transaction, used to bound allocation when decoding a
/// transaction count (kind, version, and an empty value transaction's two counts and lock
/// time).
pub(crate) const MIN_TX_LEN: usize = 2 + 4 + 4 + 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{deserialize, serialize};

    #[test]
    fn unknown_kind_and_version_are_typed_errors() {
        let err = deserialize::<Transaction>(&[9, 1]).unwrap_err();
        assert_eq!(err.offset, 0);
        assert_eq!(
            err.kind,
            DecodeErrorKind::UnknownTag {
                what: "transaction kind",
                value: 9
            }
        );
        let err = deserialize::<Transaction>(&[2, 7]).unwrap_err();
        assert_eq!(err.offset, 1);
        assert!(matches!(
            err.kind,
            DecodeErrorKind::UnsupportedVersion { version: 7, .. }
        ));
    }

    #[test]
    fn smallest_transaction_has_min_len() {
        let tx = Transaction::Value(ValueTx::default());
        assert_eq!(serialize(&tx).len(), MIN_TX_LEN);
        assert_eq!(deserialize::<Transaction>(&serialize(&tx)), Ok(tx));
    }
}
