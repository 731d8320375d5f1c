//! The ledger's rules for what this crate knows: member signatures (miner signatures,
//! registry authorizations) and key-transfer transactions, both verified with cached
//! per-key tables.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use vkm_block::{
    Block, CompactSignature, DomainName, KeyTransferTx, Member, MemberId, PublicKeyBytes, Role,
    Timestamp, Transaction, TxKind, Txid,
};
use vkm_ledger::{Registry, RuleError, RuleSet, SignatureCheck, TransactionRules, TxContext};

use crate::certificate::IdentityMaterials;
use crate::directory::{Directory, RegisteredMember};
use crate::keys::MemberKeys;
use crate::signature::sign;
use crate::transfer::{
    AdmittedVehicle, SequenceLog, TransferError, admit, certificate_issuer, check_fields,
    check_key_transfer, check_key_transfers, destination_member, open_materials,
};

/// Most remembered verified transfers before the memory is cleared.
const MAX_REMEMBERED: usize = 200_000;

/// Registered members prepared once (keys parsed, verification tables built), rebuilt
/// only when a member's registry entry changes.
#[derive(Debug, Default)]
pub struct MemberCache {
    members: RwLock<HashMap<MemberId, Arc<RegisteredMember>>>,
}

impl MemberCache {
    /// A cache holding `directory`'s members, already prepared (their tables are shared,
    /// not built again).
    pub fn from_directory(directory: &crate::directory::MemberDirectory) -> Self {
        Self {
            members: RwLock::new(
                directory
                    .shared_members()
                    .map(|m| (m.id(), m.clone()))
                    .collect(),
            ),
        }
    }

    /// The prepared entry for `member`, building it if it is new or changed.
    pub fn get(&self, member: &Member) -> Option<Arc<RegisteredMember>> {
        if let Ok(members) = self.members.read()
            && let Some(prepared) = members.get(&member.id)
            && prepared.record == *member
        {
            return Some(prepared.clone());
        }
        let prepared = Arc::new(RegisteredMember::new(member.clone()).ok()?);
        if let Ok(mut members) = self.members.write() {
            members.insert(member.id, prepared.clone());
        }
        Some(prepared)
    }

    /// A directory of `registry`'s members, prepared.
    pub fn directory<'r>(&self, registry: &'r Registry) -> PreparedDirectory<'r> {
        PreparedDirectory {
            members: registry
                .members()
                .filter_map(|m| self.get(m).map(|p| (m.id, p)))
                .collect(),
            registry,
        }
    }
}

/// A registry snapshot with every member prepared: a [`Directory`] for the transfer checks.
#[derive(Debug)]
pub struct PreparedDirectory<'r> {
    members: HashMap<MemberId, Arc<RegisteredMember>>,
    registry: &'r Registry,
}

impl Directory for PreparedDirectory<'_> {
    fn member(&self, id: MemberId) -> Option<&RegisteredMember> {
        self.members.get(&id).map(|m| m.as_ref())
    }

    fn central_manager_of(&self, domain: &DomainName) -> Option<&RegisteredMember> {
        self.members
            .values()
            .map(|m| m.as_ref())
            .find(|m| m.record.role == Role::CentralManager && m.record.domain == *domain)
    }

    fn is_revoked(&self, certificate: &vkm_block::CertificateId) -> bool {
        self.registry.is_revoked(certificate)
    }

    fn central_manager_by_certificate(&self, id: &vkm_its::HashedId8) -> Option<&RegisteredMember> {
        self.members
            .values()
            .map(|m| m.as_ref())
            .find(|m| m.authority.is_some_and(|a| a.hashed_id8 == *id))
    }
}

/// Replay is the ledger's check; the transfer rules see no history.
struct NothingSeen;

impl SequenceLog for NothingSeen {
    fn has_seen(&self, _source: MemberId, _sequence: u64) -> bool {
        false
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A transfer's id and the key that signed it: what a remembered signature check is for.
type Checked = (Txid, PublicKeyBytes);

/// Identity materials opened before their transfer was admitted ([`open_ahead`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedAhead {
    /// The opened materials.
    pub materials: IdentityMaterials,
    /// The binding of the issuer's registry entry whose key verified the certificate.
    pub issuer: [u8; 32],
}

/// Checks done before a transfer reaches the state machine (on another core, by the
/// simulator): the arrival checks take a result from here instead of doing that work
/// again. Everything else (replay, registration, revocation, validity) is still checked
/// on arrival.
pub trait Prechecks: Send + Sync + core::fmt::Debug {
    /// Whether the signature of transfer `txid` was verified ahead under `signer`
    /// ([`verify_ahead`]); a result taken is forgotten.
    fn take_signature(&self, txid: &Txid, signer: &PublicKeyBytes) -> bool;

