//! Diffie-Hellman groups: RFC 7919's ffdhe2048 and ffdhe3072, ECDH on P-256, and the
//! paper's 8-digit demonstration group, which exists only as [`InsecurePaperGroup`](crate::InsecurePaperGroup)
//! (`docs/deviations.md`, decision 7). Everything received is validated before use (`docs/deviations.md`, decision 9).

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, JacobiSymbol, NonZero, Odd, RandomBits, U2048, U3072, U4096, Uint};
use crypto_primes::{Flavor, is_prime};
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use rand::CryptoRng;
use subtle::ConstantTimeEq;
use vkm_transfer::backend::{EcdhPeer, EcdhSecret};
use zeroize::{Zeroize, Zeroizing};

/// RFC 7919 ffdhe2048 prime, big-endian hex (generator 2).
const FFDHE2048_P: &str = "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b423861285c97ffffffffffffffff";
/// RFC 7919 ffdhe3072 prime, big-endian hex (generator 2).
const FFDHE3072_P: &str = "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b4238611fcfdcde355b3b6519035bbc34f4def99c023861b46fc9d6e6c9077ad91d2691f7f7ee598cb0fac186d91caefe130985139270b4130c93bc437944f4fd4452e2d74dd364f2e21e71f54bff5cae82ab9c9df69ee86d2bc522363a0dabc521979b0deada1dbf9a42d5c4484e0abcd06bfa53ddef3c1b20ee3fd59d7c25e41d2b66c62e37ffffffffffffffff";

/// Bits of a secret exponent in a finite-field group of `modulus_bits`: twice the
/// group's security strength, the lengths RFC 7919 section 5.2 gives (225, 275 and 325
/// bits for ffdhe2048, 3072 and 4096) and OpenSSL uses for these groups. `g` generates
/// the prime-order subgroup, so short exponents lose nothing to small subgroups, and an
/// exponentiation costs 225 squarings instead of 2,047.
pub fn exponent_bits(modulus_bits: u32) -> u32 {
    if modulus_bits <= 2048 {
        225
    } else if modulus_bits <= 3072 {
        275
    } else {
        325
    }
}

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
    /// Parameters that do not parse.
    #[error("malformed group parameters")]
    Malformed,
    /// The paper's insecure group where it was not chosen explicitly.
    #[error("the paper's insecure group is refused unless chosen explicitly")]
    InsecureRefused,
    /// A name that is no group.
    #[error("unknown group (expected ffdhe2048, ffdhe3072 or p256)")]
    UnknownGroup,
    /// A secret of another group.
    #[error("the secret belongs to another group")]
    WrongSecret,
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

