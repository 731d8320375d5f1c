//! The merkle tree over a block's transaction ids (`docs/deviations.md`, decision 5).
//!
//! Built with `rs_merkle`, with a hasher that makes two changes to Bitcoin's tree:
//! leaves are `dhash(0x00 || txid)` and inner nodes `dhash(0x01 || left || right)` (as in
//! RFC 6962), and an odd node is promoted to the next level instead of being paired with
//! a copy of itself. Bitcoin's duplication lets two different transaction lists share a
//! root (CVE-2012-2459); neither change allows that here. The root of no transactions is
//! [`EMPTY_ROOT`].

use rs_merkle::{MerkleProof, MerkleTree};
use sha2::{Digest, Sha256};

use crate::encode::{Decode, DecodeError, DecodeErrorKind, Encode, Reader, Sink, put_len};
use crate::hash::{MerkleRoot, Txid, dhash};

/// Prefix of a leaf hash's preimage.
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix of an inner node hash's preimage.
pub const NODE_PREFIX: u8 = 0x01;

/// The merkle root of a block without transactions: `dhash("")`.
pub const EMPTY_ROOT: MerkleRoot = MerkleRoot([
    0x5d, 0xf6, 0xe0, 0xe2, 0x76, 0x13, 0x59, 0xd3, 0x0a, 0x82, 0x75, 0x05, 0x8e, 0x29, 0x9f, 0xcc,
    0x03, 0x81, 0x53, 0x45, 0x45, 0xf5, 0x5c, 0xf4, 0x3e, 0x41, 0x98, 0x3f, 0x5d, 0x4c, 0x94, 0x56,
]);

/// The `rs_merkle` hasher: double SHA-256 with distinct leaf and node prefixes, odd
/// nodes promoted.
#[derive(Debug, Clone, Copy)]
pub struct DoubleSha256;

impl rs_merkle::Hasher for DoubleSha256 {
    type Hash = [u8; 32];

    fn hash(data: &[u8]) -> [u8; 32] {
        dhash(data)
    }

    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(right) => {
                let inner = Sha256::new()
                    .chain_update([NODE_PREFIX])
                    .chain_update(left)
                    .chain_update(right)
                    .finalize();
                Sha256::digest(inner).into()
            }
            None => *left,
        }
    }
}

/// The leaf hash of a transaction id.
pub fn leaf_hash(txid: &Txid) -> [u8; 32] {
    let inner = Sha256::new()
        .chain_update([LEAF_PREFIX])
        .chain_update(txid.0)
        .finalize();
    Sha256::digest(inner).into()
}

/// The merkle root over leaf hashes, in order.
pub fn root_of_leaves(leaves: &[[u8; 32]]) -> MerkleRoot {
    if leaves.is_empty() {
        return EMPTY_ROOT;
    }
    MerkleTree::<DoubleSha256>::from_leaves(leaves)
        .root()
        .map_or(EMPTY_ROOT, MerkleRoot)
}

/// The merkle root over transaction ids, in order.
pub fn merkle_root(txids: &[Txid]) -> MerkleRoot {
    let leaves: Vec<[u8; 32]> = txids.iter().map(leaf_hash).collect();
    root_of_leaves(&leaves)
}

/// Proof that a transaction id sits at a position of a block's merkle tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// Position of the transaction in the block.
    pub index: u32,
    /// Number of transactions in the block.
    pub leaf_count: u32,
    /// Sibling hashes from the leaf up, as `rs_merkle` orders them.
    pub hashes: Vec<[u8; 32]>,
}

/// Deepest tree a proof may describe (more than any block's transaction limit needs).
const MAX_PROOF_HASHES: usize = 64;

impl InclusionProof {
    /// Builds the proof for position `index` among `txids`; `None` if out of range.
    pub fn build(txids: &[Txid], index: usize) -> Option<Self> {
        if index >= txids.len() {
            return None;
        }
        let leaves: Vec<[u8; 32]> = txids.iter().map(leaf_hash).collect();
        let tree = MerkleTree::<DoubleSha256>::from_leaves(&leaves);
        Some(Self {
            index: u32::try_from(index).ok()?,
            leaf_count: u32::try_from(txids.len()).ok()?,
            hashes: tree.proof(&[index]).proof_hashes().to_vec(),
        })
    }

