//! The canonical binary codec: one encoding per value, so hashes are well defined.
//!
//! Integers are written explicitly little-endian; variable-length fields carry a `u32`
//! little-endian length prefix that the decoder checks against a limit *before* it
//! allocates; [`deserialize`] rejects trailing bytes. Encoding is kept apart from the
//! types it encodes: a type implements [`Encode`] and [`Decode`], and the functions
//! here do the rest.

use sha2::{Digest, Sha256};

/// Where encoded bytes go: a buffer, a hasher, or a byte counter.
///
/// Encoding into a hasher computes a hash without building the encoding in memory.
pub trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// A [`Sink`] that only counts, used to compute encoded lengths.
#[derive(Debug, Default, Clone, Copy)]
pub struct ByteCounter(pub usize);

impl Sink for ByteCounter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

/// A value with a canonical binary encoding.
pub trait Encode {
    /// Writes the canonical encoding of `self` to `sink`.
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S);

    /// The length in bytes of the canonical encoding.
    fn encoded_len(&self) -> usize {
        let mut counter = ByteCounter(0);
        self.encode(&mut counter);
        counter.0
    }
}

/// A value that can be read back from its canonical encoding.
///
/// Implementations must check every length against a limit before allocating, and must
/// never panic, whatever the input.
pub trait Decode: Sized {
    /// Reads one value from `reader`.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// Encodes a value into a fresh buffer.
pub fn serialize<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.encoded_len());
    value.encode(&mut out);
    out
}

/// Decodes a value that must span `bytes` exactly: trailing bytes are an error.
pub fn deserialize<T: Decode>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut reader = Reader::new(bytes);
    let value = T::decode(&mut reader)?;
    if reader.remaining() != 0 {
        return Err(reader.error(DecodeErrorKind::TrailingBytes {
            count: reader.remaining(),
        }));
    }
    Ok(value)
}

/// Writes a `u32` little-endian length prefix.
///
/// Every bounded type of this crate has a limit far below `u32::MAX`; a larger length
/// saturates (and the decoder then rejects it) rather than wrapping.
pub fn put_len<S: Sink + ?Sized>(sink: &mut S, len: usize) {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    sink.put(&len.to_le_bytes());
}

/// Writes a length-prefixed sequence of encodable items.
pub fn put_seq<S: Sink + ?Sized, T: Encode>(sink: &mut S, items: &[T]) {
    put_len(sink, items.len());
    for item in items {
        item.encode(sink);
    }
}

/// Why a decoding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended inside a field.
    #[error("unexpected end of input reading {what}: needed {needed} bytes, {available} left")]
    UnexpectedEnd {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// A length or count prefix exceeds its limit.
    #[error("{what} too long: {len} exceeds the limit of {max}")]
    TooLong {
        /// The field being read.
        what: &'static str,
        /// The length the input claims.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A tag byte names no known variant.
    #[error("unknown {what} tag {value}")]
    UnknownTag {
        /// The tagged field.
        what: &'static str,
        /// The tag found.
        value: u8,
    },
    /// A format version this code does not know.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion {
        /// The versioned structure.
        what: &'static str,
        /// The version found.
        version: u8,
    },
    /// A field holds a value outside its domain.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The field being read.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Bytes remain after the value.
    #[error("{count} trailing bytes after the value")]
    TrailingBytes {
        /// How many bytes remain.
        count: usize,
    },
}

/// A decoding failure and where in the input it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("decode error at offset {offset}: {kind}")]
pub struct DecodeError {
    /// Byte offset in the input where the failing field starts.
    pub offset: usize,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    /// A field starting at `offset` holds a value outside its domain (for decoders that
    /// judge a field after reading it whole).
    pub fn invalid(offset: usize, what: &'static str, reason: &'static str) -> Self {
        Self {
            offset,
            kind: DecodeErrorKind::Invalid { what, reason },
        }
    }
}

/// A cursor over input bytes that tracks its offset for error reports.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// The current offset from the start of the input.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// An error of the given kind at the current offset.
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset: self.pos,
            kind,
        }
    }

    /// Reads `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(DecodeErrorKind::UnexpectedEnd {
                what,
                needed: n,
                available: self.remaining(),
            }));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a little-endian `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads a length or count prefix and checks it against `max` and against the input
    /// left, counting at least `min_item_len` bytes per item, before anything is allocated.
    pub fn count(
        &mut self,
        max: usize,
        min_item_len: usize,
        what: &'static str,
    ) -> Result<usize, DecodeError> {
        let start = self.pos;
        let len = self.u32(what)? as usize;
        if len > max {
            self.pos = start;
            return Err(self.error(DecodeErrorKind::TooLong { what, len, max }));
        }
        let needed = len.saturating_mul(min_item_len);
        if needed > self.remaining() {
            return Err(self.error(DecodeErrorKind::UnexpectedEnd {
                what,
                needed,
                available: self.remaining(),
            }));
        }
        Ok(len)
    }

    /// Reads a length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, max: usize, what: &'static str) -> Result<Vec<u8>, DecodeError> {
        let len = self.count(max, 1, what)?;
        Ok(self.take(len, what)?.to_vec())
    }

    /// Reads a length-prefixed sequence of at most `max` items, each at least
    /// `min_item_len` bytes long when encoded.
    pub fn seq<T: Decode>(
        &mut self,
        max: usize,
        min_item_len: usize,
        what: &'static str,
    ) -> Result<Vec<T>, DecodeError> {
        let len = self.count(max, min_item_len.max(1), what)?;
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(T::decode(self)?);
        }
        Ok(items)
    }
}

macro_rules! int_codec {
    ($($t:ty => $read:ident),*) => {$(
        impl Encode for $t {
            fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
                sink.put(&self.to_le_bytes());
            }
        }
        impl Decode for $t {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                reader.$read(stringify!($t))
            }
        }
    )*};
}
int_codec!(u8 => u8, u32 => u32, u64 => u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_little_endian() {
        assert_eq!(serialize(&0x0102_0304u32), [4, 3, 2, 1]);
        assert_eq!(deserialize::<u64>(&[1, 0, 0, 0, 0, 0, 0, 0]), Ok(1));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let err = deserialize::<u32>(&[0, 0, 0, 0, 9]).unwrap_err();
        assert_eq!(err.offset, 4);
        assert_eq!(err.kind, DecodeErrorKind::TrailingBytes { count: 1 });
    }

    #[test]
    fn count_is_checked_before_allocating() {
        // Claims 2^32-1 items of 8 bytes in a 4-byte input.
        let mut reader = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        let err = reader.seq::<u64>(usize::MAX, 8, "items").unwrap_err();
        assert!(matches!(err.kind, DecodeErrorKind::UnexpectedEnd { .. }));
        let mut reader = Reader::new(&[5, 0, 0, 0]);
        let err = reader.bytes(4, "bytes").unwrap_err();
        assert_eq!(
            err.kind,
            DecodeErrorKind::TooLong {
                what: "bytes",
                len: 5,
                max: 4
            }
        );
        assert_eq!(err.offset, 0);
    }

    #[test]
    fn short_input_names_field_and_offset() {
        let mut reader = Reader::new(&[1, 2, 3]);
        reader.u8("first").unwrap();
        let err = reader.u32("second").unwrap_err();
        assert_eq!(err.offset, 1);
        assert_eq!(
            err.to_string(),
            "decode error at offset 1: unexpected end of input reading second: needed 4 bytes, 2 left"
        );
    }
}
