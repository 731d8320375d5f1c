//! The ledger's rules for what this crate knows: member signatures (miner signatures,
//! registry authorizations) and key-transfer transactions, both verified with cached
//! per-key tables.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use vkm_block::{
    Block, CompactSignature, DomainName, KeyTransferTx, Member, MemberId, PublicKeyBytes, Role,
    Transaction, TxKind, Txid,
};
use vkm_ledger::{Registry, RuleError, RuleSet, SignatureCheck, TransactionRules, TxContext};

use crate::directory::{Directory, RegisteredMember};
use crate::keys::MemberKeys;
use crate::signature::sign;
use crate::transfer::{
    SequenceLog, TransferError, check_fields, check_key_transfer, check_key_transfers,
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
}

/// Replay is the ledger's check; the transfer rules see no history.
struct NothingSeen;

impl SequenceLog for NothingSeen {
    fn has_seen(&self, _source: MemberId, _sequence: u64) -> bool {
        false
    }
}

/// The key-transfer crate's rules for the ledger.
///
/// Transfers checked on arrival ([`KeyTransferRules::check_and_remember`]) are remembered
/// by id and signer key, so block validation does not verify their signatures again; every
/// other rule is checked again against the block's registry.
#[derive(Debug, Clone)]
pub struct KeyTransferRules {
    cache: Arc<MemberCache>,
    threads: usize,
    verified: Arc<Mutex<HashSet<(Txid, PublicKeyBytes)>>>,
}

impl KeyTransferRules {
    /// Rules verifying a block's signatures on `threads` threads.
    pub fn new(threads: usize) -> Self {
        Self {
            cache: Arc::new(MemberCache::default()),
            threads: threads.max(1),
            verified: Arc::new(Mutex::new(HashSet::new())),
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
    /// and `log`) and remembers it when valid.
    pub fn check_and_remember<L: SequenceLog + ?Sized>(
        &self,
        tx: &KeyTransferTx,
        registry: &Registry,
        log: &L,
    ) -> Result<(), TransferError> {
        let directory = self.cache.directory(registry);
        check_key_transfer(tx, &directory, log)?;
        if let (Some(source), Ok(mut verified)) = (registry.get(tx.source), self.verified.lock()) {
            if verified.len() >= MAX_REMEMBERED {
                verified.clear();
            }
            verified.insert((
                Transaction::KeyTransfer(tx.clone()).txid(),
                source.signing_key,
            ));
        }
        Ok(())
    }

    fn remembered(&self, tx: &KeyTransferTx, registry: &Registry) -> bool {
        let Some(source) = registry.get(tx.source) else {
            return false;
        };
        let key = (
            Transaction::KeyTransfer(tx.clone()).txid(),
            source.signing_key,
        );
        self.verified.lock().is_ok_and(|v| v.contains(&key))
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
                            .map_err(|e| RuleError(e.to_string())),
                    );
                }
                Transaction::KeyTransfer(t) => {
                    unverified.push(t.clone());
                    positions.push(i);
                }
                other => {
                    verdicts[i] = Some(Err(RuleError(format!(
                        "not a key transfer: {:?}",
                        other.kind()
                    ))))
                }
            }
        }
        let checked = check_key_transfers(&unverified, &directory, &NothingSeen, self.threads);
        for (i, verdict) in positions.into_iter().zip(checked) {
            verdicts[i] = Some(verdict.map_err(|e| RuleError(e.to_string())));
        }
        verdicts
            .into_iter()
            .map(|v| v.unwrap_or_else(|| Err(RuleError("not checked".into()))))
            .collect()
    }
}

/// Signs a mined block as its miner: ECDSA over the block hash.
pub fn sign_block(keys: &MemberKeys, miner: MemberId, block: &mut Block) {
    block.miner = miner;
    block.miner_signature = sign(&keys.signing, block.block_hash().as_bytes());
}
