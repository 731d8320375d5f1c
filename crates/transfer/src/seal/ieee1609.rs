//! IEEE 1609.2 ECIES on NIST P-256, with AES-128-CCM for the payload.
//!
//! The payload is encrypted under a fresh 128-bit key `k` with AES-128-CCM (12-byte
//! nonce, 16-byte tag); `k` is wrapped for the recipient's key `R` as IEEE 1609.2 does:
//! an ephemeral key `v`, `V = v*G`, shared secret `ss = x(v*R)`, `K1 || K2` = the first 48
//! bytes of KDF2-SHA256 (ANSI X9.63: `SHA-256(ss || counter || P1)`, 32-bit big-endian
//! counter from 1), `C = k XOR K1` (16 bytes), `T` = the first 16 bytes of
//! `HMAC-SHA256(K2, C)`. Only the composition is written here; the primitives are
//! the selected backend's P-256 ECDH ([`p256_shared_x`], [`crate::backend`]) and RustCrypto's (`p256` keys, `sha2`, `hmac`,
//! `aes`, `ccm`).
//!
//! Sealed layout (`docs/formats.md`): `V` (33-byte compressed point) `|| C (16) || T (16) ||
//! nonce (12) || CCM ciphertext with its 16-byte tag`.

use aes::Aes128;
use ccm::Ccm;
use ccm::aead::{Aead, KeyInit};
use ccm::consts::{U12, U16};
use hmac::{Hmac, Mac};
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{NonZeroScalar, PublicKey, SecretKey};
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{MalformedCiphertext, OpenError, SealError, Sealer};
use crate::backend::{EcdhPeer, EcdhSecret};

/// Size of the wrapped content key `k` (AES-128).
pub const KEY_BYTES: usize = 16;
/// Size of the authentication tag `T`.
pub const TAG_BYTES: usize = 16;
/// Size of the CCM nonce.
pub const NONCE_BYTES: usize = 12;
/// Size of the CCM tag appended to the payload ciphertext.
pub const CCM_TAG_BYTES: usize = 16;
/// Bytes before the payload ciphertext: `V`, `C`, `T`, nonce.
pub const HEADER_BYTES: usize = 33 + KEY_BYTES + TAG_BYTES + NONCE_BYTES;
/// Largest payload: CCM with a 12-byte nonce counts bytes in 3 bytes.
pub const MAX_PLAINTEXT_BYTES: usize = (1 << 24) - 1;

type Aes128Ccm = Ccm<Aes128, U16, U12>;

/// The content key wrapped for one recipient: `(V, C, T)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The ephemeral public key `V = v*G`.
    pub ephemeral_public: PublicKey,
    /// `C = k XOR K1`.
    pub wrapped_key: [u8; KEY_BYTES],
    /// `T`, the truncated HMAC of `C`.
    pub tag: [u8; TAG_BYTES],
}

/// A sealed message in its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedMessage {
    /// The wrapped content key.
    pub key: WrappedKey,
    /// The CCM nonce.
    pub nonce: [u8; NONCE_BYTES],
    /// The CCM ciphertext with its tag appended.
    pub ciphertext: Vec<u8>,
}

