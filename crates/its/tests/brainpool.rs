//! brainpoolP256r1: a self-signed certificate made here with RustCrypto's `bp256` (the EU
//! TLM's certificate in `eu_trust_list.rs` covers brainpoolP384r1) verifies, and a changed
//! signature does not.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use bp256::BrainpoolP256r1;
use rasn::types::{FixedOctetString, Integer};
use vkm_its::asn;
use vkm_its::asn::base_types as base;
use vkm_its::{Certificate, CertificateError, Curve};

fn x_point(key: &ecdsa::VerifyingKey<BrainpoolP256r1>) -> base::EccP256CurvePoint {
    use bp256::elliptic_curve::sec1::ToSec1Point;
    let point = key.as_affine().to_sec1_point(true);
    let bytes = point.as_bytes();
    let x: [u8; 32] = bytes[1..33].try_into().unwrap();
    if bytes[0] == 3 {
        base::EccP256CurvePoint::CompressedY1(FixedOctetString::from(x))
    } else {
        base::EccP256CurvePoint::CompressedY0(FixedOctetString::from(x))
    }
}

fn self_signed(key: &ecdsa::SigningKey<BrainpoolP256r1>) -> Vec<u8> {
    use ecdsa::signature::Signer;
    use sha2::{Digest, Sha256};
    let tbs = asn::ToBeSignedCertificate::builder()
        .id(asn::CertificateId::Name(base::Hostname(
            "bp256 test".into(),
        )))
        .craca_id(base::HashedId3(FixedOctetString::from([0u8; 3])))
        .crl_series(base::CrlSeries(0))
        .validity_period(base::ValidityPeriod {
            start: base::Time32(600_000_000),
            duration: base::Duration::Years(10),
        })
        .app_permissions(base::SequenceOfPsidSsp(vec![base::PsidSsp {
            psid: base::Psid(Integer::from(36)),
            ssp: None,
        }]))
        .verify_key_indicator(asn::VerificationKeyIndicator::VerificationKey(
            base::PublicVerificationKey::EcdsaBrainpoolP256r1(x_point(key.verifying_key())),
        ))
        .build()
        .unwrap();
    let tbs_bytes = rasn::coer::encode(&tbs).unwrap();
    let input = [Sha256::digest(&tbs_bytes), Sha256::digest(b"")].concat();
    let signature: ecdsa::Signature<BrainpoolP256r1> = key.sign(&input);
    let (r, s) = signature.split_bytes();
    let base_cert = asn::CertificateBase {
        version: 3,
        r#type: asn::CertificateType::Explicit,
        issuer: asn::IssuerIdentifier::VSelf(base::HashAlgorithm::Sha256),
        to_be_signed: tbs,
        signature: Some(base::Signature::EcdsaBrainpoolP256r1(
            base::EcdsaP256Signature {
                r_sig: base::EccP256CurvePoint::XOnly(FixedOctetString::from(<[u8; 32]>::from(r))),
                s_sig: FixedOctetString::from(<[u8; 32]>::from(s)),
            },
        )),
    };
    let cert = asn::Certificate::from(asn::ExplicitCertificate::new(base_cert).unwrap());
    rasn::coer::encode(&cert).unwrap()
}

#[test]
fn a_brainpool_p256_certificate_verifies_and_a_changed_one_does_not() {
    let key = ecdsa::SigningKey::<BrainpoolP256r1>::from_slice(&[5u8; 32]).unwrap();
    let bytes = self_signed(&key);
    let cert = Certificate::from_oer(&bytes).unwrap();
    assert_eq!(
        cert.verification_key().unwrap().curve,
        Curve::BrainpoolP256r1
    );
    assert_eq!(cert.signature_curve(), Some(Curve::BrainpoolP256r1));
    cert.verify_signature(None).unwrap();
    let mut changed = bytes.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    let changed = Certificate::from_oer(&changed).unwrap();
    assert_eq!(
        changed.verify_signature(None),
        Err(CertificateError::BadSignature)
    );
}
