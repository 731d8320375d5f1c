//! OP_EXPONENT: known values, RFC 7919 groups checked against a second implementation
//! (`num-bigint`), refusals, and the operation budget.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use num_bigint::BigUint;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vkm_script::asm::{push_data, push_number};
use vkm_script::opcode::op;
use vkm_script::{Flags, NoSignatures, ScriptError, asm, eval, exponent, verify};

/// RFC 7919 ffdhe2048 prime (derived from the RFC's formula; generator 2).
const FFDHE2048: &str = "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b423861285c97ffffffffffffffff";
/// RFC 7919 ffdhe3072 prime.
const FFDHE3072: &str = "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b4238611fcfdcde355b3b6519035bbc34f4def99c023861b46fc9d6e6c9077ad91d2691f7f7ee598cb0fac186d91caefe130985139270b4130c93bc437944f4fd4452e2d74dd364f2e21e71f54bff5cae82ab9c9df69ee86d2bc522363a0dabc521979b0deada1dbf9a42d5c4484e0abcd06bfa53ddef3c1b20ee3fd59d7c25e41d2b66c62e37ffffffffffffffff";

fn prime(hex_text: &str) -> Vec<u8> {
    hex::decode(hex_text).unwrap()
}

fn minimal(n: &BigUint) -> Vec<u8> {
    if *n == BigUint::ZERO {
        Vec::new()
    } else {
        n.to_bytes_be()
    }
}

fn run(script: &[u8]) -> Result<Vec<Vec<u8>>, ScriptError> {
    let mut stack = Vec::new();
    eval(script, &mut stack, &NoSignatures)?;
    Ok(stack)
}

fn exponent_script(base: &[u8], exponent: &[u8], modulus: &[u8]) -> Vec<u8> {
    let mut script = Vec::new();
    for item in [base, exponent, modulus] {
        push_data(&mut script, item);
    }
    script.push(op::OP_EXPONENT);
    script
}

#[test]
fn known_value_through_a_script() {
    let locking = asm::parse("23 EXPONENT 1 EQUAL").unwrap();
    assert!(
        verify(
            &asm::parse("2 11").unwrap(),
            &locking,
            Flags::default(),
            &NoSignatures
        )
        .is_ok()
    );
    assert_eq!(
        verify(
            &asm::parse("2 12").unwrap(),
            &locking,
            Flags::default(),
            &NoSignatures
        ),
        Err(ScriptError::EvalFalse)
    );
}

#[test]
fn rfc7919_powers_match_a_second_implementation() {
    let mut rng = StdRng::seed_from_u64(7919);
    for (p_hex, rounds) in [(FFDHE2048, 6), (FFDHE3072, 3)] {
        let p_bytes = prime(p_hex);
        let p = BigUint::from_bytes_be(&p_bytes);
        for _ in 0..rounds {
            let mut e = vec![0u8; p_bytes.len()];
            rng.fill_bytes(&mut e);
            let mut b = vec![0u8; p_bytes.len() / 2];
            rng.fill_bytes(&mut b);
            for base in [vec![2u8], b] {
                let expected =
                    minimal(&BigUint::from_bytes_be(&base).modpow(&BigUint::from_bytes_be(&e), &p));
                assert_eq!(
                    run(&exponent_script(&base, &e, &p_bytes)).unwrap(),
                    vec![expected.clone()]
                );
                assert_eq!(exponent::modpow(&base, &e, &p_bytes).unwrap(), expected);
            }
        }
        // The generator 2 lies in the subgroup of prime order q = (p - 1) / 2: 2^q = 1.
        let q = minimal(&((&p - 1u32) >> 1));
        assert_eq!(
            run(&exponent_script(&[2], &q, &p_bytes)).unwrap(),
            vec![vec![1]]
        );
    }
}

#[test]
fn bad_moduli_and_oversized_operands_are_refused() {
    for modulus in [vec![], vec![0], vec![1], vec![0x10], vec![0x01, 0x00]] {
        assert_eq!(
            run(&exponent_script(&[3], &[5], &modulus)),
            Err(ScriptError::ExponentModulus),
            "{modulus:?}"
        );
    }
    // Operands above 512 bytes cannot even be pushed (520-byte elements are, 513 are not
    // allowed by OP_EXPONENT): build them on the stack with a raw push of 513 bytes.
    let mut script = Vec::new();
    script.push(op::OP_PUSHDATA2);
    script.extend_from_slice(&513u16.to_le_bytes());
    script.extend(vec![1u8; 513]);
    push_number(&mut script, 5);
    push_number(&mut script, 7);
    script.push(op::OP_EXPONENT);
    assert_eq!(run(&script), Err(ScriptError::ExponentSize));
    assert_eq!(
        run(&asm::parse("2 3 EXPONENT").unwrap()),
        Err(ScriptError::InvalidStackOperation)
    );
}

#[test]
fn cost_is_charged_to_the_operation_budget() {
    let p = prime(FFDHE2048);
    let cost = exponent::cost(&p, &p);
    assert_eq!(cost, 5);
    // g e p, then n times "3DUP EXPONENT DROP" (1 + cost + 1 operations each).
    let script = |n: usize| {
        let mut s = Vec::new();
        push_data(&mut s, &[2]);
        push_data(&mut s, &p);
        push_data(&mut s, &p);
        for _ in 0..n {
            s.extend_from_slice(&[op::OP_3DUP, op::OP_EXPONENT, op::OP_DROP]);
        }
        s
    };
    let per_round = 2 + cost;
    let fits = 201 / per_round;
    assert!(run(&script(fits)).is_ok());
    assert_eq!(run(&script(fits + 1)), Err(ScriptError::OpCount));
}
