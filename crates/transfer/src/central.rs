//! The central manager's remaining roles (Lei et al. III.A.3): initial registration and
//! pseudonym refresh (issuing a vehicle's pseudonym set), registering members (a signed
//! registry transaction), and revocation by chain look-up (a signed registry transaction
//! naming certificates).

use p256::ecdsa::SigningKey;
use p256::elliptic_curve::Generate;
use rand::CryptoRng;
use vkm_block::{
    Authorization, CertificateId, Member, MemberId, RegistryAction, RegistryTx, Timestamp,
};

use crate::certificate::{IdentityMaterials, PseudonymCertificate, authority_certificate};
use crate::keys::MemberKeys;
use crate::signature::sign;

/// A vehicle's pseudonym: its two secret keys (zeroized on drop; `Debug` shows neither)
/// and its identity materials.
#[derive(Clone)]
pub struct Pseudonym {
    /// The pseudonym's signing key: it signs the vehicle's crossing requests.
    pub key: SigningKey,
    /// The pseudonym's decryption key: it opens what its security manager seals to the
    /// certificate's encryption key (the welcome into a domain).
    pub encryption: p256::SecretKey,
    /// The pseudonym id and its certificate.
    pub materials: IdentityMaterials,
}

impl core::fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pseudonym")
            .field("materials", &self.materials)
            .finish_non_exhaustive()
    }
}

impl Pseudonym {
    /// A fresh pseudonym (new key pairs; its id derived from its certificate) certified by
    /// central manager `issuer`, valid in `[valid_from, valid_until)` (widened to whole
    /// seconds).
    pub fn issue<R: CryptoRng + ?Sized>(
        issuer: MemberId,
        issuer_key: &SigningKey,
        valid_from: Timestamp,
        valid_until: Timestamp,
        rng: &mut R,
    ) -> Self {
        let authority = authority_certificate(issuer, issuer_key);
        Self::issue_under(&authority, issuer_key, valid_from, valid_until, rng)
    }

    /// [`Self::issue`] under the issuer's authority certificate, given.
    pub fn issue_under<R: CryptoRng + ?Sized>(
        authority: &vkm_its::Certificate,
        issuer_key: &SigningKey,
        valid_from: Timestamp,
        valid_until: Timestamp,
        rng: &mut R,
    ) -> Self {
        let key = SigningKey::generate_from_rng(rng);
        let encryption = p256::SecretKey::generate_from_rng(rng);
        let certificate = PseudonymCertificate::issue_under(
            authority,
            issuer_key,
            key.verifying_key(),
            &encryption.public_key(),
            valid_from,
            valid_until,
        );
        Self {
            key,
            encryption,
            materials: IdentityMaterials::new(certificate),
        }
    }
}

/// Issues `count` pseudonyms valid in `[valid_from, valid_until)`, certified by central
/// manager `issuer`: a vehicle's initial registration, or a refresh (a new set; the old
/// one stops being accepted when its validity ends).
pub fn issue_pseudonym_set<R: CryptoRng + ?Sized>(
    issuer: MemberId,
    issuer_keys: &MemberKeys,
    count: usize,
    valid_from: Timestamp,
    valid_until: Timestamp,
    rng: &mut R,
) -> Vec<Pseudonym> {
    let authority = authority_certificate(issuer, &issuer_keys.signing);
    (0..count)
        .map(|_| {
            Pseudonym::issue_under(
                &authority,
                &issuer_keys.signing,
                valid_from,
                valid_until,
                rng,
            )
        })
        .collect()
}

/// A registration of `members` (a new security manager joining the network, say), signed
/// by central manager `signer`, to be mined like any transaction: the members take part
/// from the block that carries it on.
pub fn registration(
    signer: MemberId,
    signer_keys: &MemberKeys,
    members: &[Member],
    now: Timestamp,
) -> RegistryTx {
    signed(
        signer,
        signer_keys,
        members
            .iter()
            .cloned()
            .map(RegistryAction::Register)
            .collect(),
        now,
    )
}

/// A revocation of registered `members` (security managers or central managers), signed
/// by central manager `signer`: from the block that carries it on they are no longer
/// members (their transfers and blocks are refused, and peers stop accepting their
/// connections).
pub fn member_revocation(
    signer: MemberId,
    signer_keys: &MemberKeys,
    members: &[MemberId],
    now: Timestamp,
) -> RegistryTx {
    signed(
        signer,
        signer_keys,
        members.iter().map(|m| RegistryAction::Revoke(*m)).collect(),
        now,
    )
}

/// A registry transaction of `actions`, signed by `signer`.
fn signed(
    signer: MemberId,
    signer_keys: &MemberKeys,
    actions: Vec<RegistryAction>,
    now: Timestamp,
) -> RegistryTx {
    let mut tx = RegistryTx {
        timestamp: now,
        actions,
        authorization: None,
    };
    let signature = sign(&signer_keys.signing, &tx.signing_preimage(signer));
    tx.authorization = Some(Authorization { signer, signature });
    tx
}

/// A revocation of `certificates` (one pseudonym, or a whole set), signed by central
/// manager `signer`, to be mined like any transaction. Security managers refuse the
/// revoked pseudonyms from the block that carries it on.
pub fn revocation(
    signer: MemberId,
    signer_keys: &MemberKeys,
    certificates: &[CertificateId],
    now: Timestamp,
) -> RegistryTx {
    signed(
        signer,
        signer_keys,
        certificates
            .iter()
            .map(|c| RegistryAction::RevokeCertificate(*c))
            .collect(),
        now,
    )
}
