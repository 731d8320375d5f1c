//! Double SHA-256 and the hash newtypes.
//!
//! Hex forms print the 32 digest bytes in the order SHA-256 outputs them (no byte
//! reversal, unlike Bitcoin's display convention), so a hash's leading zero bits are
//! the leading zero hex digits one reads.

use core::fmt;
use core::str::FromStr;

use sha2::{Digest, Sha256};

use crate::encode::{Decode, DecodeError, Encode, Reader, Sink};

/// `SHA256(SHA256(data))`, the hash of Lei et al. section III.B.4.
pub fn dhash(data: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(data)).into()
}

/// Finishes a double SHA-256 whose first pass was fed to `inner`.
pub fn dhash_finish(inner: Sha256) -> [u8; 32] {
    Sha256::digest(inner.finalize()).into()
}

/// Why a hash could not be parsed from hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 64 hex digits")]
pub struct HashParseError;

macro_rules! hash_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The all-zero value.
            pub const ZERO: Self = Self([0; 32]);

            /// The 32 bytes in SHA-256 output order.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = HashParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).map_err(|_| HashParseError)?;
                Ok(Self(out))
            }
        }

        impl Encode for $name {
            fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
                sink.put(&self.0);
            }
        }

        impl Decode for $name {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                reader.array(stringify!($name)).map(Self)
            }
        }
    };
}

hash_newtype!(
    /// Identifies a block: the double SHA-256 of its encoded header.
    BlockHash
);
hash_newtype!(
    /// Identifies a transaction: the double SHA-256 of its full encoding.
    Txid
);
hash_newtype!(
    /// The root of the merkle tree over a block's transaction ids.
    MerkleRoot
);
hash_newtype!(
    /// Identifies a pseudonym certificate: the double SHA-256 of its encoding (what a
    /// central manager's revocation names).
    CertificateId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dhash_of_empty_string() {
        // SHA256(SHA256("")), a well-known constant (Bitcoin's hash of the empty string).
        assert_eq!(
            hex::encode(dhash(b"")),
            "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"
        );
    }

    #[test]
    fn hex_round_trip() {
        let h = BlockHash(dhash(b"abc"));
        assert_eq!(h.to_string().parse::<BlockHash>(), Ok(h));
        assert_eq!("zz".parse::<Txid>(), Err(HashParseError));
    }
}