    /// The materials of transfer `txid` opened ahead for the destination entry with
    /// `binding` ([`open_ahead`]); a result taken is forgotten.
    fn take_opening(&self, txid: &Txid, binding: &[u8; 32]) -> Option<OpenedAhead>;
}

/// Verifies `tx`'s signature with its source's key in `registry` (prepared by `cache`),
/// before the transfer arrives; returns the key it verified under. Only the signature is
/// checked: every other rule is checked on arrival. Safe to call from another thread.
pub fn verify_ahead(
    cache: &MemberCache,
    tx: &KeyTransferTx,
    registry: &Registry,
) -> Result<PublicKeyBytes, TransferError> {
    let source = registry
        .get(tx.source)
        .ok_or(TransferError::UnknownSender(tx.source))?;
    let prepared = cache
        .get(source)
        .ok_or(TransferError::UnknownSender(tx.source))?;
    prepared
        .verifier
        .verify(&tx.signing_preimage(), &tx.signature)
        .map_err(|_| TransferError::BadSignature)?;
    Ok(source.signing_key)
}

/// Opens `tx` for its destination (`keys` are the destination's) before the transfer is
/// admitted, and verifies the certificate's signature with its issuer's key in
/// `registry`; returns the materials with the destination entry's binding they were
/// sealed to. Revocation, the issuer's registration and the certificate's validity are
/// checked at admission. Safe to call from another thread.
pub fn open_ahead(
    cache: &MemberCache,
    tx: &KeyTransferTx,
    keys: &MemberKeys,
    registry: &Registry,
) -> Result<([u8; 32], OpenedAhead), TransferError> {
    let directory = cache.directory(registry);
    let me = directory
        .member(tx.destination)
        .ok_or(TransferError::UnknownDestination(tx.destination))?;
    let materials = open_materials(keys, me, &tx.ciphertext)?;
    let (issuer, authority) = certificate_issuer(&materials, &directory)?;
    materials
        .certificate
        .check_signature(&issuer.verifier, &authority.digest)?;
    Ok((
        me.binding,
        OpenedAhead {
            issuer: issuer.binding,
            materials,
        },
    ))
}

/// The key-transfer crate's rules for the ledger, and a node's memory of the checks it
/// has done.
///
/// Transfers checked on arrival ([`KeyTransferRules::check_and_remember`]) are remembered
/// by id and signer key, so block validation does not verify their signatures again; every
/// other rule is checked again against the block's registry. Clones share that memory and
/// the member cache: a security manager and the ledger validating for it hold one rule
/// set.
///
/// A driver may do some checks ahead of a transfer's arrival (the simulator, on another
/// core) and hand them in through [`Prechecks`] ([`KeyTransferRules::with_prechecks`]).
#[derive(Debug, Clone)]
pub struct KeyTransferRules {
    cache: Arc<MemberCache>,
    threads: usize,
    verified: Arc<Mutex<HashSet<Checked>>>,
    prechecks: Option<Arc<dyn Prechecks>>,
}

impl KeyTransferRules {
    /// Rules verifying a block's signatures on `threads` threads.
    pub fn new(threads: usize) -> Self {
        Self {
            cache: Arc::new(MemberCache::default()),
            threads: threads.max(1),
            verified: Arc::new(Mutex::new(HashSet::new())),
            prechecks: None,
        }
    }

    /// These rules, taking results of checks done ahead from `prechecks`.
    pub fn with_prechecks(self, prechecks: Arc<dyn Prechecks>) -> Self {
        Self {
            prechecks: Some(prechecks),
            ..self
        }
    }

    /// Rules like [`KeyTransferRules::new`] whose prepared member keys come from `cache`,
    /// which other rules may share (members' verification tables are public data: nodes
    /// simulated in one process need not build them once each). What this rule set has
    /// verified is its own.
    pub fn with_cache(threads: usize, cache: Arc<MemberCache>) -> Self {
        Self {
            cache,
            ..Self::new(threads)
        }
    }

    /// Checks a transfer on arrival (every rule, signature included, against `registry`
    /// and `log`) and remembers it when valid. A signature already verified ahead
    /// ([`Prechecks`]) under the same signer key is not verified again.
    pub fn check_and_remember<L: SequenceLog + ?Sized>(
        &self,
        tx: &KeyTransferTx,
        registry: &Registry,
        log: &L,
    ) -> Result<(), TransferError> {
        let directory = self.cache.directory(registry);
        let checked = checked(tx, registry);
        // The other rules first: a verdict ahead is taken only for a transfer they pass.
        let ahead = match (&self.prechecks, &checked) {
            (Some(prechecks), Some((txid, signer))) => {
                check_fields(tx, &directory, log)?;
                prechecks.take_signature(txid, signer)
            }
            _ => false,
        };
        if !ahead {
            check_key_transfer(tx, &directory, log)?;
        }
        if let Some(checked) = checked {
            self.remember(checked);
        }
        Ok(())
    }

