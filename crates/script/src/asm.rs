//! Bitcoin's short assembly text: decimal numbers, `'strings'`, raw `0x..` bytes, and
//! opcode names with or without `OP_`, as in Bitcoin Core's test data.

use crate::num;
use crate::opcode::{self, op};

/// Why assembly text does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AsmError {
    /// A token is no number, string, hex or opcode name.
    #[error("unknown token {0:?}")]
    UnknownToken(String),
    /// A `0x` token with an odd number of digits or a non-hex digit.
    #[error("bad hex {0:?}")]
    BadHex(String),
    /// A `'` string that does not end.
    #[error("unterminated string")]
    UnterminatedString,
    /// A number outside 64-bit range.
    #[error("number out of range: {0}")]
    NumberRange(String),
}

/// Appends a push of `data` with the shortest push opcode.
pub fn push_data(out: &mut Vec<u8>, data: &[u8]) {
    let len = data.len();
    if len < op::OP_PUSHDATA1 as usize {
        out.push(len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[op::OP_PUSHDATA1, len as u8]);
    } else if len <= 0xffff {
        out.push(op::OP_PUSHDATA2);
        out.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        out.push(op::OP_PUSHDATA4);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(data);
}

/// Appends a number: `OP_1NEGATE`, `OP_0`..`OP_16`, or a minimal push.
pub fn push_number(out: &mut Vec<u8>, n: i64) {
    match n {
        -1 => out.push(op::OP_1NEGATE),
        0 => out.push(op::OP_0),
        1..=16 => out.push(op::OP_1 + (n as u8) - 1),
        _ => push_data(out, &num::encode(n)),
    }
}

/// Splits assembly into tokens, keeping `'quoted strings'` whole.
fn tokens(text: &str) -> Result<Vec<String>, AsmError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut s = String::from("'");
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => s.push(c),
                    None => return Err(AsmError::UnterminatedString),
                }
            }
            s.push('\'');
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            out.push(s);
        }
    }
    Ok(out)
}

/// Parses assembly text into script bytes.
pub fn parse(text: &str) -> Result<Vec<u8>, AsmError> {
    let mut out = Vec::new();
    for token in tokens(text)? {
        let is_number = {
            let digits = token.strip_prefix('-').unwrap_or(&token);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        };
        if is_number {
            let n: i64 = token
                .parse()
                .map_err(|_| AsmError::NumberRange(token.clone()))?;
            push_number(&mut out, n);
        } else if let Some(hex) = token.strip_prefix("0x") {
            if hex.is_empty() || hex.len() % 2 != 0 {
                return Err(AsmError::BadHex(token));
            }
            for pair in hex.as_bytes().chunks(2) {
                let text =
                    core::str::from_utf8(pair).map_err(|_| AsmError::BadHex(token.clone()))?;
                out.push(
                    u8::from_str_radix(text, 16).map_err(|_| AsmError::BadHex(token.clone()))?,
                );
            }
        } else if token.len() >= 2 && token.starts_with('\'') && token.ends_with('\'') {
            push_data(&mut out, &token.as_bytes()[1..token.len() - 1]);
        } else if let Some(code) = opcode::from_name(&token) {
            out.push(code);
        } else {
            return Err(AsmError::UnknownToken(token));
        }
    }
    Ok(out)
}

/// Prints script bytes as assembly: numbers for `OP_1NEGATE` and `OP_0`..`OP_16`, pushes
/// as raw `0x..` (push opcode and data), opcodes by name, other bytes as `0x..`. [`parse`]
/// reads it back to the same bytes.
pub fn print(script: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < script.len() {
        let code = script[i];
        let (header, len) = match code {
            1..=0x4b => (1, Some(code as usize)),
            op::OP_PUSHDATA1 => (2, script.get(i + 1).map(|&b| b as usize)),
            op::OP_PUSHDATA2 => (
                3,
                script
                    .get(i + 1..i + 3)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize),
            ),
            op::OP_PUSHDATA4 => (
                5,
                script
                    .get(i + 1..i + 5)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
            ),
            _ => (1, None),
        };
        match (code, len) {
            (op::OP_0, _) => parts.push("0".to_string()),
            (op::OP_1NEGATE, _) => parts.push("-1".to_string()),
            (op::OP_1..=op::OP_16, _) => parts.push((code - op::OP_1 + 1).to_string()),
            (_, Some(len)) if i + header + len <= script.len() => {
                // The push opcode and its data as raw bytes, so any push form round-trips.
                parts.push(format!("0x{}", hex_string(&script[i..i + header + len])));
                i += header + len;
                continue;
            }
            (_, Some(_)) => {
                parts.push(format!("0x{}", hex_string(&script[i..])));
                break;
            }
            (_, None) => match opcode::name(code) {
                Some(name) => parts.push(name.to_string()),
                None => parts.push(format!("0x{code:02x}")),
            },
        }
        i += 1;
    }
    parts.join(" ")
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One operation of a script: the opcode and, for pushes, the data.
pub type Op<'a> = (u8, Option<&'a [u8]>);

/// The operations of a script in order; `None` if a push is truncated.
pub fn ops(script: &[u8]) -> Option<Vec<Op<'_>>> {
    let mut pc = 0;
    let mut out = Vec::new();
    while pc < script.len() {
        out.push(crate::exec::next_op(script, &mut pc).ok()?);
    }
    Some(out)
}

/// The data of a script made only of data pushes (OP_0 and the push opcodes, not the
/// small-number opcodes), in order; `None` for any other script or a truncated push.
/// Reads the data of `OP_RETURN` carriers after their first byte.
pub fn data_pushes(script: &[u8]) -> Option<Vec<&[u8]>> {
    ops(script)?.into_iter().map(|(_, data)| data).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_core_style_tokens() {
        assert_eq!(
            parse("0 1 16 -1 17").unwrap(),
            vec![0x00, 0x51, 0x60, 0x4f, 0x01, 0x11]
        );
        assert_eq!(
            parse("'abc' 0x4c01ff DUP OP_HASH160").unwrap(),
            vec![3, b'a', b'b', b'c', 0x4c, 0x01, 0xff, 0x76, 0xa9]
        );
        assert_eq!(parse("NOP4").unwrap(), vec![op::OP_EXPONENT]);
        assert!(matches!(parse("FOO"), Err(AsmError::UnknownToken(_))));
        assert!(matches!(parse("0x1"), Err(AsmError::BadHex(_))));
    }

    #[test]
    fn print_round_trips() {
        for text in [
            "0 1 16 -1 0x02ff00 DUP 'hello' EXPONENT 0xba",
            "IF 1 ELSE 0 ENDIF",
            "0x4c00 0x4d0100aa",
        ] {
            let bytes = parse(text).unwrap();
            assert_eq!(parse(&print(&bytes)).unwrap(), bytes, "{text}");
        }
    }
}