    /// Whether the proof shows `txid` at [`Self::index`] under `root`.
    pub fn verify(&self, root: &MerkleRoot, txid: &Txid) -> bool {
        if self.index >= self.leaf_count || self.hashes.len() > MAX_PROOF_HASHES {
            return false;
        }
        let proof = MerkleProof::<DoubleSha256>::new(self.hashes.clone());
        proof.verify(
            root.0,
            &[self.index as usize],
            &[leaf_hash(txid)],
            self.leaf_count as usize,
        )
    }
}

impl Encode for InclusionProof {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.index.encode(sink);
        self.leaf_count.encode(sink);
        put_len(sink, self.hashes.len());
        for hash in &self.hashes {
            sink.put(hash);
        }
    }
}

impl Decode for InclusionProof {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = reader.offset();
        let index = reader.u32("proof index")?;
        let leaf_count = reader.u32("proof leaf count")?;
        if index >= leaf_count {
            return Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::Invalid {
                    what: "inclusion proof",
                    reason: "index not below leaf count",
                },
            });
        }
        let count = reader.count(MAX_PROOF_HASHES, 32, "proof hashes")?;
        let mut hashes = Vec::with_capacity(count);
        for _ in 0..count {
            hashes.push(reader.array("proof hash")?);
        }
        Ok(Self {
            index,
            leaf_count,
            hashes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txids(n: usize) -> Vec<Txid> {
        (0..n)
            .map(|i| Txid(dhash(&(i as u64).to_le_bytes())))
            .collect()
    }

    #[test]
    fn empty_root_is_dhash_of_nothing() {
        assert_eq!(EMPTY_ROOT.0, dhash(b""));
        assert_eq!(merkle_root(&[]), EMPTY_ROOT);
    }

    #[test]
    fn known_shapes() {
        use rs_merkle::Hasher;
        let ids = txids(3);
        let l: Vec<_> = ids.iter().map(leaf_hash).collect();
        assert_eq!(merkle_root(&ids[..1]).0, l[0]);
        let ab = DoubleSha256::concat_and_hash(&l[0], Some(&l[1]));
        let mut pre = vec![NODE_PREFIX];
        pre.extend_from_slice(&l[0]);
        pre.extend_from_slice(&l[1]);
        assert_eq!(ab, dhash(&pre));
        // The odd third leaf is promoted, not paired with itself.
        assert_eq!(
            merkle_root(&ids).0,
            DoubleSha256::concat_and_hash(&ab, Some(&l[2]))
        );
    }

    #[test]
    fn duplicated_last_transaction_changes_the_root() {
        // CVE-2012-2459: in Bitcoin [a, b, c] and [a, b, c, c] share a root.
        let ids = txids(3);
        let mut dup = ids.clone();
        dup.push(ids[2]);
        assert_ne!(merkle_root(&ids), merkle_root(&dup));
    }

    #[test]
    fn leaf_and_node_hashes_are_separated() {
        // A two-leaf tree's root must not equal the leaf hash of anything a txid could be.
        let ids = txids(2);
        let root = merkle_root(&ids);
        assert_ne!(root.0, leaf_hash(&Txid(root.0)));
    }

    #[test]
    fn every_position_proves() {
        for n in 1..=17 {
            let ids = txids(n);
            let root = merkle_root(&ids);
            for i in 0..n {
                let proof = InclusionProof::build(&ids, i).unwrap();
                assert!(proof.verify(&root, &ids[i]), "n={n} i={i}");
                let other = ids[(i + 1) % n];
                if n > 1 {
                    assert!(!proof.verify(&root, &other), "n={n} i={i}");
                }
            }
            assert!(InclusionProof::build(&ids, n).is_none());
        }
    }
}
