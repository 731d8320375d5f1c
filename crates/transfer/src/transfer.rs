//! The key-transfer transaction of the blockchain structure (Lei et al. Fig. 5, Table I):
//! built and signed by the source security manager, checked by every security manager
//! (signatures only: the ciphertext stays sealed), opened by the destination.

use std::collections::HashSet;

use rand::CryptoRng;
use vkm_block::{Ciphertext, KeyTransferTx, MemberId, Role, Timestamp, deserialize, serialize};

use crate::certificate::{CertificateError, IdentityMaterials};
use crate::directory::{Directory, RegisteredMember};
use crate::keys::{EncryptionPublic, EncryptionSecret, MemberKeys};
use crate::seal::ieee1609::Ieee1609Ecies;
#[cfg(feature = "secp256k1")]
use crate::seal::secp256k1::EciesSecp256k1;
use crate::seal::{MalformedCiphertext, OpenError, SealError, Sealer};
use crate::signature::{PendingSignature, sign, signing_digest, verify_batch};

/// Why a key transfer is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The claimed sender is not a registered member.
    #[error("sender {0} is not registered")]
    UnknownSender(MemberId),
    /// The destination is not a registered member.
    #[error("destination {0} is not registered")]
    UnknownDestination(MemberId),
    /// A key transfer must go between security managers.
    #[error("{0} is not a security manager")]
    NotASecurityManager(MemberId),
    /// Source and destination are the same.
    #[error("source and destination are both {0}")]
    SameEndpoints(MemberId),
    /// The chain has seen this source's sequence number already.
    #[error("sequence number {sequence} of {sender} was seen before (replay)")]
    Replayed {
        /// The source security manager.
        sender: MemberId,
        /// The reused sequence number.
        sequence: u64,
    },
    /// The signature does not verify under the sender's registered key.
    #[error("invalid signature")]
    BadSignature,
    /// The message is addressed to another member.
    #[error("addressed to {0}, not to this member")]
    NotForUs(MemberId),
    /// The sealed materials are malformed.
    #[error(transparent)]
    Malformed(#[from] MalformedCiphertext),
    /// The sealed materials do not open. Deliberately without detail.
    #[error("cannot open the identity materials")]
    CannotOpen,
    /// The opened materials do not decode.
    #[error("identity materials do not decode")]
    BadMaterials,
    /// The materials' certificate is refused.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The key-transfer rules were handed another kind of transaction.
    #[error("not a key transfer: {0:?}")]
    WrongKind(vkm_block::TxKind),
    /// A transfer of a block was left unchecked (a rule-set bug, never expected).
    #[error("not checked")]
    NotChecked,
}

impl From<OpenError> for TransferError {
    fn from(err: OpenError) -> Self {
        match err {
            OpenError::Malformed(m) => Self::Malformed(m),
            OpenError::Failed => Self::CannotOpen,
        }
    }
}

/// What the chain has seen: which `(source, sequence)` pairs were already accepted.
pub trait SequenceLog {
    /// Whether `source` used `sequence` before.
    fn has_seen(&self, source: MemberId, sequence: u64) -> bool;
}

impl SequenceLog for HashSet<(MemberId, u64)> {
    fn has_seen(&self, source: MemberId, sequence: u64) -> bool {
        self.contains(&(source, sequence))
    }
}

/// Seals encoded identity materials to `recipient`'s encryption key, bound to its
/// registry entry.
pub fn seal_materials<R: CryptoRng + ?Sized>(
    materials: &IdentityMaterials,
    recipient: &RegisteredMember,
    rng: &mut R,
) -> Result<Ciphertext, TransferError> {
    let plaintext = zeroize::Zeroizing::new(serialize(materials));
    let sealed = match &recipient.encryption {
        EncryptionPublic::P256(key) => {
            let sealed = Ieee1609Ecies.seal(key, &recipient.binding, &plaintext, rng)?;
            crate::seal::ieee1609::to_encrypted_data(&sealed, key)
                .map_err(TransferError::Malformed)?
        }
        #[cfg(feature = "secp256k1")]
        EncryptionPublic::Secp256k1(key) => {
            EciesSecp256k1.seal(key, &recipient.binding, &plaintext, rng)?
        }
    };
    Ciphertext::new(sealed).map_err(|e| {
        TransferError::Seal(SealError::PlaintextTooLong {
            len: e.len,
            max: e.max,
        })
    })
}

