//! Diffie-Hellman groups: RFC 7919's ffdhe2048 and ffdhe3072, ECDH on P-256, and the
//! paper's 8-digit demonstration group, which exists only as [`InsecurePaperGroup`]
//! (reading guide 7). Everything received is validated before use (reading guide 9).

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, NonZero, Odd, RandomMod};
use crypto_primes::{Flavor, is_prime};
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use rand::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// RFC 7919 ffdhe2048 prime, big-endian hex (generator 2).
const FFDHE2048_P: &str = "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b423861285c97ffffffffffffffff";
/// RFC 7919 ffdhe3072 prime, big-endian hex (generator 2).
const FFDHE3072_P: &str = "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b4238611fcfdcde355b3b6519035bbc34f4def99c023861b46fc9d6e6c9077ad91d2691f7f7ee598cb0fac186d91caefe130985139270b4130c93bc437944f4fd4452e2d74dd364f2e21e71f54bff5cae82ab9c9df69ee86d2bc522363a0dabc521979b0deada1dbf9a42d5c4484e0abcd06bfa53ddef3c1b20ee3fd59d7c25e41d2b66c62e37ffffffffffffffff";

/// Moduli sizes, in bits, a finite-field group may have.
pub const ACCEPTED_BITS: [u32; 3] = [2048, 3072, 4096];

/// Why group parameters or a share are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The modulus is not of an accepted size.
    #[error("modulus of {0} bits; accepted: 2048, 3072, 4096")]
    ModulusSize(u32),
    /// The modulus is not a safe prime.
    #[error("modulus is not a safe prime")]
    NotSafePrime,
    /// The generator is out of range or does not generate the prime-order subgroup.
    #[error("generator does not generate the subgroup of order q")]
    BadGenerator,
    /// A share is 0, 1, p-1, at least p, or outside the prime-order subgroup.
    #[error("share outside the prime-order subgroup")]
    BadShare,
    /// A P-256 share is not a point on the curve.
    #[error("share is not a P-256 point")]
    BadPoint,
}

/// A master key: the Diffie-Hellman result. Zeroized on drop; never printed; compared in
/// constant time.
#[derive(Clone, Zeroize, zeroize::ZeroizeOnDrop)]
pub struct MasterKey(Vec<u8>);

impl MasterKey {
    /// The key bytes (for key derivation).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl PartialEq for MasterKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for MasterKey {}

/// A validated finite-field group: `p` a safe prime of an accepted size, `q = (p-1)/2`,
/// and `g` generating the subgroup of order `q`. Only [`FiniteFieldGroup::validate`]
/// and the RFC 7919 constructors make one.
#[derive(Debug, Clone)]
pub struct FiniteFieldGroup {
    params: BoxedMontyParams,
    p: BoxedUint,
    q: NonZero<BoxedUint>,
    g: BoxedUint,
    bits: u32,
}

/// A secret exponent, zeroized on drop.
pub struct SecretExponent(Zeroizing<BoxedUint>);

impl core::fmt::Debug for SecretExponent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretExponent(..)")
    }
}

fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .filter_map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
        .collect()
}

