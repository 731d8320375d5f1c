//! ECDSA P-256 over the transaction preimages: low-S signing (RFC 6979 nonces), the
//! reference verification of `p256`, and a fast verifier for registered keys.
//!
//! The fast verifier computes the same `u1*G + u2*Q` as `p256`, from fixed-base tables
//! built with `p256`'s own group operations: a scalar is written in 33 signed radix-256
//! digits (in `[-128, 128)`), and for each digit position `i` the table holds the affine
//! multiples `1..=128` of `256^i * P`. A verification then costs 66 mixed additions and
//! one inversion, instead of the 256 doublings and ~100 additions of a variable-base
//! multiplication. A table takes 270 KiB and a few milliseconds, built once per key: when
//! a security manager is registered, and once for the generator. Everything is variable
//! time, which is safe here because every input (key, message, signature) is public. A
//! differential property test holds it to `p256`'s verifier.

use std::sync::LazyLock;

use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::BatchNormalize;
use p256::elliptic_curve::PrimeField;
use p256::elliptic_curve::group::Group;
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::point::AffineCoordinates;
use p256::elliptic_curve::scalar::IsHigh;
use p256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};
use sha2::{Digest, Sha256};
use vkm_block::CompactSignature;

/// A signature did not verify. Deliberately without detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid signature")]
pub struct InvalidSignature;

/// The digest ECDSA signs for a preimage: SHA-256.
pub fn signing_digest(preimage: &[u8]) -> [u8; 32] {
    Sha256::digest(preimage).into()
}

/// Signs `preimage` (its SHA-256) with RFC 6979 deterministic nonces, normalised to low S.
pub fn sign(key: &SigningKey, preimage: &[u8]) -> CompactSignature {
    sign_digest(key, &signing_digest(preimage))
}

/// Signs a 32-byte digest, normalised to low S.
pub fn sign_digest(key: &SigningKey, digest: &[u8; 32]) -> CompactSignature {
    // A 32-byte prehash is always accepted by P-256's signer.
    let signature: Signature = match key.sign_prehash(digest) {
        Ok(signature) => signature,
        Err(_) => unreachable_prehash(),
    };
    let low = signature.normalize_s();
    CompactSignature(low.to_bytes().into())
}

#[cold]
fn unreachable_prehash() -> ! {
    // `sign_prehash` fails only for prehashes shorter than half the field size (16 bytes);
    // ours are 32.
    panic!("P-256 signing of a 32-byte digest failed")
}

/// Parses `r || s`, refusing zero, out-of-range and high-S values (vkm accepts only low-S
/// signatures, so a signature, and the id of the transaction carrying it, cannot be
/// changed by negating `s`).
pub fn parse_low_s(signature: &CompactSignature) -> Result<Signature, InvalidSignature> {
    let signature = Signature::from_slice(&signature.0).map_err(|_| InvalidSignature)?;
    if bool::from(signature.s().is_high()) {
        return Err(InvalidSignature);
    }
    Ok(signature)
}

/// The reference check: `p256`'s verifier on the SHA-256 of `preimage`, plus the low-S
/// rule.
pub fn verify_reference(
    key: &VerifyingKey,
    preimage: &[u8],
    signature: &CompactSignature,
) -> Result<(), InvalidSignature> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let signature = parse_low_s(signature)?;
    key.verify_prehash(&signing_digest(preimage), &signature)
        .map_err(|_| InvalidSignature)
}

/// Signing through the selected backend ([`crate::backend`]): with AWS-LC (the default)
/// random nonces (what OpenSSL does), about three times faster here than [`sign`]'s
/// RFC 6979 nonces on `p256` (`vkm bench crypto` measures both), for runs that need no
/// reproducible signatures; with the pure-Rust backend, `p256` with RFC 6979 nonces. The
/// signatures verify the same way; only their bytes differ. The key is prepared once.
#[derive(Debug)]
pub struct FastSigner {
    signer: crate::backend::Signer,
}

