//! IEEE 1609.2 `EncryptedData` for one or more certificate recipients, each with an
//! `EciesP256EncryptedKey`, and an AES-128-CCM ciphertext: the structure any 1609.2
//! implementation opens with the recipient certificate's private key. vkm's ECIES itself
//! (the key wrapping and CCM) lives in `vkm-transfer`; this module is the encoding.

use rasn::types::{FixedOctetString, OctetString};
use rasn_its::ieee1609dot2 as asn;
use rasn_its::ieee1609dot2::base_types as base;

use crate::certificate::{HashedId8, compressed_point, p256_sec1};
use crate::codec::{self, DecodeError};

/// The largest `EncryptedData` vkm decodes, in bytes.
pub const MAX_ENCRYPTED_DATA_BYTES: usize = 1 << 20;

/// The most recipients vkm decodes in one `EncryptedData`.
pub const MAX_RECIPIENTS: usize = 64;

/// How a recipient is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecipientKind {
    /// `certRecipInfo`: the `HashedId8` of the recipient's certificate.
    Certificate,
    /// `rekRecipInfo`: the `HashedId8` of the recipient's public encryption key (COER of
    /// its `PublicEncryptionKey`), for a key that is not in a certificate
    /// ([`encryption_key_id`]).
    EncryptionKey,
}

/// One recipient: its `HashedId8` and the data key wrapped for its encryption key with
/// IEEE 1609.2 ECIES on P-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EciesRecipient {
    /// What [`Self::recipient`] is the `HashedId8` of.
    pub kind: RecipientKind,
    /// The recipient's `HashedId8`.
    pub recipient: HashedId8,
    /// The ephemeral public key `V` (compressed SEC1, 33 bytes).
    pub v: [u8; 33],
    /// The wrapped data key `C`.
    pub c: [u8; 16],
    /// The tag `T`.
    pub t: [u8; 16],
}

/// An IEEE 1609.2 `Ieee1609Dot2Data` whose content is `EncryptedData`: recipients, then
/// the AES-128-CCM nonce and ciphertext (with its 16-byte tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedData {
    /// Who can open it (at least one).
    pub recipients: Vec<EciesRecipient>,
    /// The CCM nonce.
    pub nonce: [u8; 12],
    /// The CCM ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

/// Why an `EncryptedData` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptedDataError {
    /// Not a canonical COER `Ieee1609Dot2Data`.
    #[error("not IEEE 1609.2 data: {0}")]
    Decode(#[from] DecodeError),
    /// Valid 1609.2 data, but not what vkm opens (signed data, a pre-shared key...).
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// No recipient, or more than [`MAX_RECIPIENTS`].
    #[error("{0} recipients (1 to {MAX_RECIPIENTS} accepted)")]
    Recipients(usize),
    /// The ephemeral key is not a compressed or uncompressed point.
    #[error("the ephemeral key V is not a point encoding")]
    BadEphemeralKey,
    /// Encoding failed.
    #[error("cannot encode: {0}")]
    Encode(String),
}

impl EncryptedData {
    /// Its COER encoding (as `Ieee1609Dot2Data`, protocol version 3).
    pub fn to_oer(&self) -> Result<Vec<u8>, EncryptedDataError> {
        if self.recipients.is_empty() || self.recipients.len() > MAX_RECIPIENTS {
            return Err(EncryptedDataError::Recipients(self.recipients.len()));
        }
        let recipients = self
            .recipients
            .iter()
            .map(|r| {
                let info = asn::PKRecipientInfo {
                    recipient_id: base::HashedId8(FixedOctetString::from(r.recipient.0)),
                    enc_key: asn::EncryptedDataEncryptionKey::EciesNistP256(
                        base::EciesP256EncryptedKey {
                            v: compressed_point(&r.v),
                            c: FixedOctetString::from(r.c),
                            t: FixedOctetString::from(r.t),
                        },
                    ),
                };
                match r.kind {
                    RecipientKind::Certificate => asn::RecipientInfo::CertRecipInfo(info),
                    RecipientKind::EncryptionKey => asn::RecipientInfo::RekRecipInfo(info),
                }
            })
            .collect();
        let data = asn::Ieee1609Dot2Data {
            protocol_version: asn::Ieee1609Dot2Data::VERSION,
            content: asn::Ieee1609Dot2Content::EncryptedData(asn::EncryptedData {
                recipients: asn::SequenceOfRecipientInfo(recipients),
                ciphertext: asn::SymmetricCiphertext::Aes128ccm(asn::One28BitCcmCiphertext {
                    nonce: FixedOctetString::from(self.nonce),
                    ccm_ciphertext: base::Opaque(OctetString::from(self.ciphertext.clone())),
                }),
            }),
        };
        rasn::coer::encode(&data).map_err(|e| EncryptedDataError::Encode(e.to_string()))
    }

