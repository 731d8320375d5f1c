//! The value channel's number form (Chen et al. 4.1): a share written in base 10^8, one
//! digit per output amount, so every amount is below one coin (`0.dddddddd`), most
//! significant digit first, in output order.

use vkm_block::Amount;

/// One digit's base: an amount below one coin.
pub const DIGIT_BASE: u64 = Amount::COIN;

/// How many outputs a share of `len` bytes needs: `ceil(8 len / log2(10^8))`.
pub fn digits_for(len: usize) -> usize {
    // 10^8 > 2^26.5, so 26.57 bits per digit; integer arithmetic: count until 10^(8k)
    // exceeds 256^len.
    let bits = 8 * len as u64;
    // log2(10^8) = 26.5754..., scaled by 10^4.
    (bits * 10_000).div_ceil(265_754) as usize
}

/// The digits of the big-endian number `bytes` in base 10^8, most significant first,
/// exactly `count` of them; `None` if the number needs more.
pub fn to_amounts(bytes: &[u8], count: usize) -> Option<Vec<Amount>> {
    let mut number: Vec<u32> = bytes
        .rchunks(4)
        .rev()
        .map(|c| c.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)))
        .collect();
    let mut digits = Vec::with_capacity(count);
    for _ in 0..count {
        // Divide the big-endian base-2^32 number by 10^8 in place; keep the remainder.
        let mut remainder = 0u64;
        for limb in number.iter_mut() {
            let value = remainder << 32 | u64::from(*limb);
            *limb = (value / DIGIT_BASE) as u32;
            remainder = value % DIGIT_BASE;
        }
        digits.push(Amount(remainder));
    }
    if number.iter().any(|limb| *limb != 0) {
        return None;
    }
    digits.reverse();
    Some(digits)
}

/// The `len`-byte big-endian number whose base-10^8 digits are `amounts` (most
/// significant first); `None` if a digit is not below 10^8 or the number does not fit
/// `len` bytes.
pub fn from_amounts(amounts: &[Amount], len: usize) -> Option<Vec<u8>> {
    if amounts.iter().any(|a| a.0 >= DIGIT_BASE) {
        return None;
    }
    let mut number = vec![0u8; len];
    for digit in amounts {
        // number = number * 10^8 + digit, little carries from the right.
        let mut carry = digit.0;
        for byte in number.iter_mut().rev() {
            let value = u64::from(*byte) * DIGIT_BASE + carry;
            *byte = (value & 0xff) as u8;
            carry = value >> 8;
        }
        if carry != 0 {
            return None;
        }
    }
    Some(number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn output_counts_for_each_group() {
        assert_eq!(digits_for(4), 2); // the paper's group: p < 10^8 fits 4 bytes
        assert_eq!(digits_for(33), 10); // P-256 compressed point
        assert_eq!(digits_for(256), 78); // ffdhe2048
        assert_eq!(digits_for(384), 116); // ffdhe3072
        // The count is the smallest that holds every value of the length.
        for len in 1..64usize {
            let n = digits_for(len) as u32;
            let bits = 8.0 * len as f64;
            assert!(f64::from(n) * 1e8f64.log2() >= bits);
            assert!(f64::from(n - 1) * 1e8f64.log2() < bits);
        }
    }

    #[test]
    fn the_papers_form_is_one_amount_per_small_share() {
        let amounts = to_amounts(&12_345_678u32.to_be_bytes(), 1).unwrap();
        assert_eq!(amounts, vec![Amount(12_345_678)]);
        assert_eq!(amounts[0].to_string(), "0.12345678");
        assert_eq!(to_amounts(&100_000_000u32.to_be_bytes(), 1), None);
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 1..400)) {
            let amounts = to_amounts(&bytes, digits_for(bytes.len())).unwrap();
            prop_assert!(amounts.iter().all(|a| a.0 < DIGIT_BASE));
            prop_assert_eq!(from_amounts(&amounts, bytes.len()), Some(bytes));
        }

        #[test]
        fn refuses_digits_of_a_coin_or_more(len in 1usize..64, at in 0usize..10, extra in 0u64..1000) {
            let mut amounts = to_amounts(&vec![0xff; len], digits_for(len)).unwrap();
            let at = at % amounts.len();
            amounts[at] = Amount(DIGIT_BASE + extra);
            prop_assert_eq!(from_amounts(&amounts, len), None);
        }
    }
}
