//! The ledger's rules for what this crate knows: member signatures (miner signatures,
//! registry authorizations) and key-transfer transactions, both verified with cached
//! per-key tables.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use vkm_block::{Block, CompactSignature, DomainName, Member, MemberId, Role, Transaction, TxKind};
use vkm_ledger::{Registry, RuleError, RuleSet, SignatureCheck, TransactionRules};

use crate::directory::{Directory, RegisteredMember};
use crate::keys::MemberKeys;
use crate::signature::sign;
use crate::transfer::{SequenceLog, check_key_transfers};

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
    pub fn directory(&self, registry: &Registry) -> PreparedDirectory {
        PreparedDirectory {
            members: registry
                .members()
                .filter_map(|m| self.get(m).map(|p| (m.id, p)))
                .collect(),
        }
    }
}

/// A registry snapshot with every member prepared: a [`Directory`] for the transfer checks.
#[derive(Debug, Default)]
pub struct PreparedDirectory {
    members: HashMap<MemberId, Arc<RegisteredMember>>,
}

impl Directory for PreparedDirectory {
    fn member(&self, id: MemberId) -> Option<&RegisteredMember> {
        self.members.get(&id).map(|m| m.as_ref())
    }

    fn central_manager_of(&self, domain: &DomainName) -> Option<&RegisteredMember> {
        self.members
            .values()
            .map(|m| m.as_ref())
            .find(|m| m.record.role == Role::CentralManager && m.record.domain == *domain)
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
#[derive(Debug, Clone)]
pub struct KeyTransferRules {
    cache: Arc<MemberCache>,
    threads: usize,
}

impl KeyTransferRules {
    /// Rules verifying a block's signatures on `threads` threads.
    pub fn new(threads: usize) -> Self {
        Self {
            cache: Arc::new(MemberCache::default()),
            threads: threads.max(1),
        }
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

    fn check_batch(&self, txs: &[&Transaction], registry: &Registry) -> Vec<Result<(), RuleError>> {
        let directory = self.cache.directory(registry);
        let transfers: Vec<_> = txs
            .iter()
            .filter_map(|tx| match tx {
                Transaction::KeyTransfer(t) => Some(t.clone()),
                _ => None,
            })
            .collect();
        let mut verdicts =
            check_key_transfers(&transfers, &directory, &NothingSeen, self.threads).into_iter();
        txs.iter()
            .map(|tx| match tx {
                Transaction::KeyTransfer(_) => match verdicts.next() {
                    Some(Ok(())) => Ok(()),
                    Some(Err(e)) => Err(RuleError(e.to_string())),
                    None => Err(RuleError("not checked".into())),
                },
                other => Err(RuleError(format!("not a key transfer: {:?}", other.kind()))),
            })
            .collect()
    }
}

/// Signs a mined block as its miner: ECDSA over the block hash.
pub fn sign_block(keys: &MemberKeys, miner: MemberId, block: &mut Block) {
    block.miner = miner;
    block.miner_signature = sign(&keys.signing, block.block_hash().as_bytes());
}