impl FastSigner {
    /// Prepares `key` (`None` only if AWS-LC refuses a valid P-256 key).
    pub fn new(key: &SigningKey) -> Option<Self> {
        crate::backend::Signer::new(key).map(|signer| Self { signer })
    }

    /// Signs `preimage` (its SHA-256), normalised to low S.
    pub fn sign(&self, preimage: &[u8]) -> CompactSignature {
        self.sign_digest(&signing_digest(preimage))
    }

    /// Signs a 32-byte digest, normalised to low S.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> CompactSignature {
        match self.signer.sign_digest(digest) {
            Some(signature) => CompactSignature(signature.normalize_s().to_bytes().into()),
            None => unreachable_backend_sign(),
        }
    }
}

#[cold]
fn unreachable_backend_sign() -> ! {
    // Both backends sign any 32-byte digest with a key they accepted.
    panic!("P-256 signing of a 32-byte digest failed")
}

/// Verifies under a key that has no precomputed table (a vehicle's pseudonym key, a
/// certificate from outside): the selected backend's ECDSA ([`crate::backend`]; with
/// AWS-LC about a quarter of [`verify_reference`]'s cost) on the SHA-256 of `preimage`,
/// plus the low-S rule. Accepts exactly what [`verify_reference`] accepts (a
/// differential property test holds them together).
pub fn verify(
    key: &VerifyingKey,
    preimage: &[u8],
    signature: &CompactSignature,
) -> Result<(), InvalidSignature> {
    verify_digest(key, &signing_digest(preimage), signature)
}

/// [`verify`] on a 32-byte digest.
pub fn verify_digest(
    key: &VerifyingKey,
    digest: &[u8; 32],
    signature: &CompactSignature,
) -> Result<(), InvalidSignature> {
    parse_low_s(signature)?;
    if crate::backend::verify_digest(key, digest, &signature.0) {
        Ok(())
    } else {
        Err(InvalidSignature)
    }
}

/// Signed radix-256 digits of a P-256 scalar: 32 bytes and a final carry.
const WINDOWS: usize = 33;
/// Multiples held per window: `1..=128` (digit signs come from negating the point).
const MULTIPLES: usize = 128;

/// Writes `k` as `sum(d[i] * 256^i)` with `d[i]` in `[-128, 128)` for `i < 32` and
/// `d[32]` in `{0, 1}`.
fn signed_radix256(k: &Scalar) -> [i16; WINDOWS] {
    let be = k.to_repr();
    let mut digits = [0i16; WINDOWS];
    let mut carry = 0i16;
    for (i, byte) in be.iter().rev().enumerate() {
        let v = i16::from(*byte) + carry;
        carry = (v + 128) >> 8;
        digits[i] = v - (carry << 8);
    }
    digits[WINDOWS - 1] = carry;
    digits
}

/// Affine multiples `1..=128` of `256^i * P` for every digit position `i`.
struct FixedBaseTable {
    windows: Box<[[AffinePoint; MULTIPLES]]>,
}

impl FixedBaseTable {
    fn new(point: ProjectivePoint) -> Self {
        let mut multiples = Vec::with_capacity(WINDOWS * MULTIPLES);
        let mut base = point;
        for _ in 0..WINDOWS {
            let mut multiple = base;
            for _ in 0..MULTIPLES {
                multiples.push(multiple);
                multiple += base;
            }
            for _ in 0..8 {
                base = base.double();
            }
        }
        let affine = ProjectivePoint::batch_normalize(multiples.as_slice());
        let windows = affine
            .chunks_exact(MULTIPLES)
            .map(|w| core::array::from_fn(|j| w[j]))
            .collect();
        Self { windows }
    }

    /// `k * P`, in variable time.
    fn mul_vartime(&self, k: &Scalar) -> ProjectivePoint {
        let mut acc = ProjectivePoint::IDENTITY;
        for (window, digit) in self.windows.iter().zip(signed_radix256(k)) {
            if digit > 0 {
                acc += &window[digit.unsigned_abs() as usize - 1];
            } else if digit < 0 {
                acc += &-window[digit.unsigned_abs() as usize - 1];
            }
        }
        acc
    }
}

