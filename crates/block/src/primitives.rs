//! Small value types shared by the formats: time, member ids, signatures, keys, and
//! byte strings with a size limit.

use core::fmt;

use crate::encode::{Decode, DecodeError, DecodeErrorKind, Encode, Reader, Sink, put_len};
use crate::limits::{MAX_CIPHERTEXT_BYTES, MAX_DOMAIN_NAME_BYTES, MAX_SCRIPT_BYTES};

/// Milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current wall-clock time (for runtimes; protocol logic takes time injected).
    pub fn now() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Self(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

/// Identifies a registered member of the permissioned chain: a security manager (one per
/// security domain, "SM number" in Lei et al. Table I) or a central manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MemberId(pub u32);

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "member-{}", self.0)
    }
}

/// An ECDSA P-256 signature in fixed-size form: 32-byte `r` then 32-byte `s`, big-endian.
///
/// Here it is bytes; the key-transfer crate creates and checks it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompactSignature(pub [u8; 64]);

impl fmt::Debug for CompactSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompactSignature({})", hex::encode(self.0))
    }
}

impl Default for CompactSignature {
    fn default() -> Self {
        Self([0; 64])
    }
}

/// A compressed SEC1 elliptic-curve point (33 bytes); the curve is fixed by where it
/// appears. Not validated here: the crates that use a key check it is on its curve.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKeyBytes(pub [u8; 33]);

impl fmt::Debug for PublicKeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKeyBytes({})", hex::encode(self.0))
    }
}

macro_rules! fixed_codec {
    ($($name:ident),*) => {$(
        impl Encode for $name {
            fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
                self.0.encode(sink);
            }
        }
        impl Decode for $name {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Decode::decode(reader).map(Self)
            }
        }
    )*};
}
fixed_codec!(Timestamp, MemberId);

macro_rules! array_codec {
    ($($name:ident => $what:literal),*) => {$(
        impl Encode for $name {
            fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
                sink.put(&self.0);
            }
        }
        impl Decode for $name {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                reader.array($what).map(Self)
            }
        }
    )*};
}
array_codec!(CompactSignature => "signature", PublicKeyBytes => "public key");

/// A byte string is longer than its type allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} of {len} bytes exceeds the limit of {max}")]
pub struct TooLong {
    /// Which kind of byte string.
    pub what: &'static str,
    /// Its length.
    pub len: usize,
    /// The limit.
    pub max: usize,
}

macro_rules! bounded_bytes {
    ($(#[$doc:meta])* $name:ident, $max:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Default)]
        pub struct $name(Vec<u8>);

        impl $name {
            /// The most bytes this type holds.
            pub const MAX_LEN: usize = $max;

            /// Wraps `bytes`, refusing more than [`Self::MAX_LEN`].
            pub fn new(bytes: Vec<u8>) -> Result<Self, TooLong> {
                if bytes.len() > Self::MAX_LEN {
                    return Err(TooLong { what: $what, len: bytes.len(), max: Self::MAX_LEN });
                }
                Ok(Self(bytes))
            }

            /// The bytes.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// Length in bytes.
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// Whether there are no bytes.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// The owned bytes.
            pub fn into_bytes(self) -> Vec<u8> {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode(&self.0))
            }
        }

        impl TryFrom<Vec<u8>> for $name {
            type Error = TooLong;
            fn try_from(bytes: Vec<u8>) -> Result<Self, TooLong> {
                Self::new(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl Encode for $name {
            fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
                put_len(sink, self.0.len());
                sink.put(&self.0);
            }
        }

        impl Decode for $name {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                reader.bytes(Self::MAX_LEN, $what).map(Self)
            }
        }
    };
}

bounded_bytes!(
    /// Sealed vehicle identity materials (pseudonym and certificate) in a key transfer:
    /// opaque here, at most [`MAX_CIPHERTEXT_BYTES`].
    Ciphertext,
    MAX_CIPHERTEXT_BYTES,
    "ciphertext"
);
bounded_bytes!(
    /// A locking or unlocking script, at most [`MAX_SCRIPT_BYTES`]; the script crate
    /// gives it meaning.
    ScriptBytes,
    MAX_SCRIPT_BYTES,
    "script"
);

/// The human-readable name of a security domain, UTF-8, at most
/// [`MAX_DOMAIN_NAME_BYTES`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct DomainName(String);

impl DomainName {
    /// Wraps `name`, refusing more than [`MAX_DOMAIN_NAME_BYTES`] bytes.
    pub fn new(name: impl Into<String>) -> Result<Self, TooLong> {
        let name = name.into();
        if name.len() > MAX_DOMAIN_NAME_BYTES {
            return Err(TooLong {
                what: "domain name",
                len: name.len(),
                max: MAX_DOMAIN_NAME_BYTES,
            });
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Encode for DomainName {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        put_len(sink, self.0.len());
        sink.put(self.0.as_bytes());
    }
}

impl Decode for DomainName {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = reader.offset();
        let bytes = reader.bytes(MAX_DOMAIN_NAME_BYTES, "domain name")?;
        String::from_utf8(bytes).map(Self).map_err(|_| DecodeError {
            offset: start,
            kind: DecodeErrorKind::Invalid {
                what: "domain name",
                reason: "not UTF-8",
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{deserialize, serialize};

    #[test]
    fn bounded_bytes_refuse_oversize() {
        assert!(Ciphertext::new(vec![0; MAX_CIPHERTEXT_BYTES]).is_ok());
        let err = Ciphertext::new(vec![0; MAX_CIPHERTEXT_BYTES + 1]).unwrap_err();
        assert_eq!(err.max, MAX_CIPHERTEXT_BYTES);
        // An oversize length prefix is refused by the decoder at the prefix.
        let mut bytes = ((MAX_SCRIPT_BYTES + 1) as u32).to_le_bytes().to_vec();
        bytes.resize(4 + MAX_SCRIPT_BYTES + 1, 0);
        let err = deserialize::<ScriptBytes>(&bytes).unwrap_err();
        assert!(matches!(err.kind, DecodeErrorKind::TooLong { .. }));
    }

    #[test]
    fn domain_name_must_be_utf8() {
        let err = deserialize::<DomainName>(&[2, 0, 0, 0, 0xff, 0xfe]).unwrap_err();
        assert!(matches!(err.kind, DecodeErrorKind::Invalid { .. }));
        let name = DomainName::new("Haidian").unwrap();
        assert_eq!(deserialize::<DomainName>(&serialize(&name)), Ok(name));
    }
}
