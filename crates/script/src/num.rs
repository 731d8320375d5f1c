//! Script numbers: little-endian sign-magnitude, as Bitcoin encodes them.

use crate::error::ScriptError;

/// Decodes a script number of at most `max_len` bytes (4 for arithmetic operands).
pub fn decode(bytes: &[u8], max_len: usize) -> Result<i64, ScriptError> {
    if bytes.len() > max_len {
        return Err(ScriptError::ScriptNum);
    }
    let Some((&last, _)) = bytes.split_last() else {
        return Ok(0);
    };
    let mut value: i64 = 0;
    for (i, byte) in bytes.iter().enumerate() {
        value |= i64::from(*byte) << (8 * i);
    }
    if last & 0x80 != 0 {
        let magnitude = value & !(0x80i64 << (8 * (bytes.len() - 1)));
        Ok(-magnitude)
    } else {
        Ok(value)
    }
}

/// Encodes a number minimally (zero is the empty string).
pub fn encode(value: i64) -> Vec<u8> {
    if value == 0 {
        return Vec::new();
    }
    let negative = value < 0;
    let mut magnitude = value.unsigned_abs();
    let mut out = Vec::with_capacity(9);
    while magnitude > 0 {
        out.push((magnitude & 0xff) as u8);
        magnitude >>= 8;
    }
    if out.last().is_some_and(|b| b & 0x80 != 0) {
        out.push(if negative { 0x80 } else { 0 });
    } else if negative && let Some(last) = out.last_mut() {
        *last |= 0x80;
    }
    out
}

/// Bitcoin's truth: any non-zero byte, except a lone sign bit at the end ("negative zero").
pub fn as_bool(bytes: &[u8]) -> bool {
    for (i, byte) in bytes.iter().enumerate() {
        if *byte != 0 {
            return !(i == bytes.len() - 1 && *byte == 0x80);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_encodings() {
        for v in [
            0i64,
            1,
            -1,
            127,
            128,
            -128,
            255,
            256,
            32767,
            -32768,
            2147483647,
            -2147483647,
        ] {
            assert_eq!(decode(&encode(v), 5).unwrap(), v, "{v}");
        }
        assert_eq!(encode(128), vec![0x80, 0x00]);
        assert_eq!(encode(-1), vec![0x81]);
        assert_eq!(decode(&[0, 0, 0, 0, 0], 4), Err(ScriptError::ScriptNum));
        assert!(!as_bool(&[0, 0x80]));
        assert!(as_bool(&[0x80, 0]));
    }
}