static GENERATOR_TABLE: LazyLock<FixedBaseTable> =
    LazyLock::new(|| FixedBaseTable::new(ProjectivePoint::GENERATOR));

/// A registered signer's verifying key with its precomputed table: fast verification of
/// that signer's signatures. About 270 KiB per key; build it once, when the key is
/// registered.
pub struct RegisteredKey {
    key: VerifyingKey,
    table: FixedBaseTable,
}

impl core::fmt::Debug for RegisteredKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RegisteredKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl RegisteredKey {
    /// Precomputes the table for `key`.
    pub fn new(key: VerifyingKey) -> Self {
        LazyLock::force(&GENERATOR_TABLE);
        Self {
            table: FixedBaseTable::new(ProjectivePoint::from(*key.as_affine())),
            key,
        }
    }

    /// The verifying key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Checks `signature` over the SHA-256 of `preimage`.
    pub fn verify(
        &self,
        preimage: &[u8],
        signature: &CompactSignature,
    ) -> Result<(), InvalidSignature> {
        self.verify_digest(&signing_digest(preimage), signature)
    }

    /// Checks `signature` over a 32-byte digest: the ECDSA equation with both scalar
    /// multiplications from tables, and the low-S rule.
    pub fn verify_digest(
        &self,
        digest: &[u8; 32],
        signature: &CompactSignature,
    ) -> Result<(), InvalidSignature> {
        let signature = parse_low_s(signature)?;
        let (r, s) = signature.split_scalars();
        let z = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(*digest));
        let s_inv = Option::<Scalar>::from(s.invert_vartime()).ok_or(InvalidSignature)?;
        let u1 = z * s_inv;
        let u2 = *r * s_inv;
        let point = GENERATOR_TABLE.mul_vartime(&u1) + self.table.mul_vartime(&u2);
        let x = point.to_affine().x();
        if <Scalar as Reduce<FieldBytes>>::reduce(&x) == *r && !bool::from(point.is_identity()) {
            Ok(())
        } else {
            Err(InvalidSignature)
        }
    }
}

/// One signature of a batch: the registered signer, the 32-byte digest, the signature.
#[derive(Debug, Clone, Copy)]
pub struct PendingSignature<'a> {
    /// The signer's registered key.
    pub key: &'a RegisteredKey,
    /// SHA-256 of the signed preimage.
    pub digest: [u8; 32],
    /// The signature to check.
    pub signature: CompactSignature,
}