/// Opens identity materials sealed to `me` (whose secret keys are `keys`).
pub fn open_materials(
    keys: &MemberKeys,
    me: &RegisteredMember,
    ciphertext: &Ciphertext,
) -> Result<IdentityMaterials, TransferError> {
    let plaintext = match &keys.encryption {
        EncryptionSecret::P256(key) => {
            // The IEEE 1609.2 EncryptedData, addressed to this manager's key (prepared
            // once: deriving the public key is a scalar multiplication).
            let opening = keys.opening_key();
            let public = opening.map_or_else(|| key.public_key(), |o| *o.public_key());
            let sealed =
                crate::seal::ieee1609::from_encrypted_data(ciphertext.as_bytes(), &public)?;
            match opening {
                Some(opening) => opening.open(&me.binding, &sealed)?,
                None => Ieee1609Ecies.open(key, &me.binding, &sealed)?,
            }
        }
        #[cfg(feature = "secp256k1")]
        EncryptionSecret::Secp256k1(key) => {
            EciesSecp256k1.open(key, &me.binding, ciphertext.as_bytes())?
        }
    };
    deserialize(&plaintext).map_err(|_| TransferError::BadMaterials)
}

/// Builds and signs a key transfer: seals the vehicle's materials to the destination and
/// signs every field (Table I, with the changes in `docs/deviations.md`).
pub fn build_key_transfer<R: CryptoRng + ?Sized>(
    keys: &MemberKeys,
    source: MemberId,
    sequence: u64,
    destination: &RegisteredMember,
    now: Timestamp,
    materials: &IdentityMaterials,
    rng: &mut R,
) -> Result<KeyTransferTx, TransferError> {
    let mut tx = KeyTransferTx {
        sequence,
        source,
        destination: destination.id(),
        timestamp: now,
        ciphertext: seal_materials(materials, destination, rng)?,
        signature: Default::default(),
    };
    tx.signature = sign(&keys.signing, &tx.signing_preimage());
    Ok(tx)
}

fn security_manager<D: Directory + ?Sized>(
    directory: &D,
    id: MemberId,
    unknown: fn(MemberId) -> TransferError,
) -> Result<&RegisteredMember, TransferError> {
    let member = directory.member(id).ok_or(unknown(id))?;
    if member.record.role != Role::SecurityManager {
        return Err(TransferError::NotASecurityManager(id));
    }
    Ok(member)
}

/// The checks of [`check_key_transfer`] that need no signature verification; returns the
/// source's registered entry.
pub fn check_fields<'d, D: Directory + ?Sized, L: SequenceLog + ?Sized>(
    tx: &KeyTransferTx,
    directory: &'d D,
    log: &L,
) -> Result<&'d RegisteredMember, TransferError> {
    let source = security_manager(directory, tx.source, TransferError::UnknownSender)?;
    security_manager(directory, tx.destination, TransferError::UnknownDestination)?;
    if tx.source == tx.destination {
        return Err(TransferError::SameEndpoints(tx.source));
    }
    if log.has_seen(tx.source, tx.sequence) {
        return Err(TransferError::Replayed {
            sender: tx.source,
            sequence: tx.sequence,
        });
    }
    Ok(source)
}

/// What every security manager checks of a key transfer (it cannot open it): source and
/// destination are registered, distinct security managers; the sequence number is new;
/// the source's signature verifies (fast path). Sizes were enforced by decoding.
pub fn check_key_transfer<D: Directory + ?Sized, L: SequenceLog + ?Sized>(
    tx: &KeyTransferTx,
    directory: &D,
    log: &L,
) -> Result<(), TransferError> {
    check_fields(tx, directory, log)?
        .verifier
        .verify(&tx.signing_preimage(), &tx.signature)
        .map_err(|_| TransferError::BadSignature)
}

