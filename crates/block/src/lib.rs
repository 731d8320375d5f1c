//! Block and transaction formats of vkm, the bottom of its crate graph.
//!
//! - [`hash`]: [`dhash`] (double SHA-256) and the hash newtypes [`BlockHash`], [`Txid`],
//!   [`MerkleRoot`].
//! - [`encode`]: the canonical binary codec, [`Encode`] / [`Decode`], [`serialize`] /
//!   [`deserialize`] (which rejects trailing bytes); every length is checked against
//!   [`limits`] before anything is allocated.
//! - [`header`], [`block`]: Lei et al. Table II, plus the miner's id and signature.
//! - [`transaction`]: the key transfer of Table I, the UTXO value transaction of Chen et
//!   al., and registry transactions, one enum tagged by kind and version.
//! - `synthetic` (feature `synthetic`): random key transfers and blocks for benchmarks.
//! - [`merkle`]: the merkle tree (`rs_merkle`, prefixed leaves and nodes, odd nodes
//!   promoted) and inclusion proofs.
//!
//! The byte layouts are documented with offsets in `docs/formats.md`.
//!
//! ```
//! use vkm_block::{
//!     Block, BlockHeader, Ciphertext, CompactSignature, KeyTransferTx, MemberId, Timestamp,
//!     Transaction, deserialize, serialize,
//! };
//!
//! let tx = Transaction::KeyTransfer(KeyTransferTx {
//!     sequence: 1,
//!     source: MemberId(1),
//!     destination: MemberId(2),
//!     timestamp: Timestamp(1_700_000_000_000),
//!     ciphertext: Ciphertext::new(vec![0u8; 75])?,
//!     signature: CompactSignature([0u8; 64]),
//! });
//! let mut block = Block {
//!     header: BlockHeader { version: BlockHeader::VERSION, ..Default::default() },
//!     miner: MemberId(1),
//!     miner_signature: CompactSignature([0u8; 64]),
//!     transactions: vec![tx],
//! };
//! block.header.merkle_root = block.compute_merkle_root();
//! let bytes = serialize(&block);
//! assert_eq!(deserialize::<Block>(&bytes)?, block);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

pub mod block;
pub mod encode;
pub mod hash;
pub mod header;
pub mod limits;
pub mod merkle;
pub mod primitives;
#[cfg(feature = "synthetic")]
pub mod synthetic;
pub mod transaction;

pub use block::Block;
pub use encode::{
    Decode, DecodeError, DecodeErrorKind, Encode, Reader, Sink, deserialize, put_len, serialize,
};
pub use hash::{BlockHash, CertificateId, MerkleRoot, Txid, dhash};
pub use header::BlockHeader;
pub use merkle::{EMPTY_ROOT, InclusionProof, merkle_root};
pub use primitives::{
    Ciphertext, CompactSignature, DomainName, MemberId, PublicKeyBytes, ScriptBytes, Timestamp,
    TooLong,
};
pub use transaction::{
    Amount, Authorization, EncryptionKey, KeyTransferTx, Member, OutPoint, RegistryAction,
    RegistryTx, Role, Transaction, TxIn, TxKind, TxOut, ValueTx,
};