fn trimmed(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

impl FiniteFieldGroup {
    /// RFC 7919 ffdhe2048 (validated).
    pub fn ffdhe2048() -> Result<Self, GroupError> {
        Self::validate(&from_hex(FFDHE2048_P), &[2])
    }

    /// RFC 7919 ffdhe3072 (validated).
    pub fn ffdhe3072() -> Result<Self, GroupError> {
        Self::validate(&from_hex(FFDHE3072_P), &[2])
    }

    /// Validates received parameters (unsigned big-endian): `p` a safe prime of an
    /// accepted size, `1 < g < p-1` with `g^q = 1 mod p`.
    pub fn validate(p: &[u8], g: &[u8]) -> Result<Self, GroupError> {
        let p_bytes = trimmed(p);
        let bits = (p_bytes.len() * 8) as u32;
        if !ACCEPTED_BITS.contains(&bits) || p_bytes.first().is_none_or(|b| b & 0x80 == 0) {
            return Err(GroupError::ModulusSize(
                bits.saturating_sub(p_bytes.first().map_or(8, |b| b.leading_zeros())),
            ));
        }
        let p =
            BoxedUint::from_be_slice(p_bytes, bits).map_err(|_| GroupError::ModulusSize(bits))?;
        if !is_prime(Flavor::Safe, &p) {
            return Err(GroupError::NotSafePrime);
        }
        let odd =
            Option::<Odd<BoxedUint>>::from(Odd::new(p.clone())).ok_or(GroupError::NotSafePrime)?;
        let params = BoxedMontyParams::new(odd);
        let q = p
            .shr_vartime(1)
            .unwrap_or_else(|| BoxedUint::zero_with_precision(bits));
        let q =
            Option::<NonZero<BoxedUint>>::from(NonZero::new(q)).ok_or(GroupError::NotSafePrime)?;
        let g_bytes = trimmed(g);
        if g_bytes.len() > p_bytes.len() {
            return Err(GroupError::BadGenerator);
        }
        let g = BoxedUint::from_be_slice(g_bytes, bits).map_err(|_| GroupError::BadGenerator)?;
        let group = Self {
            params,
            p,
            q,
            g,
            bits,
        };
        group
            .check_element(&group.g)
            .map_err(|_| GroupError::BadGenerator)?;
        Ok(group)
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The modulus, big-endian.
    pub fn p_bytes(&self) -> Vec<u8> {
        self.p.to_be_bytes().to_vec()
    }

    /// The generator, minimal big-endian.
    pub fn g_bytes(&self) -> Vec<u8> {
        trimmed(&self.g.to_be_bytes()).to_vec()
    }

    fn pow(&self, base: &BoxedUint, exponent: &BoxedUint) -> BoxedUint {
        BoxedMontyForm::new(base.clone(), &self.params)
            .pow(exponent)
            .retrieve()
    }

    /// `1 < x < p-1` and `x^q = 1`: an element of the prime-order subgroup other than 1.
    fn check_element(&self, x: &BoxedUint) -> Result<(), GroupError> {
        let one = BoxedUint::one_with_precision(self.bits);
        let p_minus_one = self.p.wrapping_sub(&one);
        if x <= &one || x >= &p_minus_one {
            return Err(GroupError::BadShare);
        }
        if self.pow(x, self.q.as_ref()) != one {
            return Err(GroupError::BadShare);
        }
        Ok(())
    }

    /// Validates a received share `B` (unsigned big-endian).
    pub fn validate_share(&self, share: &[u8]) -> Result<BoxedUint, GroupError> {
        let share = trimmed(share);
        if share.len() > (self.bits / 8) as usize {
            return Err(GroupError::BadShare);
        }
        let b = BoxedUint::from_be_slice(share, self.bits).map_err(|_| GroupError::BadShare)?;
        self.check_element(&b)?;
        Ok(b)
    }

    /// A fresh secret exponent in `[1, q)` and its public share `g^a mod p` (minimal
    /// big-endian).
    pub fn keypair<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> (SecretExponent, Vec<u8>) {
        let mut a = BoxedUint::random_mod_vartime(rng, &self.q);
        if bool::from(a.is_zero()) {
            a = BoxedUint::one_with_precision(self.bits);
        }
        let share = self.pow(&self.g, &a);
        (
            SecretExponent(Zeroizing::new(a)),
            trimmed(&share.to_be_bytes()).to_vec(),
        )
    }

    /// The master key `B^a mod p` (constant-time exponentiation), after validating `B`.
    pub fn agree(
        &self,
        secret: &SecretExponent,
        peer_share: &[u8],
    ) -> Result<MasterKey, GroupError> {
        let b = self.validate_share(peer_share)?;
        let shared = Zeroizing::new(self.pow(&b, &secret.0).to_be_bytes());
        Ok(MasterKey(shared.to_vec()))
    }
}

/// ECDH on P-256: shares are compressed SEC1 points, validated on receipt.
#[derive(Debug, Clone, Copy, Default)]
pub struct P256Group;

impl P256Group {
    /// A fresh secret and its share (compressed SEC1).
    pub fn keypair<R: CryptoRng + ?Sized>(rng: &mut R) -> (p256::SecretKey, Vec<u8>) {
        let secret = p256::SecretKey::generate_from_rng(rng);
        let share = secret.public_key().to_sec1_point(true).as_bytes().to_vec();
        (secret, share)
    }

    /// The master key: the x-coordinate of `secret * B`, after validating `B`.
    pub fn agree(secret: &p256::SecretKey, peer_share: &[u8]) -> Result<MasterKey, GroupError> {
        let peer =
            p256::PublicKey::from_sec1_bytes(peer_share).map_err(|_| GroupError::BadPoint)?;
        let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
        Ok(MasterKey(shared.raw_secret_bytes().to_vec()))
    }
}
