//! ECDSA verification of IEEE 1609.2 signatures on P-256, brainpoolP256r1 and
//! brainpoolP384r1 (RustCrypto's `p256`, `bp256`, `bp384`).

use rasn_its::ieee1609dot2::base_types as base;

use crate::certificate::{CertificateError, Curve, PublicKey};

/// Verifies `signature` over `message` (hashed with the curve's hash) under `key`.
pub(crate) fn verify(
    key: &PublicKey,
    signature: &base::Signature,
    message: &[u8],
) -> Result<(), CertificateError> {
    let (curve, r, s) = parts(signature)?;
    if curve != key.curve {
        return Err(CertificateError::CurveMismatch {
            signature: curve.name(),
            key: key.curve.name(),
        });
    }
    let rs = [r, s].concat();
    macro_rules! check {
        ($curve:ty) => {{
            use ecdsa::signature::Verifier;
            let vk = ecdsa::VerifyingKey::<$curve>::from_sec1_bytes(&key.sec1)
                .map_err(|_| CertificateError::BadKey(curve.name()))?;
            let sig = ecdsa::Signature::<$curve>::from_slice(&rs)
                .map_err(|_| CertificateError::BadSignature)?;
            vk.verify(message, &sig)
                .map_err(|_| CertificateError::BadSignature)
        }};
    }
    match curve {
        Curve::NistP256 => check!(p256::NistP256),
        Curve::BrainpoolP256r1 => check!(bp256::BrainpoolP256r1),
        Curve::BrainpoolP384r1 => check!(bp384::BrainpoolP384r1),
        other => Err(CertificateError::UnsupportedCurve(other.name())),
    }
}

/// A signature's curve, `r` (the x-coordinate however the point is written) and `s`.
pub(crate) fn parts(
    signature: &base::Signature,
) -> Result<(Curve, &[u8], &[u8]), CertificateError> {
    Ok(match signature {
        base::Signature::EcdsaNistP256(sig) => (Curve::NistP256, r256(&sig.r_sig)?, &sig.s_sig[..]),
        base::Signature::EcdsaBrainpoolP256r1(sig) => {
            (Curve::BrainpoolP256r1, r256(&sig.r_sig)?, &sig.s_sig[..])
        }
        base::Signature::EcdsaBrainpoolP384r1(sig) => {
            (Curve::BrainpoolP384r1, r384(&sig.r_sig)?, &sig.s_sig[..])
        }
        base::Signature::EcdsaNistP384(_) => {
            return Err(CertificateError::UnsupportedCurve("nistp384"));
        }
        _ => return Err(CertificateError::UnsupportedCurve("sm2")),
    })
}

/// The `r` of a signature: the x-coordinate however the point is written.
fn r256(point: &base::EccP256CurvePoint) -> Result<&[u8], CertificateError> {
    match point {
        base::EccP256CurvePoint::XOnly(x)
        | base::EccP256CurvePoint::CompressedY0(x)
        | base::EccP256CurvePoint::CompressedY1(x) => Ok(&x[..]),
        base::EccP256CurvePoint::Uncompressed(p) => Ok(&p.x[..]),
        _ => Err(CertificateError::BadSignature),
    }
}

fn r384(point: &base::EccP384CurvePoint) -> Result<&[u8], CertificateError> {
    match point {
        base::EccP384CurvePoint::XOnly(x)
        | base::EccP384CurvePoint::CompressedY0(x)
        | base::EccP384CurvePoint::CompressedY1(x) => Ok(&x[..]),
        base::EccP384CurvePoint::Uncompressed(p) => Ok(&p.x[..]),
        _ => Err(CertificateError::BadSignature),
    }
}
