#![doc = include_str!("../README.md")]
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