/// Whether the Jacobi symbol `(x / p)` is 1, in fixed-size arithmetic of `L` limbs;
/// `None` if the numbers do not fit.
fn jacobi_is_one<const L: usize>(x: &BoxedUint, p: &BoxedUint) -> Option<bool> {
    let (x, p) = (x.to_be_bytes(), p.to_be_bytes());
    if x.len() != Uint::<L>::BYTES || p.len() != Uint::<L>::BYTES {
        return None;
    }
    let x = Uint::<L>::from_be_slice(&x);
    let p = Option::<Odd<Uint<L>>>::from(Odd::new(Uint::<L>::from_be_slice(&p)))?;
    Some(matches!(x.jacobi_symbol_vartime(&p), JacobiSymbol::One))
}

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

    /// The subgroup order `q = (p-1)/2`, big-endian.
    pub fn q_bytes(&self) -> Vec<u8> {
        trimmed(&self.q.as_ref().to_be_bytes()).to_vec()
    }

    /// The generator, minimal big-endian.
    pub fn g_bytes(&self) -> Vec<u8> {
        trimmed(&self.g.to_be_bytes()).to_vec()
    }

    /// `base^exponent mod p`, in time that depends only on `exponent_bits` (the
    /// exponent's length, public), never on its value.
    fn pow(&self, base: &BoxedUint, exponent: &BoxedUint, exponent_bits: u32) -> BoxedUint {
        BoxedMontyForm::new(base.clone(), &self.params)
            .pow_bounded_exp(exponent, exponent_bits)
            .retrieve()
    }

    /// `1 < x < p-1` and `x^q = 1`: an element of the prime-order subgroup other than 1.
    fn check_element(&self, x: &BoxedUint) -> Result<(), GroupError> {
        let one = BoxedUint::one_with_precision(self.bits);
        let p_minus_one = self.p.wrapping_sub(&one);
        if x <= &one || x >= &p_minus_one {
            return Err(GroupError::BadShare);
        }
        // Euler's criterion: for the safe prime p, x^q = 1 exactly when x is a quadratic
        // residue, i.e. its Jacobi symbol is 1; the symbol costs a gcd-like loop instead
        // of a 2,047-bit exponentiation. (x and p are public: variable time is fine.)
        let residue = match self.bits {
            2048 => jacobi_is_one::<{ U2048::LIMBS }>(x, &self.p),
            3072 => jacobi_is_one::<{ U3072::LIMBS }>(x, &self.p),
            4096 => jacobi_is_one::<{ U4096::LIMBS }>(x, &self.p),
            _ => None,
        };
        let residue = residue.unwrap_or_else(|| self.pow(x, self.q.as_ref(), self.bits) == one);
        if !residue {
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

    /// A fresh secret exponent of [`exponent_bits`] bits (non-zero, below `q`) and its
    /// public share `g^a mod p` (minimal big-endian).
    pub fn keypair<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> (SecretExponent, Vec<u8>) {
        let bits = exponent_bits(self.bits);
        let mut a = BoxedUint::random_bits(rng, bits);
        if bool::from(a.is_zero()) {
            a = BoxedUint::one_with_precision(bits);
        }
        let share = self.pow(&self.g, &a, bits);
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
        Ok(self.agree_valid(secret, &b))
    }

    /// `b^a mod p` for a share `b` already validated by this group.
    fn agree_valid(&self, secret: &SecretExponent, b: &BoxedUint) -> MasterKey {
        let shared = Zeroizing::new(
            self.pow(b, &secret.0, exponent_bits(self.bits))
                .to_be_bytes(),
        );
        MasterKey(shared.to_vec())
    }
}

/// ECDH on P-256: shares are compressed SEC1 points, validated on receipt.
#[derive(Debug, Clone, Copy, Default)]
pub struct P256Group;

/// A P-256 secret scalar, prepared once for the selected backend
/// (`vkm_transfer::backend`: AWS-LC by default), so that an agreement is one scalar
/// multiplication. Zeroized on drop (RustCrypto's key; AWS-LC cleanses its memory when it
/// frees a key); never printed.
pub struct P256Secret {
    scalar: p256::SecretKey,
    prepared: Option<EcdhSecret>,
}

impl P256Secret {
    /// Wraps a secret key.
    pub fn new(scalar: p256::SecretKey) -> Self {
        let prepared = EcdhSecret::new(&scalar.to_nonzero_scalar());
        Self { scalar, prepared }
    }

    /// The public share: the compressed SEC1 point `a * G`.
    pub fn share(&self) -> Vec<u8> {
        self.scalar
            .public_key()
            .to_sec1_point(true)
            .as_bytes()
            .to_vec()
    }
}

impl core::fmt::Debug for P256Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("P256Secret(..)")
    }
}

impl P256Group {
    /// A fresh secret and its share (compressed SEC1).
    pub fn keypair<R: CryptoRng + ?Sized>(rng: &mut R) -> (P256Secret, Vec<u8>) {
        let secret = P256Secret::new(p256::SecretKey::generate_from_rng(rng));
        let share = secret.share();
        (secret, share)
    }

    /// The master key: the x-coordinate of `secret * B`. The share (compressed or not) is
    /// refused unless it is a point of the curve other than the identity.
    pub fn agree(secret: &P256Secret, peer_share: &[u8]) -> Result<MasterKey, GroupError> {
        Self::agree_parsed(secret, &parse_p256_share(peer_share)?, peer_share)
    }

    /// The master key from a share already parsed and checked (`bytes` is its SEC1 form,
    /// for `p256` should the backend refuse a valid key).
    fn agree_parsed(
        secret: &P256Secret,
        peer: &EcdhPeer,
        bytes: &[u8],
    ) -> Result<MasterKey, GroupError> {
        let shared = match &secret.prepared {
            Some(key) => key.agree(peer),
            None => vkm_transfer::seal::ieee1609::p256_shared_x_sec1(
                &secret.scalar.to_nonzero_scalar(),
                bytes,
            ),
        };
        let shared = shared.ok_or(GroupError::BadPoint)?;
        Ok(MasterKey(shared.to_vec()))
    }
}

/// A P-256 share parsed by the backend: a point of the curve other than the identity.
fn parse_p256_share(share: &[u8]) -> Result<EcdhPeer, GroupError> {
    EcdhPeer::parse(share).ok_or(GroupError::BadPoint)
}

/// A received share that passed its group's validation ([`Group::validate_share`] makes
/// it, and nothing else): what [`Group::agree`] takes, so that agreeing never skips the
/// checks and never repeats them.
#[derive(Clone)]
pub struct ValidShare {
    bytes: Vec<u8>,
    value: ShareValue,
}