impl SealedMessage {
    /// The byte layout described in the module documentation.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + self.ciphertext.len());
        out.extend_from_slice(&self.key.ephemeral_public.to_sec1_point(true).to_bytes());
        out.extend_from_slice(&self.key.wrapped_key);
        out.extend_from_slice(&self.key.tag);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Parses the byte layout, checking lengths and the ephemeral point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MalformedCiphertext> {
        if bytes.len() < HEADER_BYTES + CCM_TAG_BYTES {
            return Err(MalformedCiphertext {
                what: "sealed message",
                reason: "shorter than the fixed parts",
            });
        }
        let (point, rest) = bytes.split_at(33);
        let (wrapped_key, rest) = rest.split_at(KEY_BYTES);
        let (tag, rest) = rest.split_at(TAG_BYTES);
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        Ok(Self {
            key: WrappedKey {
                ephemeral_public: parse_point(point)?,
                wrapped_key: wrapped_key.try_into().map_err(|_| length("wrapped key"))?,
                tag: tag.try_into().map_err(|_| length("tag"))?,
            },
            nonce: nonce.try_into().map_err(|_| length("nonce"))?,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

fn length(what: &'static str) -> MalformedCiphertext {
    MalformedCiphertext {
        what,
        reason: "wrong length",
    }
}

/// Parses a SEC1 point on P-256, compressed (33 bytes, tag 2 or 3) or uncompressed (65
/// bytes, tag 4). Other encodings SEC1 allows (the identity, "compact" tag 5) are refused,
/// so a ciphertext has one encoding.
pub fn parse_point(bytes: &[u8]) -> Result<PublicKey, MalformedCiphertext> {
    let canonical = matches!(
        (bytes.len(), bytes.first()),
        (33, Some(2 | 3)) | (65, Some(4))
    );
    if !canonical {
        return Err(MalformedCiphertext {
            what: "ephemeral public key",
            reason: "not a compressed or uncompressed SEC1 point",
        });
    }
    PublicKey::from_sec1_bytes(bytes).map_err(|_| MalformedCiphertext {
        what: "ephemeral public key",
        reason: "not a point on P-256",
    })
}

/// `K1 || K2`: KDF2 with SHA-256 over the shared secret and `p1`, 48 bytes.
fn kdf2(shared_x: &[u8], p1: &[u8]) -> Zeroizing<[u8; 48]> {
    let mut out = Zeroizing::new([0u8; 48]);
    for (counter, chunk) in (1u32..).zip(out.chunks_mut(32)) {
        let block = Sha256::new()
            .chain_update(shared_x)
            .chain_update(counter.to_be_bytes())
            .chain_update(p1)
            .finalize();
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
    out
}

/// `T`: the first 16 bytes of HMAC-SHA256 under `K2` of `C`.
fn tag(k2: &[u8], c: &[u8; KEY_BYTES]) -> [u8; TAG_BYTES] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(k2) {
        Ok(mac) => mac,
        Err(_) => unreachable_hmac(),
    };
    mac.update(c);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; TAG_BYTES];
    out.copy_from_slice(&full[..TAG_BYTES]);
    out
}

#[cold]
fn unreachable_hmac() -> ! {
    panic!("HMAC accepts keys of any length")
}

/// `x(secret * public)` on P-256, the ECDH shared secret: computed by the selected
/// backend ([`crate::backend`]; AWS-LC by default, about four times faster than `p256`
/// on x86-64), by `p256` should AWS-LC ever refuse the (already valid) inputs.
pub fn p256_shared_x(secret: &NonZeroScalar, public: &PublicKey) -> Zeroizing<[u8; 32]> {
    let selected = EcdhSecret::new(secret)
        .zip(EcdhPeer::from_public(public))
        .and_then(|(key, peer)| key.agree(&peer));
    selected.unwrap_or_else(|| {
        let shared = p256::ecdh::diffie_hellman(secret, public.as_affine());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(shared.raw_secret_bytes());
        out
    })
}

/// `x(secret * P)` for a point `P` given as SEC1 bytes (compressed or not), after
/// checking that `P` is a point of the curve (not the identity); `None` when it is not.
pub fn p256_shared_x_sec1(secret: &NonZeroScalar, public: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let peer = EcdhPeer::parse(public)?;
    match EcdhSecret::new(secret) {
        Some(key) => key.agree(&peer),
        None => p256::PublicKey::from_sec1_bytes(public)
            .ok()
            .map(|public| p256_shared_x(secret, &public)),
    }
}

fn shared_x(secret: &NonZeroScalar, public: &PublicKey) -> Zeroizing<[u8; 32]> {
    p256_shared_x(secret, public)
}

/// The sender's side of ECDH with the ephemeral secret `v`: `x(v * recipient)` and
/// `v * G`, from one prepared key (by `p256` should the backend refuse the valid inputs).
fn ephemeral_agreement(
    v: &NonZeroScalar,
    recipient: &PublicKey,
) -> (Zeroizing<[u8; 32]>, PublicKey) {
    EcdhSecret::new(v)
        .and_then(|key| {
            let shared = key.agree(&EcdhPeer::from_public(recipient)?)?;
            Some((shared, key.public_key()?))
        })
        .unwrap_or_else(|| {
            (
                p256_shared_x(v, recipient),
                PublicKey::from_secret_scalar(v),
            )
        })
}

/// Wraps the content key `k` for `recipient` with the ephemeral secret `v` (exposed so the
/// IEEE 1609.2 test vectors, which fix `v`, can be reproduced).
pub fn wrap_key(
    v: &NonZeroScalar,
    recipient: &PublicKey,
    k: &[u8; KEY_BYTES],
    p1: &[u8],
) -> WrappedKey {
    let (shared, ephemeral_public) = ephemeral_agreement(v, recipient);
    let keys = kdf2(&*shared, p1);
    let mut wrapped_key = [0u8; KEY_BYTES];
    for ((c, k), k1) in wrapped_key.iter_mut().zip(k).zip(&keys[..KEY_BYTES]) {
        *c = k ^ k1;
    }
    WrappedKey {
        ephemeral_public,
        tag: tag(&keys[KEY_BYTES..], &wrapped_key),
        wrapped_key,
    }
}

/// A recipient's secret key prepared for opening: the backend's key object, built once
/// (with AWS-LC, building it computes and checks `secret * G`, a third of an open's
/// cost). The key material is cleansed on drop.
#[derive(Clone)]
pub struct OpeningKey {
    prepared: std::sync::Arc<EcdhSecret>,
    // The secret it was prepared from (zeroized on drop; compared in constant time).
    secret: SecretKey,
    public: PublicKey,
}

impl core::fmt::Debug for OpeningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OpeningKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl OpeningKey {
    /// Prepares `secret` (`None` only if AWS-LC refuses a valid P-256 scalar).
    pub fn new(secret: &SecretKey) -> Option<Self> {
        let prepared = EcdhSecret::new(&secret.to_nonzero_scalar())?;
        Some(Self {
            prepared: std::sync::Arc::new(prepared),
            secret: secret.clone(),
            public: secret.public_key(),
        })
    }

    /// Whether it was prepared from `secret` (a constant-time comparison).
    pub fn is_for(&self, secret: &SecretKey) -> bool {
        self.secret == *secret
    }

    /// The public key it opens for.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Opens a sealed message (as [`open_message`], same results and errors, without
    /// re-deriving the key, and handing the backend the compressed ephemeral point as it
    /// is).
    pub fn open(&self, p1: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let fixed = sealed.len() >= HEADER_BYTES + CCM_TAG_BYTES;
        let shared = fixed
            .then(|| sealed.first().filter(|tag| matches!(tag, 2 | 3)))
            .flatten()
            .and_then(|_| self.prepared.agree(&EcdhPeer::parse(&sealed[..33])?));
        let Some(shared) = shared else {
            // Say what is malformed exactly as the parser does; a valid point that AWS-LC
            // refuses cannot be opened.
            SealedMessage::from_bytes(sealed)?;
            return Err(OpenError::Failed);
        };
        let (wrapped_key, rest) = sealed[33..].split_at(KEY_BYTES);
        let (tag, rest) = rest.split_at(TAG_BYTES);
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        let k = unwrap_with_shared(&shared, wrapped_key, tag, p1)?;
        decrypt_content(&k, nonce, ciphertext)
    }
}

/// Recovers the content key, checking the tag in constant time.
pub fn unwrap_key(
    recipient: &SecretKey,
    wrapped: &WrappedKey,
    p1: &[u8],
) -> Result<Zeroizing<[u8; KEY_BYTES]>, OpenError> {
    let shared = shared_x(&recipient.to_nonzero_scalar(), &wrapped.ephemeral_public);
    unwrap_with_shared(&shared, &wrapped.wrapped_key, &wrapped.tag, p1)
}

/// The key unwrapping after ECDH: KDF2, the tag checked in constant time, then `k`.
fn unwrap_with_shared(
    shared: &[u8; 32],
    wrapped_key: &[u8],
    tag_bytes: &[u8],
    p1: &[u8],
) -> Result<Zeroizing<[u8; KEY_BYTES]>, OpenError> {
    let wrapped_key: &[u8; KEY_BYTES] = wrapped_key.try_into().map_err(|_| OpenError::Failed)?;
    let keys = kdf2(shared, p1);
    let expected = tag(&keys[KEY_BYTES..], wrapped_key);
    if !bool::from(expected.as_slice().ct_eq(tag_bytes)) {
        return Err(OpenError::Failed);
    }
    let mut k = Zeroizing::new([0u8; KEY_BYTES]);
    for ((k, c), k1) in k.iter_mut().zip(wrapped_key).zip(&keys[..KEY_BYTES]) {
        *k = c ^ k1;
    }
    Ok(k)
}

/// Seals with given ephemeral secret, content key and nonce (for reproducible output and
/// test vectors; [`Ieee1609Ecies::seal`] draws them at random).
pub fn seal_with(
    v: &NonZeroScalar,
    k: &[u8; KEY_BYTES],
    nonce: &[u8; NONCE_BYTES],
    recipient: &PublicKey,
    p1: &[u8],
    plaintext: &[u8],
) -> Result<SealedMessage, SealError> {
    if plaintext.len() > MAX_PLAINTEXT_BYTES {
        return Err(SealError::PlaintextTooLong {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_BYTES,
        });
    }
    let cipher = Aes128Ccm::new(&(*k).into());
    let ciphertext =
        cipher
            .encrypt(&(*nonce).into(), plaintext)
            .map_err(|_| SealError::PlaintextTooLong {
                len: plaintext.len(),
                max: MAX_PLAINTEXT_BYTES,
            })?;
    Ok(SealedMessage {
        key: wrap_key(v, recipient, k, p1),
        nonce: *nonce,
        ciphertext,
    })
}

/// Opens a parsed sealed message.
pub fn open_message(
    recipient: &SecretKey,
    p1: &[u8],
    sealed: &SealedMessage,
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let k = unwrap_key(recipient, &sealed.key, p1)?;
    decrypt_content(&k, &sealed.nonce, &sealed.ciphertext)
}

/// AES-128-CCM decryption of the content with the unwrapped key.
fn decrypt_content(
    k: &[u8; KEY_BYTES],
    nonce: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| OpenError::Failed)?;
    let cipher = Aes128Ccm::new(&(*k).into());
    cipher
        .decrypt(&nonce.into(), ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| OpenError::Failed)
}

/// A sealed message (the layout above) as IEEE 1609.2 `EncryptedData` (COER
/// `Ieee1609Dot2Data`) for one recipient, named as `kind` says by `id`.
pub fn encrypted_data_for(
    sealed: &[u8],
    kind: vkm_its::RecipientKind,
    id: vkm_its::HashedId8,
) -> Result<Vec<u8>, MalformedCiphertext> {
    let parsed = SealedMessage::from_bytes(sealed)?;
    let data = vkm_its::EncryptedData {
        recipients: vec![vkm_its::EciesRecipient {
            kind,
            recipient: id,
            v: sealed[..33]
                .try_into()
                .map_err(|_| length("ephemeral public key"))?,
            c: parsed.key.wrapped_key,
            t: parsed.key.tag,
        }],
        nonce: parsed.nonce,
        ciphertext: parsed.ciphertext,
    };
    data.to_oer().map_err(|_| MalformedCiphertext {
        what: "IEEE 1609.2 encrypted data",
        reason: "cannot be encoded",
    })
}

/// The one recipient of IEEE 1609.2 `EncryptedData` (how it is named, and its
/// `HashedId8`) and the sealed message (the layout above, its ephemeral point not yet
/// checked) for it; malformed when the bytes are not canonical COER `EncryptedData` with
/// exactly one P-256 ECIES recipient.
pub fn sealed_in_encrypted_data(
    bytes: &[u8],
) -> Result<(vkm_its::RecipientKind, vkm_its::HashedId8, Vec<u8>), MalformedCiphertext> {
    let malformed = |reason| MalformedCiphertext {
        what: "IEEE 1609.2 encrypted data",
        reason,
    };
    let data = vkm_its::EncryptedData::from_oer(bytes)
        .map_err(|_| malformed("not canonical COER EncryptedData with a P-256 ECIES recipient"))?;
    let [only] = data.recipients.as_slice() else {
        return Err(malformed("not exactly one recipient"));
    };
    let mut sealed = Vec::with_capacity(HEADER_BYTES + data.ciphertext.len());
    sealed.extend_from_slice(&only.v);
    sealed.extend_from_slice(&only.c);
    sealed.extend_from_slice(&only.t);
    sealed.extend_from_slice(&data.nonce);
    sealed.extend_from_slice(&data.ciphertext);
    Ok((only.kind, only.recipient, sealed))
}

/// A sealed message as IEEE 1609.2 `EncryptedData` for the holder of `recipient`, named
/// by `rekRecipInfo` (the `HashedId8` of the key: security managers' keys are registered,
/// not certified): what a key transfer carries, and what any IEEE 1609.2 implementation
/// holding the secret key opens.
pub fn to_encrypted_data(
    sealed: &[u8],
    recipient: &PublicKey,
) -> Result<Vec<u8>, MalformedCiphertext> {
    encrypted_data_for(
        sealed,
        vkm_its::RecipientKind::EncryptionKey,
        vkm_its::encryption_key_id(recipient),
    )
}

/// The sealed message inside IEEE 1609.2 `EncryptedData` addressed to `recipient` by
/// `rekRecipInfo`: malformed as [`sealed_in_encrypted_data`] says;
/// [`OpenError::Failed`] (as any other message this key cannot open) when it is
/// addressed to another key.
pub fn from_encrypted_data(bytes: &[u8], recipient: &PublicKey) -> Result<Vec<u8>, OpenError> {
    let (kind, id, sealed) = sealed_in_encrypted_data(bytes)?;
    if kind != vkm_its::RecipientKind::EncryptionKey || id != vkm_its::encryption_key_id(recipient)
    {
        return Err(OpenError::Failed);
    }
    Ok(sealed)
}

/// The IEEE 1609.2 ECIES backend (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ieee1609Ecies;

impl Sealer for Ieee1609Ecies {
    type PublicKey = PublicKey;
    type SecretKey = SecretKey;

    fn seal<R: CryptoRng + ?Sized>(
        &self,
        recipient: &PublicKey,
        p1: &[u8],
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, SealError> {
        let v = NonZeroScalar::generate_from_rng(rng);
        let mut k = Zeroizing::new([0u8; KEY_BYTES]);
        rng.fill_bytes(&mut *k);
        let mut nonce = [0u8; NONCE_BYTES];
        rng.fill_bytes(&mut nonce);
        seal_with(&v, &k, &nonce, recipient, p1, plaintext).map(|m| m.to_bytes())
    }

    fn open(
        &self,
        recipient: &SecretKey,
        p1: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        open_message(recipient, p1, &SealedMessage::from_bytes(sealed)?)
    }
}