/// [`check_key_transfer`] for a run of transactions, their signatures verified as one
/// batch ([`verify_batch`]).
fn check_run<D: Directory + ?Sized, L: SequenceLog + ?Sized>(
    txs: &[KeyTransferTx],
    directory: &D,
    log: &L,
) -> Vec<Result<(), TransferError>> {
    let fields: Vec<_> = txs
        .iter()
        .map(|tx| check_fields(tx, directory, log))
        .collect();
    let pending: Vec<PendingSignature<'_>> = txs
        .iter()
        .zip(&fields)
        .filter_map(|(tx, source)| {
            Some(PendingSignature {
                key: &source.as_ref().ok()?.verifier,
                digest: signing_digest(&tx.signing_preimage()),
                signature: tx.signature,
            })
        })
        .collect();
    let mut verdicts = verify_batch(&pending).into_iter();
    fields
        .into_iter()
        .map(|source| {
            source?;
            match verdicts.next() {
                Some(Ok(())) => Ok(()),
                _ => Err(TransferError::BadSignature),
            }
        })
        .collect()
}

/// Checks a block's key transfers on `threads` threads, each verifying its share of the
/// signatures as one batch; results in input order, identical to
/// [`check_key_transfer`] one by one.
pub fn check_key_transfers<D: Directory + Sync + ?Sized, L: SequenceLog + Sync + ?Sized>(
    txs: &[KeyTransferTx],
    directory: &D,
    log: &L,
    threads: usize,
) -> Vec<Result<(), TransferError>> {
    let threads = threads.clamp(1, txs.len().max(1));
    if threads == 1 {
        return check_run(txs, directory, log);
    }
    let chunk = txs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = txs
            .chunks(chunk)
            .map(|part| scope.spawn(move || check_run(part, directory, log)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// A vehicle admitted to the destination domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmittedVehicle {
    /// The security manager it came from.
    pub from: MemberId,
    /// Its identity materials, certificate checked.
    pub materials: IdentityMaterials,
}

/// The destination's last step: opens the materials and checks the certificate (issued
/// by a registered central manager, valid at `now`). `tx` must have passed
/// [`check_key_transfer`].
pub fn admit<D: Directory + ?Sized>(
    tx: &KeyTransferTx,
    keys: &MemberKeys,
    me: MemberId,
    directory: &D,
    now: Timestamp,
) -> Result<AdmittedVehicle, TransferError> {
    let member = destination_member(tx, me, directory)?;
    let materials = open_materials(keys, member, &tx.ciphertext)?;
    check_materials(&materials, directory, now)?;
    Ok(AdmittedVehicle {
        from: tx.source,
        materials,
    })
}

/// `me`'s registered entry, if `tx` is for `me`.
pub(crate) fn destination_member<'d, D: Directory + ?Sized>(
    tx: &KeyTransferTx,
    me: MemberId,
    directory: &'d D,
) -> Result<&'d RegisteredMember, TransferError> {
    if tx.destination != me {
        return Err(TransferError::NotForUs(tx.destination));
    }
    directory
        .member(me)
        .ok_or(TransferError::UnknownDestination(me))
}

/// Checks opened materials: the certificate is not revoked on the chain, its issuer is a
/// registered central manager whose signature verifies, and it is valid at `now`.
pub fn check_materials<D: Directory + ?Sized>(
    materials: &IdentityMaterials,
    directory: &D,
    now: Timestamp,
) -> Result<(), TransferError> {
    Ok(check_certificate(materials, directory, now)?)
}

/// [`check_materials`] with the certificate's own error.
pub(crate) fn check_certificate<D: Directory + ?Sized>(
    materials: &IdentityMaterials,
    directory: &D,
    now: Timestamp,
) -> Result<(), CertificateError> {
    let (issuer, authority) = certificate_issuer(materials, directory)?;
    materials
        .certificate
        .check(&issuer.verifier, &authority.digest, now)
}

/// The registered central manager that issued the materials' certificate (the one whose
/// authority certificate it names), if the chain has not revoked the certificate.
pub(crate) fn certificate_issuer<'d, D: Directory + ?Sized>(
    materials: &IdentityMaterials,
    directory: &'d D,
) -> Result<(&'d RegisteredMember, crate::directory::Authority), CertificateError> {
    if directory.is_revoked(&materials.certificate.id()) {
        return Err(CertificateError::Revoked);
    }
    let issuer = materials.certificate.issuer();
    directory
        .central_manager_by_certificate(&issuer)
        .filter(|m| m.record.role == Role::CentralManager)
        .and_then(|m| Some((m, m.authority?)))
        .ok_or(CertificateError::UnknownIssuer(issuer))
}
