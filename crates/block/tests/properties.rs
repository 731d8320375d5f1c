//! Property tests: every encoded type round-trips, decoding never panics on arbitrary or
//! truncated bytes, and merkle proofs verify exactly for the leaf and position they were
//! built for.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use proptest::collection::vec;
use proptest::prelude::*;
use vkm_block::{
    Amount, Authorization, Block, BlockHash, BlockHeader, Ciphertext, CompactSignature, Decode,
    DomainName, Encode, EncryptionKey, InclusionProof, KeyTransferTx, Member, MemberId, MerkleRoot,
    OutPoint, PublicKeyBytes, RegistryAction, RegistryTx, Role, ScriptBytes, Timestamp,
    Transaction, TxIn, TxOut, Txid, ValueTx, deserialize, merkle_root, serialize,
};

fn hash32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn signature() -> impl Strategy<Value = CompactSignature> {
    vec(any::<u8>(), 64).prop_map(|v| CompactSignature(v.try_into().unwrap()))
}

fn public_key() -> impl Strategy<Value = PublicKeyBytes> {
    vec(any::<u8>(), 33).prop_map(|v| PublicKeyBytes(v.try_into().unwrap()))
}

fn script() -> impl Strategy<Value = ScriptBytes> {
    vec(any::<u8>(), 0..64).prop_map(|v| ScriptBytes::new(v).unwrap())
}

fn header() -> impl Strategy<Value = BlockHeader> {
    (
        any::<u32>(),
        hash32(),
        hash32(),
        any::<u64>(),
        any::<u8>(),
        any::<u64>(),
    )
        .prop_map(|(version, prev, root, time, bits, nonce)| BlockHeader {
            version,
            prev_block: BlockHash(prev),
            merkle_root: MerkleRoot(root),
            timestamp: Timestamp(time),
            difficulty_bits: bits,
            nonce,
        })
}

fn key_transfer() -> impl Strategy<Value = KeyTransferTx> {
    (
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        vec(any::<u8>(), 0..300),
        signature(),
    )
        .prop_map(|(sequence, s, d, t, c, signature)| KeyTransferTx {
            sequence,
            source: MemberId(s),
            destination: MemberId(d),
            timestamp: Timestamp(t),
            ciphertext: Ciphertext::new(c).unwrap(),
            signature,
        })
}

fn value() -> impl Strategy<Value = ValueTx> {
    let input =
        (hash32(), any::<u32>(), script()).prop_map(|(txid, vout, unlocking_script)| TxIn {
            previous_output: OutPoint {
                txid: Txid(txid),
                vout,
            },
            unlocking_script,
        });
    let output = (any::<u64>(), script()).prop_map(|(amount, locking_script)| TxOut {
        amount: Amount(amount),
        locking_script,
    });
    (vec(input, 0..4), vec(output, 0..6), any::<u32>()).prop_map(|(inputs, outputs, lock_time)| {
        ValueTx {
            inputs,
            outputs,
            lock_time,
        }
    })
}

