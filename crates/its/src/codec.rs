//! Decoding with limits: size checked before anything is read, nesting bounded by the
//! COER decoder's depth limit, trailing bytes and non-canonical encodings refused.

/// Why bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Longer than the structure's limit (checked before decoding).
    #[error("{len} bytes: more than the {limit}-byte limit")]
    TooLong {
        /// The input's length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Empty input.
    #[error("empty input")]
    Empty,
    /// The COER decoder refused the bytes (truncated, nested too deep, an invalid
    /// choice, a broken constraint...).
    #[error("COER: {0}")]
    Coer(String),
    /// Bytes follow the structure.
    #[error("{0} bytes after the end of the structure")]
    Trailing(usize),
    /// The bytes decode but are not the canonical COER encoding of what they hold.
    #[error("not the canonical COER encoding")]
    NotCanonical,
}

/// Decodes a `T` from all of `bytes` (at most `limit` of them), canonically.
pub(crate) fn decode<T: rasn::Decode + rasn::Encode>(
    bytes: &[u8],
    limit: usize,
) -> Result<T, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLong {
            len: bytes.len(),
            limit,
        });
    }
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let (value, rest) = rasn::coer::decode_with_remainder::<T>(bytes)
        .map_err(|e| DecodeError::Coer(first_line(&e.to_string())))?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing(rest.len()));
    }
    match rasn::coer::encode(&value) {
        Ok(again) if again == bytes => Ok(value),
        _ => Err(DecodeError::NotCanonical),
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(200).collect()
}
