//! The validation pipeline. Only [`validate`] creates a [`ValidatedBlock`]: code that
//! needs a valid block says so in its signature.

use std::collections::{HashMap, HashSet};

use vkm_block::{
    Amount, Block, BlockHash, MemberId, OutPoint, Role, Timestamp, Transaction, TxKind, TxOut,
    Txid, ValueTx,
};
use vkm_pow::{ProofError, verify_proof};

use crate::registry::Registry;
use crate::rules::{RuleError, SignatureCheck, TransactionRules, TxContext};

/// How far a block's timestamp may run ahead of the validating node's clock.
pub const MAX_FUTURE_MS: u64 = 10_000;

/// Why a block is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// Algorithm 2 failed.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The header claims another difficulty than the chain's.
    #[error("difficulty {found} bits, the chain requires {required}")]
    WrongDifficulty {
        /// In the header.
        found: u8,
        /// The chain's.
        required: u8,
    },
    /// The header's version is not one this code validates.
    #[error("unsupported block version {0}")]
    UnsupportedVersion(u32),
    /// Not after the parent's timestamp.
    #[error("timestamp {block:?} is not after the parent's {parent:?}")]
    TimestampNotAfterParent {
        /// The block's.
        block: Timestamp,
        /// The parent's.
        parent: Timestamp,
    },
    /// Too far ahead of the validating node's clock.
    #[error("timestamp {block:?} is more than {MAX_FUTURE_MS} ms after now ({now:?})")]
    TimestampInFuture {
        /// The block's.
        block: Timestamp,
        /// The validator's clock.
        now: Timestamp,
    },
    /// The miner is not a registered, unrevoked security manager.
    #[error("miner {0} is not a registered security manager")]
    UnknownMiner(MemberId),
    /// The miner's signature over the block hash does not verify.
    #[error("miner signature does not verify")]
    BadMinerSignature,
    /// A transaction appears twice in the block, or is already on the chain.
    #[error("transaction {0} appears twice")]
    DuplicateTransaction(Txid),
    /// A key transfer's sequence number was used before by its source.
    #[error("sequence number {sequence} of {source_sm} reused")]
    SequenceReused {
        /// The source security manager.
        source_sm: MemberId,
        /// The sequence number.
        sequence: u64,
    },
    /// A registry transaction outside genesis without a valid central-manager signature.
    #[error("registry transaction at position {0} is not authorized by a central manager")]
    UnauthorizedRegistry(usize),
    /// A value transaction outside genesis spends nothing.
    #[error("value transaction at position {0} has no inputs")]
    NoInputs(usize),
    /// An input spends an output that does not exist or is already spent (on the branch
    /// or earlier in the block).
    #[error("transaction at position {index} spends {outpoint:?}, which is missing or spent")]
    MissingOrSpentInput {
        /// The spending transaction's position in the block.
        index: usize,
        /// The output it names.
        outpoint: OutPoint,
    },
    /// A value transaction pays out more than its inputs hold (or a sum overflows).
    #[error("transaction at position {index} pays {outputs} from inputs of {inputs}")]
    OutputsExceedInputs {
        /// Its position in the block.
        index: usize,
        /// What its inputs hold.
        inputs: Amount,
        /// What its outputs pay (saturated on overflow).
        outputs: Amount,
    },
    /// No rules are installed for a transaction kind.
    #[error("no rules for transactions of kind {0:?}")]
    NoRules(TxKind),
    /// A transaction breaks its kind's rules.
    #[error("transaction at position {index} is invalid: {error}")]
    Transaction {
        /// Its position in the block.
        index: usize,
        /// What is wrong.
        error: RuleError,
    },
}

/// The rule set a ledger validates with.
#[derive(Clone)]
pub struct RuleSet {
    /// Member signature verification.
    pub signatures: std::sync::Arc<dyn SignatureCheck>,
    /// Per-kind transaction rules (registry transactions are the ledger's own).
    pub kinds: Vec<std::sync::Arc<dyn TransactionRules>>,
}

impl core::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let kinds: Vec<TxKind> = self.kinds.iter().map(|k| k.kind()).collect();
        f.debug_struct("RuleSet")
            .field("kinds", &kinds)
            .finish_non_exhaustive()
    }
}

/// What a block is validated against: its parent and the chain state after the parent.
pub struct Context<'a> {
    /// The parent's hash.
    pub parent: BlockHash,
    /// The parent's height.
    pub parent_height: u64,
    /// The parent's timestamp.
    pub parent_timestamp: Timestamp,
    /// The chain's difficulty.
    pub difficulty_bits: u8,
    /// Members registered after the parent.
    pub registry: &'a Registry,
    /// Whether a transaction id is already on the branch.
    pub has_txid: &'a dyn Fn(&Txid) -> bool,
    /// Whether `(source, sequence)` was already used on the branch.
    pub has_sequence: &'a dyn Fn(MemberId, u64) -> bool,
    /// The unspent output at an outpoint after the parent, if any.
    pub utxo: &'a dyn Fn(&OutPoint) -> Option<TxOut>,
    /// The validating node's clock.
    pub now: Timestamp,
}

