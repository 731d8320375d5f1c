//! OP_EXPONENT: `base^exponent mod modulus` on unsigned big-endian operands, with
//! `crypto-bigint`'s Montgomery arithmetic (the modulus must be odd), charged by cost.

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, NonZero, Odd};

use crate::error::ScriptError;

/// Largest operand, bytes.
pub const MAX_OPERAND_BYTES: usize = 512;

/// Operation-budget units one OP_EXPONENT costs: 1, plus one per 2^31 of
/// `modulus_bits^2 x exponent_bits` (the work of a square-and-multiply), rounded up. A
/// 2048-bit exponentiation costs 5, 3072-bit 15, 4096-bit 33, against the budget of 201.
/// The base costs nothing beyond: [`modpow`] reduces it modulo the modulus first (work
/// linear in the base's length) and exponentiates at the modulus' width.
pub fn cost(modulus: &[u8], exponent: &[u8]) -> usize {
    let m = (modulus.len() * 8) as u128;
    let e = (exponent.len() * 8) as u128;
    1 + (m * m * e).div_ceil(1 << 31) as usize
}

/// `base^exponent mod modulus`, as a minimal unsigned big-endian byte string (zero is
/// empty). Fails unless the modulus is odd and greater than one, and every operand is at
/// most [`MAX_OPERAND_BYTES`].
pub fn modpow(base: &[u8], exponent: &[u8], modulus: &[u8]) -> Result<Vec<u8>, ScriptError> {
    if base.len() > MAX_OPERAND_BYTES
        || exponent.len() > MAX_OPERAND_BYTES
        || modulus.len() > MAX_OPERAND_BYTES
    {
        return Err(ScriptError::ExponentSize);
    }
    let width = |bytes: &[u8]| (bytes.len().max(1) * 8).next_multiple_of(64) as u32;
    let bits = width(modulus);
    let m = BoxedUint::from_be_slice(modulus, bits).map_err(|_| ScriptError::ExponentSize)?;
    let one = BoxedUint::one_with_precision(bits);
    if m <= one {
        return Err(ScriptError::ExponentModulus);
    }
    let odd =
        Option::<Odd<BoxedUint>>::from(Odd::new(m.clone())).ok_or(ScriptError::ExponentModulus)?;
    let nonzero =
        Option::<NonZero<BoxedUint>>::from(NonZero::new(m)).ok_or(ScriptError::ExponentModulus)?;
    // Reduced at the base's width, the remainder at the modulus' width: the
    // exponentiation never runs wider than the modulus, whatever the base.
    let reduced = BoxedUint::from_be_slice(base, width(base))
        .map_err(|_| ScriptError::ExponentSize)?
        .rem_vartime(&nonzero);
    let e = BoxedUint::from_be_slice(
        exponent,
        (exponent.len().max(1) * 8).next_multiple_of(64) as u32,
    )
    .map_err(|_| ScriptError::ExponentSize)?;
    let params = BoxedMontyParams::new(odd);
    let result = BoxedMontyForm::new(reduced, &params).pow(&e).retrieve();
    let bytes = result.to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    Ok(bytes[first..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_wider_than_the_modulus_is_reduced_first() {
        // 512 bytes of 0xff mod 7: 2^4096 - 1 = (2^3)^1365 * 2 - 1 = 2 - 1 = 1 (mod 7).
        let base = [0xff; MAX_OPERAND_BYTES];
        assert_eq!(modpow(&base, &[1], &[7]).unwrap(), vec![1]);
        assert_eq!(
            modpow(&base, &[0xab; 64], &[7]).unwrap(),
            modpow(&[1], &[0xab; 64], &[7]).unwrap()
        );
        // Charged by the modulus and exponent alone: the work follows them.
        assert_eq!(cost(&[7], &[1]), 2);
    }

    #[test]
    fn known_values_and_refusals() {
        assert_eq!(modpow(&[2], &[11], &[23]).unwrap(), vec![1]); // 2048 = 89 x 23 + 1
        assert_eq!(modpow(&[3], &[4], &[0x65]).unwrap(), vec![81]);
        assert_eq!(
            modpow(&[0], &[5], &[7]).unwrap(),
            Vec::<u8>::new(),
            "zero is empty"
        );
        assert_eq!(modpow(&[5], &[], &[7]).unwrap(), vec![1], "x^0 = 1");
        assert_eq!(
            modpow(&[0x1f, 0x40], &[1], &[7]).unwrap(),
            vec![(0x1f40 % 7) as u8],
            "base reduced"
        );
        assert_eq!(modpow(&[2], &[3], &[]), Err(ScriptError::ExponentModulus));
        assert_eq!(modpow(&[2], &[3], &[1]), Err(ScriptError::ExponentModulus));
        assert_eq!(modpow(&[2], &[3], &[8]), Err(ScriptError::ExponentModulus));
        assert_eq!(
            modpow(&[2], &[0; 513], &[7]),
            Err(ScriptError::ExponentSize)
        );
        assert_eq!(cost(&[0; 256], &[0; 256]), 5);
        assert_eq!(cost(&[0; 384], &[0; 384]), 15);
        assert_eq!(cost(&[0; 512], &[0; 512]), 33);
    }
}
