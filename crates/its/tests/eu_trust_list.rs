//! Certificates written by others: the European C-ITS Trust List Manager's certificate
//! (brainpoolP256r1, self-signed), as published by the EU's C-ITS Point of Contact.

use vkm_its::{Certificate, CertificateError, Curve, HashAlgorithm, Issuer};

/// `tests/data/E7A4B2B045E7ACF9.oer`: the EU TLM certificate "EU-TLM_L2", from
/// <https://cpoc.jrc.ec.europa.eu/TLMCertificates.html>, as kept in the tests of
/// `rasn-its` (github.com/librasn/rasn, `standards/its/tests/data`). The file is named
/// by the certificate's HashedId8.
const TLM: &[u8] = include_bytes!("data/E7A4B2B045E7ACF9.oer");

#[test]
fn the_eu_tlm_certificate_decodes_round_trips_and_verifies() {
    let cert = Certificate::from_oer(TLM).expect("decodes");
    assert_eq!(cert.to_oer(), TLM);
    assert_eq!(cert.id(), "EU-TLM_L2");
    assert_eq!(cert.issuer(), Issuer::SelfSigned(HashAlgorithm::Sha384));
    let key = cert.verification_key().expect("explicit");
    assert_eq!(key.curve, Curve::BrainpoolP384r1);
    assert_eq!(cert.hashed_id8().unwrap().to_hex(), "E7A4B2B045E7ACF9");
    cert.verify_signature(None)
        .expect("the TLM's self-signature verifies");
}

#[test]
fn a_changed_byte_of_the_eu_tlm_certificate_breaks_its_signature() {
    let mut bytes = TLM.to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let cert = Certificate::from_oer(&bytes).expect("still decodes");
    assert_eq!(
        cert.verify_signature(None),
        Err(CertificateError::BadSignature)
    );
}

/// `tests/data/CE4CF6C19BFED720.oer`: a European Certificate Trust List (ECTL) signed by
/// the TLM, from <https://cpoc.jrc.ec.europa.eu/ECTL.html>, as kept in the tests of
/// `rasn-its`.
const ECTL: &[u8] = include_bytes!("data/CE4CF6C19BFED720.oer");

#[test]
fn the_eu_trust_list_is_signed_by_the_tlm() {
    let ectl = vkm_its::SignedData::from_oer(ECTL).expect("decodes");
    assert_eq!(ectl.to_oer(), ECTL);
    assert_eq!(ectl.psid(), Some(vkm_its::Psid(624)));
    let signer = ectl.verify(None).expect("the TLM's signature verifies");
    assert_eq!(
        signer.to_oer(),
        TLM,
        "signed with the TLM certificate it carries"
    );

    let mut forged = ECTL.to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 0x40;
    let forged = vkm_its::SignedData::from_oer(&forged).expect("still decodes");
    assert!(forged.verify(None).is_err());
}
