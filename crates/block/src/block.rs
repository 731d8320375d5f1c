//! The block: header, miner, miner's signature, transactions (Lei et al. Table II).

use crate::encode::{Decode, DecodeError, DecodeErrorKind, Encode, Reader, Sink, put_seq};
use crate::hash::{BlockHash, MerkleRoot, Txid};
use crate::header::BlockHeader;
use crate::limits::{MAX_BLOCK_BYTES, MAX_BLOCK_TRANSACTIONS};
use crate::merkle::merkle_root;
use crate::primitives::{CompactSignature, MemberId};
use crate::transaction::{MIN_TX_LEN, Transaction};

/// A block as it travels between security managers.
///
/// Besides Table II's header and payload it names its miner, a registered security
/// manager, and carries the miner's ECDSA signature over the block hash, so only
/// registered members can extend the chain (`docs/deviations.md`, decision 6). The signature is not
/// covered by the block hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The proof-of-work header.
    pub header: BlockHeader,
    /// The security manager that mined the block.
    pub miner: MemberId,
    /// The miner's signature over [`Block::block_hash`].
    pub miner_signature: CompactSignature,
    /// The payload, in the (random) order the miner chose.
    pub transactions: Vec<Transaction>,
}

impl Block {
    /// The block hash (of the header).
    pub fn block_hash(&self) -> BlockHash {
        self.header.block_hash()
    }

    /// Ids of the transactions, in block order.
    pub fn txids(&self) -> Vec<Txid> {
        self.transactions.iter().map(Transaction::txid).collect()
    }

    /// The merkle root of the payload as it stands (not the header's field).
    pub fn compute_merkle_root(&self) -> MerkleRoot {
        merkle_root(&self.txids())
    }
}

impl Encode for Block {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.header.encode(sink);
        self.miner.encode(sink);
        self.miner_signature.encode(sink);
        put_seq(sink, &self.transactions);
    }
}

impl Decode for Block {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = reader.offset();
        let block = Self {
            header: Decode::decode(reader)?,
            miner: Decode::decode(reader)?,
            miner_signature: Decode::decode(reader)?,
            transactions: reader.seq(MAX_BLOCK_TRANSACTIONS, MIN_TX_LEN, "transactions")?,
        };
        let len = reader.offset() - start;
        if len > MAX_BLOCK_BYTES {
            return Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::TooLong {
                    what: "block",
                    len,
                    max: MAX_BLOCK_BYTES,
                },
            });
        }
        Ok(block)
    }
}
