//! Decodes arbitrary bytes as a merkle inclusion proof (the first 64 bytes are a root and
//! a txid); on success the re-encoding must equal the input and verifying must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_block::{InclusionProof, MerkleRoot, Txid, deserialize, serialize};

fuzz_target!(|data: &[u8]| {
    if data.len() < 64 {
        return;
    }
    let (keys, proof) = data.split_at(64);
    if let Ok(proof) = deserialize::<InclusionProof>(proof) {
        assert_eq!(serialize(&proof), data[64..]);
        let mut root = [0u8; 32];
        root.copy_from_slice(&keys[..32]);
        let mut txid = [0u8; 32];
        txid.copy_from_slice(&keys[32..]);
        let _ = proof.verify(&MerkleRoot(root), &Txid(txid));
    }
});
