//! Conformance: the IEEE 1609.2 ECIES key-wrap vectors (conz27/crypto-test-vectors, see
//! `data/README.md`): wrap given the ephemeral key `v`, unwrap given the recipient key `r`.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{NonZeroScalar, PublicKey, SecretKey};
use serde_json::Value;
use vkm_transfer::seal::OpenError;
use vkm_transfer::seal::ieee1609::{WrappedKey, unwrap_key, wrap_key};

fn bytes(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().unwrap()).unwrap()
}

fn point(v: &Value, x: &str, y: &str) -> PublicKey {
    let mut sec1 = vec![4u8];
    sec1.extend(bytes(v, x));
    sec1.extend(bytes(v, y));
    PublicKey::from_sec1_bytes(&sec1).unwrap()
}

fn vectors() -> Vec<Value> {
    let text = include_str!("data/ecies-p256.json");
    let json: Value = serde_json::from_str(text).unwrap();
    let vectors = json["vectors"].as_array().unwrap().clone();
    assert_eq!(vectors.len(), 4);
    vectors
}

#[test]
fn wrap_reproduces_every_vector() {
    for v in vectors() {
        let ephemeral =
            NonZeroScalar::try_from(bytes(&v, "ephemeral_private_v").as_slice()).unwrap();
        let recipient = point(&v, "recipient_public_x", "recipient_public_y");
        let k: [u8; 16] = bytes(&v, "wrapped_key_k").try_into().unwrap();
        let wrapped = wrap_key(&ephemeral, &recipient, &k, &bytes(&v, "p1"));
        let id = &v["id"];
        assert_eq!(
            wrapped.ephemeral_public,
            point(&v, "ephemeral_public_x", "ephemeral_public_y"),
            "vector {id}: V"
        );
        assert_eq!(
            wrapped.wrapped_key.to_vec(),
            bytes(&v, "ciphertext_c"),
            "vector {id}: C"
        );
        assert_eq!(wrapped.tag.to_vec(), bytes(&v, "tag_t"), "vector {id}: T");
    }
}

#[test]
fn unwrap_recovers_every_key_and_refuses_changes() {
    for v in vectors() {
        let recipient = SecretKey::from_slice(&bytes(&v, "recipient_private_r")).unwrap();
        assert_eq!(
            recipient.public_key().to_sec1_point(false),
            point(&v, "recipient_public_x", "recipient_public_y").to_sec1_point(false)
        );
        let wrapped = WrappedKey {
            ephemeral_public: point(&v, "ephemeral_public_x", "ephemeral_public_y"),
            wrapped_key: bytes(&v, "ciphertext_c").try_into().unwrap(),
            tag: bytes(&v, "tag_t").try_into().unwrap(),
        };
        let p1 = bytes(&v, "p1");
        let k = unwrap_key(&recipient, &wrapped, &p1).unwrap();
        assert_eq!(k.to_vec(), bytes(&v, "wrapped_key_k"));

        let mut tampered = wrapped.clone();
        tampered.wrapped_key[0] ^= 1;
        assert_eq!(
            unwrap_key(&recipient, &tampered, &p1),
            Err(OpenError::Failed)
        );
        let mut other_p1 = p1.clone();
        other_p1[0] ^= 1;
        assert_eq!(
            unwrap_key(&recipient, &wrapped, &other_p1),
            Err(OpenError::Failed)
        );
    }
}

/// Each vector's wrapped key, put in an IEEE 1609.2 `EncryptedData` for its recipient
/// (with a content encrypted under the vector's `k`), opens with the recipient's key
/// through the structure, by the secret and by the prepared opening key alike.
#[test]
fn every_vector_opens_through_encrypted_data() {
    use vkm_transfer::seal::ieee1609::{
        OpeningKey, SealedMessage, from_encrypted_data, open_message, seal_with, to_encrypted_data,
    };
    for v in vectors() {
        let ephemeral =
            NonZeroScalar::try_from(bytes(&v, "ephemeral_private_v").as_slice()).unwrap();
        let recipient = SecretKey::from_slice(&bytes(&v, "recipient_private_r")).unwrap();
        let k: [u8; 16] = bytes(&v, "wrapped_key_k").try_into().unwrap();
        let p1 = bytes(&v, "p1");
        let sealed = seal_with(
            &ephemeral,
            &k,
            &[7; 12],
            &recipient.public_key(),
            &p1,
            b"BSM",
        )
        .unwrap()
        .to_bytes();
        let data = to_encrypted_data(&sealed, &recipient.public_key()).unwrap();
        let back = from_encrypted_data(&data, &recipient.public_key()).unwrap();
        assert_eq!(back, sealed);
        let parsed = SealedMessage::from_bytes(&back).unwrap();
        assert_eq!(parsed.key.wrapped_key.to_vec(), bytes(&v, "ciphertext_c"));
        assert_eq!(parsed.key.tag.to_vec(), bytes(&v, "tag_t"));
        assert_eq!(*open_message(&recipient, &p1, &parsed).unwrap(), b"BSM");
        let prepared = OpeningKey::new(&recipient).unwrap();
        assert_eq!(*prepared.open(&p1, &back).unwrap(), b"BSM");
        // Addressed to this recipient only.
        let other = SecretKey::from_slice(&[3u8; 32]).unwrap();
        assert_eq!(
            from_encrypted_data(&data, &other.public_key()),
            Err(OpenError::Failed)
        );
    }
}