/// Verifies many signatures, each exactly as [`RegisteredKey::verify_digest`] would, with
/// the per-signature inversions batched (Montgomery's trick, through `ff` and
/// `BatchNormalize`): one scalar inversion for all `s^-1` and one field inversion for all
/// the final affine conversions. Results are in input order.
pub fn verify_batch(items: &[PendingSignature<'_>]) -> Vec<Result<(), InvalidSignature>> {
    use p256::elliptic_curve::ff::BatchInvert;

    let reduce = |bytes: &FieldBytes| <Scalar as Reduce<FieldBytes>>::reduce(bytes);
    let parsed: Vec<Option<(Scalar, Scalar)>> = items
        .iter()
        .map(|item| {
            let signature = parse_low_s(&item.signature).ok()?;
            let (r, s) = signature.split_scalars();
            Some((*r, *s))
        })
        .collect();
    let mut inverses: Vec<Scalar> = parsed.iter().flatten().map(|(_, s)| *s).collect();
    inverses.iter_mut().batch_invert();

    let mut inverse = inverses.into_iter();
    let points: Vec<ProjectivePoint> = items
        .iter()
        .zip(&parsed)
        .filter_map(|(item, rs)| {
            let (r, _) = rs.as_ref()?;
            let s_inv = inverse.next()?;
            let z = reduce(&FieldBytes::from(item.digest));
            Some(
                GENERATOR_TABLE.mul_vartime(&(z * s_inv))
                    + item.key.table.mul_vartime(&(*r * s_inv)),
            )
        })
        .collect();
    let affine = ProjectivePoint::batch_normalize(points.as_slice());

    let mut point = affine.into_iter();
    parsed
        .iter()
        .map(|rs| {
            let (r, _) = rs.as_ref().ok_or(InvalidSignature)?;
            let p = point.next().ok_or(InvalidSignature)?;
            if !bool::from(p.is_identity()) && reduce(&p.x()) == *r {
                Ok(())
            } else {
                Err(InvalidSignature)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn key(seed: u64) -> SigningKey {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut bytes = [0u8; 32];
        loop {
            rand::Rng::fill_bytes(&mut rng, &mut bytes);
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return key;
            }
        }
    }

    #[test]
    fn signatures_are_low_s_and_verify_both_ways() {
        let sk = key(1);
        let fast = RegisteredKey::new(*sk.verifying_key());
        for i in 0..20u8 {
            let message = [i; 40];
            let sig = sign(&sk, &message);
            assert!(parse_low_s(&sig).is_ok());
            assert_eq!(fast.verify(&message, &sig), Ok(()));
            assert_eq!(verify_reference(sk.verifying_key(), &message, &sig), Ok(()));
            assert_eq!(fast.verify(&[i ^ 1; 40], &sig), Err(InvalidSignature));
        }
    }

    #[test]
    fn fast_signatures_are_low_s_and_verify_everywhere() {
        let sk = key(3);
        let fast = FastSigner::new(&sk).unwrap();
        let registered = RegisteredKey::new(*sk.verifying_key());
        let mut distinct = std::collections::HashSet::new();
        for i in 0..20u8 {
            let message = [i; 40];
            let sig = fast.sign(&message);
            assert!(parse_low_s(&sig).is_ok());
            assert_eq!(verify_reference(sk.verifying_key(), &message, &sig), Ok(()));
            assert_eq!(verify(sk.verifying_key(), &message, &sig), Ok(()));
            assert_eq!(registered.verify(&message, &sig), Ok(()));
            assert_eq!(
                verify(sk.verifying_key(), &[i ^ 1; 40], &sig),
                Err(InvalidSignature)
            );
            distinct.insert(fast.sign(&[0; 40]).0);
        }
        if cfg!(feature = "aws-lc") {
            assert!(distinct.len() > 1, "random nonces");
        } else {
            assert_eq!(distinct.len(), 1, "RFC 6979 nonces");
        }
    }

    #[test]
    fn radix256_digits_reconstruct_the_scalar() {
        for seed in 0..50u64 {
            let k = Scalar::from(seed).invert().unwrap_or(Scalar::ONE)
                * Scalar::from(0xdead_beef_u64 + seed);
            let mut back = Scalar::ZERO;
            let mut weight = Scalar::ONE;
            for d in signed_radix256(&k) {
                assert!((-128..128).contains(&d));
                let magnitude = Scalar::from(u64::from(d.unsigned_abs()));
                back += if d < 0 { -magnitude } else { magnitude } * weight;
                weight *= Scalar::from(256u64);
            }
            assert_eq!(back, k);
        }
        assert_eq!(signed_radix256(&-Scalar::ONE).len(), WINDOWS);
    }

    #[test]
    fn high_s_is_refused() {
        let sk = key(2);
        let sig = sign(&sk, b"m");
        let parsed = Signature::from_slice(&sig.0).unwrap();
        let high = Signature::from_scalars(parsed.r(), -*parsed.s()).unwrap();
        let high = CompactSignature(high.to_bytes().into());
        // p256 alone accepts the negated S; vkm does not.
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        assert!(
            sk.verifying_key()
                .verify_prehash(
                    &signing_digest(b"m"),
                    &Signature::from_slice(&high.0).unwrap()
                )
                .is_ok()
        );
        assert_eq!(
            RegisteredKey::new(*sk.verifying_key()).verify(b"m", &high),
            Err(InvalidSignature)
        );
        assert_eq!(
            verify_reference(sk.verifying_key(), b"m", &high),
            Err(InvalidSignature)
        );
    }
}