/// A block that passed every check against its parent's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedBlock {
    block: Block,
    hash: BlockHash,
    height: u64,
    txids: Vec<Txid>,
    spent: Vec<TxOut>,
}

impl ValidatedBlock {
    /// The block.
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// Its hash.
    pub fn hash(&self) -> BlockHash {
        self.hash
    }

    /// Its height.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Its transaction ids, in block order.
    pub fn txids(&self) -> &[Txid] {
        &self.txids
    }

    /// The outputs its value transactions spend, in block and input order (the undo data
    /// of a reorganisation).
    pub fn spent_outputs(&self) -> &[TxOut] {
        &self.spent
    }

    /// The block, consumed.
    pub fn into_block(self) -> Block {
        self.block
    }

    /// The genesis block, trusted as configured: not mined, only its merkle root is
    /// checked.
    pub(crate) fn genesis(block: Block) -> Result<Self, BlockError> {
        let txids = block.txids();
        let computed = vkm_block::merkle_root(&txids);
        if computed != block.header.merkle_root {
            return Err(BlockError::Proof(ProofError::MerkleRootMismatch {
                header: block.header.merkle_root,
                computed,
            }));
        }
        if let Some(index) = block
            .transactions
            .iter()
            .position(|tx| matches!(tx, Transaction::Value(v) if !v.inputs.is_empty()))
        {
            let Transaction::Value(v) = &block.transactions[index] else {
                unreachable!("position found a value transaction")
            };
            return Err(BlockError::MissingOrSpentInput {
                index,
                outpoint: v.inputs[0].previous_output,
            });
        }
        let hash = block.block_hash();
        Ok(Self {
            block,
            hash,
            height: 0,
            txids,
            spent: Vec::new(),
        })
    }
}

/// The checks that need no chain state: version, difficulty, Algorithm 2, time against
/// the clock, no transaction twice within the block. Returns the block hash and txids.
pub fn check_context_free(
    block: &Block,
    difficulty_bits: u8,
    now: Timestamp,
) -> Result<(BlockHash, Vec<Txid>), BlockError> {
    if block.header.version != vkm_block::BlockHeader::VERSION {
        return Err(BlockError::UnsupportedVersion(block.header.version));
    }
    if block.header.difficulty_bits != difficulty_bits {
        return Err(BlockError::WrongDifficulty {
            found: block.header.difficulty_bits,
            required: difficulty_bits,
        });
    }
    if block.header.timestamp.0 > now.0.saturating_add(MAX_FUTURE_MS) {
        return Err(BlockError::TimestampInFuture {
            block: block.header.timestamp,
            now,
        });
    }
    let hash = verify_proof(block)?;
    let txids = block.txids();
    let mut seen = HashSet::with_capacity(txids.len());
    for txid in &txids {
        if !seen.insert(*txid) {
            return Err(BlockError::DuplicateTransaction(*txid));
        }
    }
    Ok((hash, txids))
}

/// Whether a registry transaction is signed by a central manager of `registry` (what
/// every registry transaction after genesis must be).
pub fn registry_authorized(
    tx: &vkm_block::RegistryTx,
    registry: &Registry,
    signatures: &dyn SignatureCheck,
) -> bool {
    tx.authorization.as_ref().is_some_and(|auth| {
        registry
            .get(auth.signer)
            .filter(|m| m.role == Role::CentralManager)
            .is_some_and(|cm| {
                signatures.verify(cm, &tx.signing_preimage(auth.signer), &auth.signature)
            })
    })
}