    /// Remembers a transfer this node built and signed itself (with `keys`) as verified,
    /// so that the block carrying it does not verify its signature again. Nothing is
    /// remembered unless `keys` are those `registry` lists for the transfer's source.
    pub fn remember_own(&self, tx: &KeyTransferTx, keys: &MemberKeys, registry: &Registry) {
        let own = crate::keys::verifying_key_to_chain(keys.signing.verifying_key());
        if let Some(checked) = checked(tx, registry).filter(|(_, key)| *key == own) {
            self.remember(checked);
        }
    }

    fn remember(&self, checked: Checked) {
        let mut verified = lock(&self.verified);
        if verified.len() >= MAX_REMEMBERED {
            verified.clear();
        }
        verified.insert(checked);
    }

    /// Admits `tx` at its destination `me` ([`admit`]), taking the materials opened ahead
    /// ([`Prechecks`]) if they were opened for the same registry entries of destination
    /// and issuer.
    pub fn admit<D: Directory + ?Sized>(
        &self,
        tx: &KeyTransferTx,
        keys: &MemberKeys,
        me: MemberId,
        directory: &D,
        now: Timestamp,
    ) -> Result<AdmittedVehicle, TransferError> {
        let member = destination_member(tx, me, directory)?;
        let opened = self
            .prechecks
            .as_ref()
            .and_then(|p| p.take_opening(&transfer_id(tx), &member.binding));
        if let Some(opened) = opened {
            match certificate_issuer(&opened.materials, directory) {
                // The issuer's entry changed since: open and check again.
                Ok((issuer, _)) if issuer.binding != opened.issuer => {}
                issuer => {
                    issuer?;
                    opened.materials.certificate.check_validity(now)?;
                    return Ok(AdmittedVehicle {
                        from: tx.source,
                        materials: opened.materials,
                    });
                }
            }
        }
        admit(tx, keys, me, directory, now)
    }

    fn remembered(&self, tx: &KeyTransferTx, registry: &Registry) -> bool {
        checked(tx, registry).is_some_and(|c| lock(&self.verified).contains(&c))
    }

    /// The ledger rule set: these rules for signatures and key transfers.
    pub fn rule_set(self) -> RuleSet {
        RuleSet {
            signatures: Arc::new(self.clone()),
            kinds: vec![Arc::new(self)],
        }
    }

    /// The shared member cache.
    pub fn cache(&self) -> &Arc<MemberCache> {
        &self.cache
    }
}

impl SignatureCheck for KeyTransferRules {
    fn verify(&self, member: &Member, preimage: &[u8], signature: &CompactSignature) -> bool {
        self.cache
            .get(member)
            .is_some_and(|m| m.verifier.verify(preimage, signature).is_ok())
    }
}

impl TransactionRules for KeyTransferRules {
    fn kind(&self) -> TxKind {
        TxKind::KeyTransfer
    }

    fn check_batch(
        &self,
        txs: &[TxContext<'_>],
        registry: &Registry,
    ) -> Vec<Result<(), RuleError>> {
        let directory = self.cache.directory(registry);
        let mut verdicts: Vec<Option<Result<(), RuleError>>> = vec![None; txs.len()];
        let mut unverified = Vec::new();
        let mut positions = Vec::new();
        for (i, tx) in txs.iter().enumerate() {
            match tx.transaction {
                Transaction::KeyTransfer(t) if self.remembered(t, registry) => {
                    verdicts[i] = Some(
                        check_fields(t, &directory, &NothingSeen)
                            .map(|_| ())
                            .map_err(RuleError::new),
                    );
                }
                Transaction::KeyTransfer(t) => {
                    unverified.push(t.clone());
                    positions.push(i);
                }
                other => {
                    verdicts[i] = Some(Err(RuleError::new(TransferError::WrongKind(other.kind()))))
                }
            }
        }
        let checked = check_key_transfers(&unverified, &directory, &NothingSeen, self.threads);
        for (i, verdict) in positions.into_iter().zip(checked) {
            verdicts[i] = Some(verdict.map_err(RuleError::new));
        }
        verdicts
            .into_iter()
            .map(|v| v.unwrap_or_else(|| Err(RuleError::new(TransferError::NotChecked))))
            .collect()
    }
}

fn transfer_id(tx: &KeyTransferTx) -> Txid {
    Transaction::KeyTransfer(tx.clone()).txid()
}

/// What a valid signature of `tx` is remembered as: its id and its source's key in
/// `registry` (none if the source is not registered).
fn checked(tx: &KeyTransferTx, registry: &Registry) -> Option<Checked> {
    registry
        .get(tx.source)
        .map(|source| (transfer_id(tx), source.signing_key))
}

/// Signs a mined block as its miner: ECDSA over the block hash.
pub fn sign_block(keys: &MemberKeys, miner: MemberId, block: &mut Block) {
    block.miner = miner;
    block.miner_signature = sign(&keys.signing, block.block_hash().as_bytes());
}