fn registry() -> impl Strategy<Value = RegistryTx> {
    let member = (
        any::<u32>(),
        any::<bool>(),
        public_key(),
        public_key(),
        any::<bool>(),
        "[a-zA-Z -]{0,20}",
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(
            |(id, cm, signing_key, enc, k1, domain, certificate)| Member {
                id: MemberId(id),
                role: if cm {
                    Role::CentralManager
                } else {
                    Role::SecurityManager
                },
                signing_key,
                encryption_key: if k1 {
                    EncryptionKey::Secp256k1(enc)
                } else {
                    EncryptionKey::P256(enc)
                },
                domain: DomainName::new(domain).unwrap(),
                authority_certificate: if cm { certificate } else { Vec::new() },
            },
        );
    let action = prop_oneof![
        member.prop_map(RegistryAction::Register),
        any::<u32>().prop_map(|id| RegistryAction::Revoke(MemberId(id))),
    ];
    let auth = proptest::option::of((any::<u32>(), signature()).prop_map(|(signer, signature)| {
        Authorization {
            signer: MemberId(signer),
            signature,
        }
    }));
    (any::<u64>(), vec(action, 0..4), auth).prop_map(|(t, actions, authorization)| RegistryTx {
        timestamp: Timestamp(t),
        actions,
        authorization,
    })
}

fn transaction() -> impl Strategy<Value = Transaction> {
    prop_oneof![
        key_transfer().prop_map(Transaction::KeyTransfer),
        value().prop_map(Transaction::Value),
        registry().prop_map(Transaction::Registry),
    ]
}

fn block() -> impl Strategy<Value = Block> {
    (
        header(),
        any::<u32>(),
        signature(),
        vec(transaction(), 0..8),
    )
        .prop_map(|(header, miner, miner_signature, transactions)| Block {
            header,
            miner: MemberId(miner),
            miner_signature,
            transactions,
        })
}

/// Encodes, checks the length the encoder reports, decodes, compares; then checks every
/// strict prefix fails to decode with a typed error.
fn round_trip<T: Encode + Decode + PartialEq + core::fmt::Debug>(
    value: &T,
) -> Result<(), TestCaseError> {
    let bytes = serialize(value);
    prop_assert_eq!(bytes.len(), value.encoded_len());
    prop_assert_eq!(&deserialize::<T>(&bytes).unwrap(), value);
    let mut extended = bytes.clone();
    extended.push(0);
    prop_assert!(
        deserialize::<T>(&extended).is_err(),
        "trailing byte accepted"
    );
    for cut in [0, bytes.len() / 2, bytes.len().saturating_sub(1)] {
        if cut < bytes.len() {
            prop_assert!(
                deserialize::<T>(&bytes[..cut]).is_err(),
                "prefix of {} accepted",
                cut
            );
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn header_round_trips(h in header()) {
        round_trip(&h)?;
        prop_assert_eq!(serialize(&h).len(), BlockHeader::SIZE);
    }

    #[test]
    fn transactions_round_trip(tx in transaction()) {
        round_trip(&tx)?;
    }

    #[test]
    fn blocks_round_trip(b in block()) {
        round_trip(&b)?;
    }

    #[test]
    fn proofs_round_trip(n in 1usize..40, pick in any::<prop::sample::Index>()) {
        let ids: Vec<Txid> = (0..n).map(|i| Txid([i as u8; 32])).collect();
        round_trip(&InclusionProof::build(&ids, pick.index(n)).unwrap())?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        let _ = deserialize::<Block>(&bytes);
        let _ = deserialize::<Transaction>(&bytes);
        let _ = deserialize::<BlockHeader>(&bytes);
        let _ = deserialize::<InclusionProof>(&bytes);
    }

    #[test]
    fn forged_proofs_never_panic(
        leaf_count in 1u32..=u32::MAX,
        pick in any::<prop::sample::Index>(),
        hashes in vec(hash32(), 0..40),
        root in hash32(),
        leaf in hash32(),
    ) {
        let proof = InclusionProof { index: pick.index(leaf_count as usize) as u32, leaf_count, hashes };
        let _ = proof.verify(&MerkleRoot(root), &Txid(leaf));
    }

    #[test]
    fn merkle_proofs_verify_only_their_leaf_and_position(
        ids in vec(hash32().prop_map(Txid), 1..70),
        pick in any::<prop::sample::Index>(),
        other in any::<prop::sample::Index>(),
        stranger in hash32(),
    ) {
        let n = ids.len();
        let i = pick.index(n);
        let root = merkle_root(&ids);
        let proof = InclusionProof::build(&ids, i).unwrap();
        prop_assert!(proof.verify(&root, &ids[i]));

        // Any other leaf fails at this position.
        let stranger = Txid(stranger);
        if !ids.contains(&stranger) {
            prop_assert!(!proof.verify(&root, &stranger));
        }
        let j = other.index(n);
        if ids[j] != ids[i] {
            prop_assert!(!proof.verify(&root, &ids[j]));
        }
        // The leaf at any other position fails.
        if j != i {
            let moved = InclusionProof { index: j as u32, ..proof.clone() };
            prop_assert!(!moved.verify(&root, &ids[i]));
        }
        // Out of range positions fail instead of panicking.
        let beyond = InclusionProof { index: n as u32, ..proof.clone() };
        prop_assert!(!beyond.verify(&root, &ids[i]));
    }
}