/// The full pipeline: context-free checks, link and time after the parent, the miner,
/// sequence numbers, registry authorizations, and every transaction under its kind's rules.
pub fn validate(
    block: Block,
    ctx: &Context<'_>,
    rules: &RuleSet,
) -> Result<ValidatedBlock, BlockError> {
    let (hash, txids) = check_context_free(&block, ctx.difficulty_bits, ctx.now)?;
    if block.header.timestamp <= ctx.parent_timestamp {
        return Err(BlockError::TimestampNotAfterParent {
            block: block.header.timestamp,
            parent: ctx.parent_timestamp,
        });
    }
    let miner = ctx
        .registry
        .security_manager(block.miner)
        .ok_or(BlockError::UnknownMiner(block.miner))?;
    if !rules
        .signatures
        .verify(miner, hash.as_bytes(), &block.miner_signature)
    {
        return Err(BlockError::BadMinerSignature);
    }

    let spent = spend_coins(&block, &txids, ctx)?;
    let mut sequences = HashSet::new();
    let mut by_kind: Vec<(TxKind, Vec<(usize, &Transaction)>)> = Vec::new();
    for (index, (tx, txid)) in block.transactions.iter().zip(&txids).enumerate() {
        if (ctx.has_txid)(txid) {
            return Err(BlockError::DuplicateTransaction(*txid));
        }
        match tx {
            Transaction::KeyTransfer(t) => {
                if (ctx.has_sequence)(t.source, t.sequence)
                    || !sequences.insert((t.source, t.sequence))
                {
                    return Err(BlockError::SequenceReused {
                        source_sm: t.source,
                        sequence: t.sequence,
                    });
                }
            }
            Transaction::Registry(r) => {
                if !registry_authorized(r, ctx.registry, rules.signatures.as_ref()) {
                    return Err(BlockError::UnauthorizedRegistry(index));
                }
                continue;
            }
            Transaction::Value(_) => {}
        }
        match by_kind.iter_mut().find(|(k, _)| *k == tx.kind()) {
            Some((_, list)) => list.push((index, tx)),
            None => by_kind.push((tx.kind(), vec![(index, tx)])),
        }
    }
    let mut spent_by_tx = Vec::with_capacity(block.transactions.len());
    let mut offset = 0;
    for tx in &block.transactions {
        let n = match tx {
            Transaction::Value(v) => v.inputs.len(),
            _ => 0,
        };
        spent_by_tx.push(&spent[offset..offset + n]);
        offset += n;
    }
    for (kind, list) in by_kind {
        let rule = rules
            .kinds
            .iter()
            .find(|r| r.kind() == kind)
            .ok_or(BlockError::NoRules(kind))?;
        let txs: Vec<TxContext<'_>> = list
            .iter()
            .map(|(index, tx)| TxContext {
                transaction: tx,
                spent_outputs: spent_by_tx[*index],
            })
            .collect();
        for ((index, _), verdict) in list.iter().zip(rule.check_batch(&txs, ctx.registry)) {
            verdict.map_err(|error| BlockError::Transaction {
                index: *index,
                error,
            })?;
        }
    }
    Ok(ValidatedBlock {
        block,
        hash,
        height: ctx.parent_height + 1,
        txids,
        spent,
    })
}

/// Whether an output can never be spent (its locking script starts with OP_RETURN,
/// 0x6a): such outputs carry data and are not kept in the UTXO set.
pub fn is_unspendable(output: &TxOut) -> bool {
    output.locking_script.as_bytes().first() == Some(&0x6a)
}

/// The outputs `tx` creates that enter the UTXO set.
pub(crate) fn created_outputs<'a>(
    tx: &'a ValueTx,
    txid: Txid,
) -> impl Iterator<Item = (OutPoint, &'a TxOut)> + 'a {
    tx.outputs
        .iter()
        .enumerate()
        .filter(|(_, out)| !is_unspendable(out))
        .map(move |(vout, out)| {
            (
                OutPoint {
                    txid,
                    vout: vout as u32,
                },
                out,
            )
        })
}

/// The coin accounting of one value transaction, the transaction at position `index` of
/// its block: it spends something, every input names an output `lookup` finds (and none
/// twice), and its outputs do not exceed its inputs. Returns the spent outputs in input
/// order. The ledger checks every block with it; a node checks arrivals with it against
/// its best chain, so both apply one rule.
pub fn check_spend(
    index: usize,
    tx: &ValueTx,
    mut lookup: impl FnMut(&OutPoint) -> Option<TxOut>,
) -> Result<Vec<TxOut>, BlockError> {
    if tx.inputs.is_empty() {
        return Err(BlockError::NoInputs(index));
    }
    let mut seen = HashSet::with_capacity(tx.inputs.len());
    let mut inputs = Amount(0);
    let mut spent = Vec::with_capacity(tx.inputs.len());
    for input in &tx.inputs {
        let outpoint = input.previous_output;
        let output = seen
            .insert(outpoint)
            .then(|| lookup(&outpoint))
            .flatten()
            .ok_or(BlockError::MissingOrSpentInput { index, outpoint })?;
        inputs = inputs
            .checked_add(output.amount)
            .unwrap_or(Amount(u64::MAX));
        spent.push(output);
    }
    let outputs = tx
        .outputs
        .iter()
        .try_fold(Amount(0), |sum, out| sum.checked_add(out.amount));
    match outputs {
        Some(outputs) if outputs <= inputs => Ok(spent),
        _ => Err(BlockError::OutputsExceedInputs {
            index,
            inputs,
            outputs: outputs.unwrap_or(Amount(u64::MAX)),
        }),
    }
}

/// The coin accounting of a block's value transactions, in block order ([`check_spend`]
/// each, against the branch's unspent outputs and those created earlier in the block and
/// not yet spent). Returns the spent outputs in input order.
fn spend_coins(block: &Block, txids: &[Txid], ctx: &Context<'_>) -> Result<Vec<TxOut>, BlockError> {
    let mut created: HashMap<OutPoint, TxOut> = HashMap::new();
    let mut spent_here: HashSet<OutPoint> = HashSet::new();
    let mut spent = Vec::new();
    for (index, (tx, txid)) in block.transactions.iter().zip(txids).enumerate() {
        let Transaction::Value(v) = tx else { continue };
        spent.extend(check_spend(index, v, |outpoint| {
            if spent_here.insert(*outpoint) {
                created.remove(outpoint).or_else(|| (ctx.utxo)(outpoint))
            } else {
                None
            }
        })?);
        for (outpoint, out) in created_outputs(v, *txid) {
            created.insert(outpoint, out.clone());
        }
    }
    Ok(spent)
}