    /// Decodes what [`Self::to_oer`] writes (at most [`MAX_ENCRYPTED_DATA_BYTES`]):
    /// certificate recipients with P-256 ECIES keys and an AES-128-CCM ciphertext.
    pub fn from_oer(bytes: &[u8]) -> Result<Self, EncryptedDataError> {
        let data: asn::Ieee1609Dot2Data = codec::decode(bytes, MAX_ENCRYPTED_DATA_BYTES)?;
        let asn::Ieee1609Dot2Content::EncryptedData(encrypted) = data.content else {
            return Err(EncryptedDataError::Unsupported(
                "content is not EncryptedData",
            ));
        };
        let count = encrypted.recipients.0.len();
        if count == 0 || count > MAX_RECIPIENTS {
            return Err(EncryptedDataError::Recipients(count));
        }
        let mut recipients = Vec::with_capacity(count);
        for info in &encrypted.recipients.0 {
            let (kind, info) = match info {
                asn::RecipientInfo::CertRecipInfo(info) => (RecipientKind::Certificate, info),
                asn::RecipientInfo::RekRecipInfo(info) => (RecipientKind::EncryptionKey, info),
                _ => {
                    return Err(EncryptedDataError::Unsupported(
                        "recipient is neither certRecipInfo nor rekRecipInfo",
                    ));
                }
            };
            let asn::EncryptedDataEncryptionKey::EciesNistP256(key) = &info.enc_key else {
                return Err(EncryptedDataError::Unsupported("key is not eciesNistP256"));
            };
            let sec1 = p256_sec1(&key.v).ok_or(EncryptedDataError::BadEphemeralKey)?;
            let v = compress(&sec1).ok_or(EncryptedDataError::BadEphemeralKey)?;
            recipients.push(EciesRecipient {
                kind,
                recipient: HashedId8(*info.recipient_id.0),
                v,
                c: *key.c,
                t: *key.t,
            });
        }
        let asn::SymmetricCiphertext::Aes128ccm(ccm) = encrypted.ciphertext else {
            return Err(EncryptedDataError::Unsupported("cipher is not AES-128-CCM"));
        };
        let decoded = Self {
            recipients,
            nonce: *ccm.nonce,
            ciphertext: ccm.ccm_ciphertext.0.to_vec(),
        };
        // vkm writes V compressed: an uncompressed V would not encode back the same.
        if decoded.to_oer()? != bytes {
            return Err(EncryptedDataError::Unsupported(
                "ephemeral key V is not compressed",
            ));
        }
        Ok(decoded)
    }
}

fn compress(sec1: &[u8]) -> Option<[u8; 33]> {
    match sec1.len() {
        33 => sec1.try_into().ok(),
        65 => {
            let mut out = [0u8; 33];
            out[0] = 0x02 | (sec1[64] & 1);
            out[1..].copy_from_slice(&sec1[1..33]);
            Some(out)
        }
        _ => None,
    }
}

/// The `HashedId8` of a P-256 encryption key that is not in a certificate, as
/// `rekRecipInfo` names it: the last 8 bytes of the SHA-256 of the COER encoding of its
/// `PublicEncryptionKey` (AES-128-CCM, `eciesNistP256`, compressed point).
pub fn encryption_key_id(key: &p256::PublicKey) -> HashedId8 {
    use p256::elliptic_curve::sec1::ToSec1Point;
    use sha2::Digest;
    let public = base::PublicEncryptionKey {
        supported_symm_alg: base::SymmAlgorithm::Aes128Ccm,
        public_key: base::BasePublicEncryptionKey::EciesNistP256(compressed_point(
            key.to_sec1_point(true).as_bytes(),
        )),
    };
    // A fixed-size structure of known choices: encoding cannot fail.
    let bytes = rasn::coer::encode(&public).unwrap_or_default();
    let digest = sha2::Sha256::digest(&bytes);
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[24..]);
    HashedId8(id)
}