#[derive(Clone)]
enum ShareValue {
    FiniteField(BoxedUint),
    P256(EcdhPeer),
    Insecure(u64),
}

impl ValidShare {
    /// The share in its group's fixed-length form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl core::fmt::Debug for ValidShare {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("ValidShare")
            .field(&self.bytes.len())
            .finish()
    }
}

/// A validated Diffie-Hellman group of any kind vkm negotiates in: what the parties read
/// from the published system parameters.
#[derive(Debug, Clone)]
pub enum Group {
    /// A finite-field group (RFC 7919 or validated parameters).
    FiniteField(FiniteFieldGroup),
    /// ECDH on P-256.
    P256,
    /// The paper's 8-digit group: insecure, for demonstrations only.
    InsecurePaper(crate::insecure::InsecurePaperGroup),
}

/// A secret of any group, zeroized on drop, never printed.
pub enum Secret {
    /// A finite-field exponent.
    Exponent(SecretExponent),
    /// A P-256 scalar.
    P256(P256Secret),
    /// An exponent of the paper's group.
    Insecure(Zeroizing<u64>),
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Parameter-encoding tags.
const KIND_FINITE_FIELD: u8 = 1;
const KIND_P256: u8 = 2;
const KIND_INSECURE: u8 = 0xee;

fn padded(bytes: &[u8], len: usize) -> Result<Vec<u8>, GroupError> {
    let bytes = trimmed(bytes);
    if bytes.len() > len {
        return Err(GroupError::BadShare);
    }
    let mut out = vec![0u8; len - bytes.len()];
    out.extend_from_slice(bytes);
    Ok(out)
}

impl Group {
    /// The group by its command-line name: `ffdhe2048`, `ffdhe3072`, `p256`; the paper's
    /// group (`paper-insecure`) is generated by [`crate::InsecurePaperGroup::generate`]
    /// instead, so it is never picked by accident.
    pub fn named(name: &str) -> Result<Self, GroupError> {
        match name {
            "ffdhe2048" => Ok(Self::FiniteField(FiniteFieldGroup::ffdhe2048()?)),
            "ffdhe3072" => Ok(Self::FiniteField(FiniteFieldGroup::ffdhe3072()?)),
            "p256" => Ok(Self::P256),
            _ => Err(GroupError::UnknownGroup),
        }
    }

