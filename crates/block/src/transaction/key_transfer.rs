//! The key-transfer transaction, Lei et al. Table I.

use super::{TxKind, signing_preimage};
use crate::encode::{Decode, DecodeError, Encode, Reader, Sink};
use crate::primitives::{Ciphertext, CompactSignature, MemberId, Timestamp};

/// Sealed vehicle identity materials sent from the source security manager to the
/// destination security manager through the chain (Lei et al. Table I).
///
/// Unlike the paper, whose signature covers only `cipher + destSM`, the signature covers
/// every other field under a domain-separation tag (see [`KeyTransferTx::signing_preimage`]),
/// and the sequence number lets the chain reject a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTransferTx {
    /// Per-source counter; the chain accepts each `(source, sequence)` once.
    pub sequence: u64,
    /// The security manager the vehicle leaves ("SM-this").
    pub source: MemberId,
    /// The security manager the vehicle enters ("SM-dest").
    pub destination: MemberId,
    /// When the source created the transfer.
    pub timestamp: Timestamp,
    /// The vehicle's pseudonym and certificate, sealed to the destination's encryption key.
    pub ciphertext: Ciphertext,
    /// The source's ECDSA P-256 signature over [`KeyTransferTx::signing_preimage`].
    pub signature: CompactSignature,
}

impl KeyTransferTx {
    /// Domain-separation tag that starts the signing preimage.
    pub const SIGNING_TAG: &'static [u8] = b"vkm/key-transfer/sig/v1";

    /// The bytes the source signs: the tag, kind and version, then every field but the
    /// signature in encoding order.
    pub fn signing_preimage(&self) -> Vec<u8> {
        signing_preimage(Self::SIGNING_TAG, TxKind::KeyTransfer, |out| {
            self.encode_unsigned(out)
        })
    }

    fn encode_unsigned<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.sequence.encode(sink);
        self.source.encode(sink);
        self.destination.encode(sink);
        self.timestamp.encode(sink);
        self.ciphertext.encode(sink);
    }

    pub(super) fn encode_body<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.encode_unsigned(sink);
        self.signature.encode(sink);
    }

    pub(super) fn decode_body(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            sequence: reader.u64("sequence")?,
            source: Decode::decode(reader)?,
            destination: Decode::decode(reader)?,
            timestamp: Decode::decode(reader)?,
            ciphertext: Decode::decode(reader)?,
            signature: Decode::decode(reader)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Transaction;
    use crate::encode::serialize;

    fn sample() -> KeyTransferTx {
        KeyTransferTx {
            sequence: 7,
            source: MemberId(1),
            destination: MemberId(2),
            timestamp: Timestamp(1_700_000_000_000),
            ciphertext: Ciphertext::new(vec![0xc1; 75]).unwrap(),
            signature: CompactSignature([0x5a; 64]),
        }
    }

    #[test]
    fn preimage_covers_every_field_but_the_signature() {
        let base = sample();
        let preimage = base.signing_preimage();
        assert!(preimage.starts_with(KeyTransferTx::SIGNING_TAG));
        let mut changed = base.clone();
        changed.signature = CompactSignature([0; 64]);
        assert_eq!(changed.signing_preimage(), preimage);
        let variants = [
            KeyTransferTx {
                sequence: 8,
                ..base.clone()
            },
            KeyTransferTx {
                source: MemberId(9),
                ..base.clone()
            },
            KeyTransferTx {
                destination: MemberId(9),
                ..base.clone()
            },
            KeyTransferTx {
                timestamp: Timestamp(1),
                ..base.clone()
            },
            KeyTransferTx {
                ciphertext: Ciphertext::new(vec![0xc2; 75]).unwrap(),
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.signing_preimage(), preimage, "{v:?}");
        }
    }

    #[test]
    fn txid_covers_the_signature() {
        let a = Transaction::KeyTransfer(sample());
        let mut tx = sample();
        tx.signature.0[0] ^= 1;
        let b = Transaction::KeyTransfer(tx);
        assert_ne!(a.txid(), b.txid());
        // kind 1, version 1, then sequence 7 little-endian.
        assert_eq!(serialize(&a)[..6], [1, 1, 7, 0, 0, 0]);
    }
}
