//! The paper's demonstration group (Chen et al. 4.1, Algorithms 1-2): a random prime below
//! 10^8, so shares fit the value channel's 8-digit amounts, and a random generator. Its
//! discrete logarithms fall in milliseconds ([`baby_step_giant_step`]); it exists only to
//! show that, under a name that says so (`docs/deviations.md`, decision 7).

use std::collections::HashMap;

use rand::{CryptoRng, RngExt};

/// Largest modulus of the paper's group: shares must be amounts below one coin (8 digits).
pub const PAPER_MODULUS_LIMIT: u64 = 100_000_000;

/// The paper's 8-digit group. Insecure: for demonstrations and the attack only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsecurePaperGroup {
    /// The prime modulus, below 10^8.
    pub p: u64,
    /// The generator.
    pub g: u64,
}

fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    ((u128::from(a) * u128::from(b)) % u128::from(m)) as u64
}

/// `base^exponent mod m` on small numbers.
pub fn pow_mod(mut base: u64, mut exponent: u64, m: u64) -> u64 {
    let mut result = 1 % m;
    base %= m;
    while exponent > 0 {
        if exponent & 1 == 1 {
            result = mul_mod(result, base, m);
        }
        base = mul_mod(base, base, m);
        exponent >>= 1;
    }
    result
}

fn is_small_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

impl InsecurePaperGroup {
    /// Algorithms 1-2 as the paper states them: draw random numbers until one below 10^8
    /// is prime, then a random generator `g mod p` (redrawn while it is 0 or 1).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let p = loop {
            let candidate = rng.random_range(1_000_000..PAPER_MODULUS_LIMIT);
            if is_small_prime(candidate) {
                break candidate;
            }
        };
        let g = loop {
            let g = rng.random_range(2..p - 1);
            if g > 1 {
                break g;
            }
        };
        Self { p, g }
    }

    /// Checks received parameters of the paper's form: `p` a prime below 10^8 and
    /// `1 < g < p-1`. (Nothing can make this group safe; this only refuses nonsense.)
    pub fn validate(p: u64, g: u64) -> Result<Self, crate::GroupError> {
        if !(5..PAPER_MODULUS_LIMIT).contains(&p) || !is_small_prime(p) {
            return Err(crate::GroupError::NotSafePrime);
        }
        if g <= 1 || g >= p - 1 {
            return Err(crate::GroupError::BadGenerator);
        }
        Ok(Self { p, g })
    }

    /// A secret exponent in `[1, p-1)` and its share `g^a mod p`.
    pub fn keypair<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> (u64, u64) {
        let a = rng.random_range(1..self.p - 1);
        (a, pow_mod(self.g, a, self.p))
    }

    /// The master key `B^a mod p`.
    pub fn agree(&self, secret: u64, peer_share: u64) -> u64 {
        pow_mod(peer_share, secret, self.p)
    }
}

/// Recovers `x` with `g^x = h mod p` by baby-step giant-step, in about `sqrt(p)` steps:
/// for the paper's 8-digit groups, about 10^4 steps.
pub fn baby_step_giant_step(p: u64, g: u64, h: u64) -> Option<u64> {
    let m = (p as f64).sqrt().ceil() as u64 + 1;
    let mut baby = HashMap::with_capacity(m as usize);
    let mut value = 1u64;
    for j in 0..m {
        baby.entry(value).or_insert(j);
        value = mul_mod(value, g, p);
    }
    // g^(-m) = g^(p-1-m) by Fermat.
    let factor = pow_mod(g, p - 1 - (m % (p - 1)), p);
    let mut gamma = h % p;
    for i in 0..m {
        if let Some(j) = baby.get(&gamma) {
            return Some(i * m + j);
        }
        gamma = mul_mod(gamma, factor, p);
    }
    None
}