    /// The group's name: `ffdhe2048`, `ffdhe3072`, `ffdhe4096`, `p256` or
    /// `paper-insecure`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::FiniteField(g) => match g.bits() {
                2048 => "ffdhe2048",
                3072 => "ffdhe3072",
                _ => "ffdhe4096",
            },
            Self::P256 => "p256",
            Self::InsecurePaper(_) => "paper-insecure",
        }
    }

    /// Whether this is the paper's insecure group.
    pub fn is_insecure(&self) -> bool {
        matches!(self, Self::InsecurePaper(_))
    }

    /// Bytes of a share in its fixed-length form (big-endian, zero-padded; compressed
    /// SEC1 for P-256).
    pub fn share_len(&self) -> usize {
        match self {
            Self::FiniteField(g) => (g.bits() / 8) as usize,
            Self::P256 => 33,
            Self::InsecurePaper(_) => 4,
        }
    }

    /// Outputs a share takes in the value channel: one 8-digit amount for the paper's
    /// group (its literal form), otherwise as many as base 10^8 needs.
    pub fn share_digits(&self) -> usize {
        match self {
            Self::InsecurePaper(_) => 1,
            _ => crate::digits::digits_for(self.share_len()),
        }
    }

    /// The modulus and generator as messages carry them (big-endian; for P-256 the field
    /// prime and the compressed generator).
    pub fn p_and_g(&self) -> (Vec<u8>, Vec<u8>) {
        match self {
            Self::FiniteField(g) => (g.p_bytes(), g.g_bytes()),
            Self::P256 => (
                from_hex(P256_FIELD_PRIME),
                p256::AffinePoint::GENERATOR
                    .to_sec1_point(true)
                    .as_bytes()
                    .to_vec(),
            ),
            Self::InsecurePaper(g) => (
                (g.p as u32).to_be_bytes().to_vec(),
                (g.g as u32).to_be_bytes().to_vec(),
            ),
        }
    }

    /// The encoding published on the chain as system parameters: a kind byte, then
    /// `p` and `g` each with a 2-byte big-endian length.
    pub fn encode(&self) -> Vec<u8> {
        let kind = match self {
            Self::FiniteField(_) => KIND_FINITE_FIELD,
            Self::P256 => KIND_P256,
            Self::InsecurePaper(_) => KIND_INSECURE,
        };
        let (p, g) = self.p_and_g();
        let mut out = vec![kind];
        for part in [&p, &g] {
            out.extend_from_slice(&(part.len() as u16).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    /// Reads and validates published parameters ([`Group::encode`]'s form): a safe prime
    /// of an accepted size and a generator of its prime-order subgroup, P-256's own
    /// constants, or the paper's group (a prime below 10^8), which is accepted only when
    /// `allow_insecure` says the caller chose it explicitly.
    pub fn decode(bytes: &[u8], allow_insecure: bool) -> Result<Self, GroupError> {
        let (&kind, mut rest) = bytes.split_first().ok_or(GroupError::Malformed)?;
        let mut take = || -> Result<&[u8], GroupError> {
            if rest.len() < 2 {
                return Err(GroupError::Malformed);
            }
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let part = rest.get(2..2 + len).ok_or(GroupError::Malformed)?;
            rest = &rest[2 + len..];
            Ok(part)
        };
        let p = take()?;
        let g = take()?;
        if !rest.is_empty() {
            return Err(GroupError::Malformed);
        }
        let group = match kind {
            KIND_FINITE_FIELD => Self::FiniteField(FiniteFieldGroup::validate(p, g)?),
            KIND_P256 => Self::P256,
            KIND_INSECURE if allow_insecure => {
                let p = trimmed(p);
                let g = trimmed(g);
                if p.len() > 4 || g.len() > 4 {
                    return Err(GroupError::Malformed);
                }
                let num = |b: &[u8]| b.iter().fold(0u64, |n, d| n << 8 | u64::from(*d));
                Self::InsecurePaper(crate::insecure::InsecurePaperGroup::validate(
                    num(p),
                    num(g),
                )?)
            }
            KIND_INSECURE => return Err(GroupError::InsecureRefused),
            _ => return Err(GroupError::Malformed),
        };
        if group.p_and_g() != (p.to_vec(), g.to_vec()) {
            return Err(GroupError::Malformed);
        }
        Ok(group)
    }

    /// A fresh secret and its share in fixed-length form.
    pub fn keypair<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> (Secret, Vec<u8>) {
        match self {
            Self::FiniteField(g) => {
                let (a, share) = g.keypair(rng);
                let share = padded(&share, self.share_len()).unwrap_or(share);
                (Secret::Exponent(a), share)
            }
            Self::P256 => {
                let (a, share) = P256Group::keypair(rng);
                (Secret::P256(a), share)
            }
            Self::InsecurePaper(g) => {
                let (a, share) = g.keypair(rng);
                (
                    Secret::Insecure(Zeroizing::new(a)),
                    (share as u32).to_be_bytes().to_vec(),
                )
            }
        }
    }

    /// Validates a received share (1 < B < p-1 and in the prime-order subgroup, or a
    /// valid P-256 point) and returns it, in fixed-length form, as a [`ValidShare`].
    pub fn validate_share(&self, share: &[u8]) -> Result<ValidShare, GroupError> {
        let (bytes, value) = match self {
            Self::FiniteField(g) => {
                let b = g.validate_share(share)?;
                (padded(share, self.share_len())?, ShareValue::FiniteField(b))
            }
            Self::P256 => {
                if share.len() != 33 {
                    return Err(GroupError::BadPoint);
                }
                (share.to_vec(), ShareValue::P256(parse_p256_share(share)?))
            }
            Self::InsecurePaper(g) => {
                let bytes = padded(share, 4)?;
                let b = u64::from(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
                if b <= 1 || b >= g.p - 1 {
                    return Err(GroupError::BadShare);
                }
                (bytes, ShareValue::Insecure(b))
            }
        };
        Ok(ValidShare { bytes, value })
    }

    /// The master key from this side's secret and the peer's validated share: one
    /// exponentiation (or scalar multiplication) with the secret, in constant time.
    pub fn agree(&self, secret: &Secret, share: &ValidShare) -> Result<MasterKey, GroupError> {
        match (self, secret, &share.value) {
            (Self::FiniteField(g), Secret::Exponent(a), ShareValue::FiniteField(b))
                if b.bits_precision() == g.bits =>
            {
                Ok(g.agree_valid(a, b))
            }
            (Self::P256, Secret::P256(a), ShareValue::P256(b)) => {
                P256Group::agree_parsed(a, b, &share.bytes)
            }
            (Self::InsecurePaper(g), Secret::Insecure(a), ShareValue::Insecure(b)) => {
                Ok(MasterKey((g.agree(**a, *b) as u32).to_be_bytes().to_vec()))
            }
            _ => Err(GroupError::WrongSecret),
        }
    }
}

/// The P-256 field prime, big-endian hex.
const P256_FIELD_PRIME: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
