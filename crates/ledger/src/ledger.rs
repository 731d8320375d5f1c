//! The chain state: fork choice by most cumulative work (the lower tip hash on ties),
//! reorganisation, a bounded orphan pool, persistence in redb, queries.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;

use redb::{
    Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, WriteTransaction,
};
use vkm_block::{
    Block, BlockHash, InclusionProof, MemberId, OutPoint, Timestamp, Transaction, TxOut, Txid,
    deserialize, dhash, serialize,
};

use crate::registry::Registry;
use crate::store::{
    ADMITTED, BLOCKS, MAIN, META, Meta, OUTBOX, REGISTRY, SEQUENCES, SpentOutputs, TRANSFERS, TXS,
    UNDO, UTXOS, UTXOS_BY_SCRIPT, block_work,
};
use crate::validate::{
    BlockError, Context, RuleSet, ValidatedBlock, check_context_free, created_outputs, validate,
};

/// Most blocks held while their parent is unknown.
pub const MAX_ORPHANS: usize = 256;

/// A ledger operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The block is invalid; the chain and the store are unchanged.
    #[error("invalid block {hash}: {error}")]
    Invalid {
        /// The block's hash.
        hash: BlockHash,
        /// The check it failed.
        error: BlockError,
    },
    /// The store failed (I/O, corruption detected by redb).
    #[error("storage error: {0}")]
    Storage(#[source] Box<redb::Error>),
    /// The store holds another chain.
    #[error("the store holds the chain of genesis {stored}, not {expected}")]
    WrongGenesis {
        /// Genesis in the store.
        stored: BlockHash,
        /// Genesis given.
        expected: BlockHash,
    },
    /// Stored data does not decode.
    #[error("the store is corrupt: {0}")]
    Corrupt(String),
    /// A table of the store disagrees with the blocks it indexes (found by
    /// [`Ledger::revalidate`] or a lookup that checks what it found).
    #[error("the store is damaged: table {table}: {detail}")]
    Damaged {
        /// The redb table.
        table: &'static str,
        /// What disagrees (the key, height or entry).
        detail: String,
    },
    /// The ledger was opened read-only ([`Ledger::open_read_only`]).
    #[error("the store is open read-only")]
    ReadOnly,
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than the operation reads.
    #[error("{} is larger than {max} bytes", path.display())]
    TooLarge {
        /// The file.
        path: std::path::PathBuf,
        /// The limit.
        max: u64,
    },
    /// A repair writes a new store and never over an existing file.
    #[error("{} exists: a repair writes a new store", .0.display())]
    OutputExists(std::path::PathBuf),
    /// No genesis block could be chosen for a repair: give it.
    #[error(
        "no genesis block to rebuild from ({found} parentless blocks found): give the genesis block"
    )]
    NoGenesis {
        /// Blocks found with no parent.
        found: usize,
    },
}

/// A ledger's redb database: writable, or opened read-only for inspection (never a
/// byte written).
enum Store {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
}

impl Store {
    fn begin_read(&self) -> Result<ReadTransaction, LedgerError> {
        match self {
            Self::Writable(db) => db.begin_read(),
            Self::ReadOnly(db) => db.begin_read(),
        }
        .map_err(storage)
    }

    /// A write transaction committed in two phases: blocks carry data chosen by peers,
    /// and redb's one-phase commit trusts a non-cryptographic checksum to tell a torn
    /// commit from a whole one (`docs/storage.md`). One commit per block makes the second
    /// `fsync` cheap.
    fn begin_write(&self) -> Result<WriteTransaction, LedgerError> {
        match self {
            Self::Writable(db) => {
                let mut wtxn = db.begin_write().map_err(storage)?;
                wtxn.set_two_phase_commit(true);
                Ok(wtxn)
            }
            Self::ReadOnly(_) => Err(LedgerError::ReadOnly),
        }
    }
}

fn damaged(table: &'static str, detail: impl Into<String>) -> LedgerError {
    LedgerError::Damaged {
        table,
        detail: detail.into(),
    }
}

fn storage<E: Into<redb::Error>>(e: E) -> LedgerError {
    LedgerError::Storage(Box::new(e.into()))
}

/// What accepting a block did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// The best chain changed: blocks were connected (and, in a reorganisation,
    /// disconnected first).
    Connected(ChainUpdate),
    /// Stored on a side branch with less work than the best chain.
    SideBranch(BlockHash),
    /// Held until its parent arrives.
    Orphan(BlockHash),
    /// Already known.
    AlreadyKnown(BlockHash),
}

/// How the best chain changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainUpdate {
    /// Blocks removed from the best chain, tip first.
    pub disconnected: Vec<Block>,
    /// Blocks added to the best chain, in height order.
    pub connected: Vec<ValidatedBlock>,
}

/// Where a transaction sits on the best chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxLocation {
    /// The transaction.
    pub transaction: Transaction,
    /// Its block.
    pub block: BlockHash,
    /// The block's height.
    pub height: u64,
    /// Its position in the block.
    pub position: u32,
    /// Its merkle inclusion proof against the block's header.
    pub proof: InclusionProof,
}

/// A summary of the best chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSummary {
    /// Height of the tip (genesis is 0).
    pub height: u64,
    /// The tip.
    pub tip: BlockHash,
    /// Blocks on the best chain, genesis included.
    pub blocks: u64,
    /// Transactions on the best chain.
    pub transactions: u64,
}

#[derive(Debug, Default)]
struct OrphanPool {
    by_parent: HashMap<BlockHash, Vec<Block>>,
    order: VecDeque<(BlockHash, BlockHash)>,
}

impl OrphanPool {
    fn insert(&mut self, block: Block, hash: BlockHash) {
        if self.order.iter().any(|(_, h)| *h == hash) {
            return;
        }
        let parent = block.header.prev_block;
        self.by_parent.entry(parent).or_default().push(block);
        self.order.push_back((parent, hash));
        while self.order.len() > MAX_ORPHANS {
            if let Some((parent, hash)) = self.order.pop_front()
                && let Some(list) = self.by_parent.get_mut(&parent)
            {
                list.retain(|b| b.block_hash() != hash);
                if list.is_empty() {
                    self.by_parent.remove(&parent);
                }
            }
        }
    }

    fn take_children(&mut self, parent: &BlockHash) -> Vec<Block> {
        let children = self.by_parent.remove(parent).unwrap_or_default();
        self.order.retain(|(p, _)| p != parent);
        children
    }

    fn len(&self) -> usize {
        self.order.len()
    }
}

/// A security manager's copy of the chain.
pub struct Ledger {
    db: Store,
    rules: RuleSet,
    difficulty_bits: u8,
    genesis: BlockHash,
    index: HashMap<BlockHash, Meta>,
    main: Vec<BlockHash>,
    registry: Registry,
    orphans: OrphanPool,
    reorgs: u64,
}

impl core::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ledger")
            .field("genesis", &self.genesis)
            .field("height", &self.height())
            .field("tip", &self.tip())
            .finish_non_exhaustive()
    }
}

/// The last registry snapshot at or below `height`.
fn registry_from<T: ReadableTable<u64, &'static [u8]>>(
    table: &T,
    height: u64,
) -> Result<Registry, LedgerError> {
    let mut range = table.range(..=height).map_err(storage)?;
    let (_, bytes) = range
        .next_back()
        .ok_or_else(|| LedgerError::Corrupt("no registry".into()))?
        .map_err(storage)?;
    deserialize(bytes.value()).map_err(|e| LedgerError::Corrupt(format!("registry: {e}")))
}

/// The unspent outputs and their index by script, changed together.
struct Utxos<'t> {
    outputs: redb::Table<'t, ([u8; 32], u32), &'static [u8]>,
    by_script: redb::Table<'t, ([u8; 32], [u8; 32], u32), ()>,
}

impl<'t> Utxos<'t> {
    fn open(wtxn: &'t WriteTransaction) -> Result<Self, LedgerError> {
        Ok(Self {
            outputs: wtxn.open_table(UTXOS).map_err(storage)?,
            by_script: wtxn.open_table(UTXOS_BY_SCRIPT).map_err(storage)?,
        })
    }

    fn insert(&mut self, o: &OutPoint, out: &TxOut) -> Result<(), LedgerError> {
        self.outputs
            .insert((o.txid.0, o.vout), serialize(out).as_slice())
            .map_err(storage)?;
        self.by_script
            .insert((dhash(out.locking_script.as_bytes()), o.txid.0, o.vout), ())
            .map_err(storage)?;
        Ok(())
    }

    fn remove(&mut self, o: &OutPoint) -> Result<(), LedgerError> {
        let removed = self
            .outputs
            .remove((o.txid.0, o.vout))
            .map_err(storage)?
            .map(|bytes| deserialize::<TxOut>(bytes.value()));
        if let Some(out) = removed {
            let out = out.map_err(|e| LedgerError::Corrupt(format!("stored output: {e}")))?;
            self.by_script
                .remove((dhash(out.locking_script.as_bytes()), o.txid.0, o.vout))
                .map_err(storage)?;
        }
        Ok(())
    }

    /// Rebuilds the index by script from the outputs.
    fn reindex(&mut self) -> Result<(), LedgerError> {
        self.by_script.retain(|_, _| false).map_err(storage)?;
        for entry in self.outputs.iter().map_err(storage)? {
            let (key, bytes) = entry.map_err(storage)?;
            let out: TxOut = deserialize(bytes.value())
                .map_err(|e| LedgerError::Corrupt(format!("stored output: {e}")))?;
            let (txid, vout) = key.value();
            self.by_script
                .insert((dhash(out.locking_script.as_bytes()), txid, vout), ())
                .map_err(storage)?;
        }
        Ok(())
    }
}

/// A table that an older store, or one that never wrote it, may not have.
fn open_if_present<K: redb::Key + 'static, V: redb::Value + 'static>(
    read: &ReadTransaction,
    table: redb::TableDefinition<'static, K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, LedgerError> {
    match read.open_table(table) {
        Ok(table) => Ok(Some(table)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(storage(e)),
    }
}

fn decode_block(bytes: &[u8]) -> Result<Block, LedgerError> {
    deserialize(bytes).map_err(|e| LedgerError::Corrupt(format!("stored block: {e}")))
}

impl Ledger {
    /// Opens the store at `path`, creating it with `genesis` (whose registry transaction
    /// lists the initial members) if it is new. The chain's difficulty is the genesis
    /// header's.
    pub fn open(
        path: impl AsRef<Path>,
        genesis: &Block,
        rules: RuleSet,
    ) -> Result<Self, LedgerError> {
        Self::with_database(Database::create(path).map_err(storage)?, genesis, rules)
    }

    /// A ledger held in memory only (simulations, tests): nothing is written to disk and
    /// everything is lost on drop.
    pub fn in_memory(genesis: &Block, rules: RuleSet) -> Result<Self, LedgerError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(storage)?;
        Self::with_database(db, genesis, rules)
    }

    fn with_database(db: Database, genesis: &Block, rules: RuleSet) -> Result<Self, LedgerError> {
        let genesis_hash = genesis.block_hash();
        let mut ledger = Self {
            db: Store::Writable(db),
            rules,
            difficulty_bits: genesis.header.difficulty_bits,
            genesis: genesis_hash,
            index: HashMap::new(),
            main: Vec::new(),
            registry: Registry::default(),
            orphans: OrphanPool::default(),
            reorgs: 0,
        };
        if ledger.load()? {
            // A store written before the index by script existed: rebuild it (the only
            // write an open makes, and only then).
            if !ledger.index_by_script_complete()? {
                let wtxn = ledger.db.begin_write()?;
                Utxos::open(&wtxn)?.reindex()?;
                wtxn.commit().map_err(storage)?;
            }
        } else {
            ledger.initialise(genesis)?;
        }
        if ledger.main.first() != Some(&genesis_hash) {
            return Err(LedgerError::WrongGenesis {
                stored: ledger.main.first().copied().unwrap_or_default(),
                expected: genesis_hash,
            });
        }
        Ok(ledger)
    }

    /// Opens an existing store, whose genesis block it reads from the store itself.
    pub fn open_existing(path: impl AsRef<Path>, rules: RuleSet) -> Result<Self, LedgerError> {
        let genesis = {
            let db = Database::open(path.as_ref()).map_err(storage)?;
            let read = db.begin_read().map_err(storage)?;
            let main = read.open_table(MAIN).map_err(storage)?;
            let hash = main
                .get(0)
                .map_err(storage)?
                .ok_or_else(|| LedgerError::Corrupt("no genesis".into()))?
                .value();
            let blocks = read.open_table(BLOCKS).map_err(storage)?;
            let bytes = blocks
                .get(hash)
                .map_err(storage)?
                .ok_or_else(|| LedgerError::Corrupt("genesis block missing".into()))?;
            decode_block(bytes.value())?
        };
        Self::open(path, &genesis, rules)
    }

    /// Opens the store at `path` read-only, for inspection: nothing is written, not even
    /// the repair redb would make of an uncleanly closed file (refused instead), and
    /// [`Ledger::accept`] fails with [`LedgerError::ReadOnly`].
    pub fn open_read_only(path: impl AsRef<Path>, rules: RuleSet) -> Result<Self, LedgerError> {
        let db = ReadOnlyDatabase::open(path.as_ref()).map_err(storage)?;
        let mut ledger = Self {
            db: Store::ReadOnly(db),
            rules,
            difficulty_bits: 0,
            genesis: BlockHash::default(),
            index: HashMap::new(),
            main: Vec::new(),
            registry: Registry::default(),
            orphans: OrphanPool::default(),
            reorgs: 0,
        };
        if !ledger.load()? {
            return Err(LedgerError::Corrupt("the store holds no chain".into()));
        }
        let genesis = ledger
            .block_at(0)?
            .ok_or_else(|| damaged("blocks", "the genesis block is missing"))?;
        ledger.genesis = genesis.block_hash();
        ledger.difficulty_bits = genesis.header.difficulty_bits;
        Ok(ledger)
    }

    /// Whether the index by script lists as many outputs as the unspent set.
    fn index_by_script_complete(&self) -> Result<bool, LedgerError> {
        let read = self.db.begin_read()?;
        let count = |t: Result<u64, redb::StorageError>| t.map_err(storage);
        let outputs = match read.open_table(UTXOS) {
            Ok(t) => count(t.len())?,
            Err(redb::TableError::TableDoesNotExist(_)) => 0,
            Err(e) => return Err(storage(e)),
        };
        let indexed = match read.open_table(UTXOS_BY_SCRIPT) {
            Ok(t) => count(t.len())?,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(outputs == 0),
            Err(e) => return Err(storage(e)),
        };
        Ok(indexed == outputs)
    }

    /// Loads the in-memory index from the store; `false` if the store is empty.
    fn load(&mut self) -> Result<bool, LedgerError> {
        let read = self.db.begin_read()?;
        let main = match read.open_table(MAIN) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(storage(e)),
        };
        for entry in main.iter().map_err(storage)? {
            let (_, hash) = entry.map_err(storage)?;
            self.main.push(BlockHash(hash.value()));
        }
        if self.main.is_empty() {
            return Ok(false);
        }
        let meta = read.open_table(META).map_err(storage)?;
        for entry in meta.iter().map_err(storage)? {
            let (hash, value) = entry.map_err(storage)?;
            self.index
                .insert(BlockHash(hash.value()), Meta::from_bytes(&value.value()));
        }
        let registry = read.open_table(REGISTRY).map_err(storage)?;
        let last = registry.last().map_err(storage)?;
        let (_, bytes) = last.ok_or_else(|| LedgerError::Corrupt("no registry".into()))?;
        self.registry = deserialize(bytes.value())
            .map_err(|e| LedgerError::Corrupt(format!("registry: {e}")))?;
        Ok(true)
    }

    fn initialise(&mut self, genesis: &Block) -> Result<(), LedgerError> {
        let hash = genesis.block_hash();
        let invalid = |error| LedgerError::Invalid { hash, error };
        let validated = ValidatedBlock::genesis(genesis.clone()).map_err(invalid)?;
        let mut registry = Registry::default();
        for tx in &genesis.transactions {
            if let Transaction::Registry(r) = tx {
                registry.apply(r);
            }
        }
        let wtxn = self.db.begin_write()?;
        let meta = Meta {
            parent: [0; 32],
            height: 0,
            work: block_work(genesis.header.difficulty_bits),
            timestamp: genesis.header.timestamp.0,
        };
        Self::write_block(&wtxn, &validated, meta, Some(&registry))?;
        wtxn.open_table(UNDO).map_err(storage)?;
        wtxn.commit().map_err(storage)?;
        self.index.insert(hash, meta);
        self.main = vec![hash];
        self.registry = registry;
        Ok(())
    }

    /// Writes a validated block as the main-chain block at its height.
    fn write_block(
        wtxn: &WriteTransaction,
        block: &ValidatedBlock,
        meta: Meta,
        registry: Option<&Registry>,
    ) -> Result<(), LedgerError> {
        let hash = block.hash().0;
        wtxn.open_table(BLOCKS)
            .map_err(storage)?
            .insert(hash, serialize(block.block()).as_slice())
            .map_err(storage)?;
        wtxn.open_table(META)
            .map_err(storage)?
            .insert(hash, meta.to_bytes())
            .map_err(storage)?;
        wtxn.open_table(MAIN)
            .map_err(storage)?
            .insert(meta.height, hash)
            .map_err(storage)?;
        let mut txs = wtxn.open_table(TXS).map_err(storage)?;
        let mut sequences = wtxn.open_table(SEQUENCES).map_err(storage)?;
        let mut transfers = wtxn.open_table(TRANSFERS).map_err(storage)?;
        let mut utxos = Utxos::open(wtxn)?;
        for (position, (tx, txid)) in block
            .block()
            .transactions
            .iter()
            .zip(block.txids())
            .enumerate()
        {
            txs.insert(txid.0, (hash, position as u32))
                .map_err(storage)?;
            match tx {
                Transaction::KeyTransfer(t) => {
                    sequences
                        .insert((t.source.0, t.sequence), txid.0)
                        .map_err(storage)?;
                    transfers
                        .insert((t.source.0, t.timestamp.0, txid.0), t.destination.0)
                        .map_err(storage)?;
                }
                Transaction::Value(v) => {
                    for input in &v.inputs {
                        utxos.remove(&input.previous_output)?;
                    }
                    for (o, out) in created_outputs(v, *txid) {
                        utxos.insert(&o, out)?;
                    }
                }
                Transaction::Registry(_) => {}
            }
        }
        if !block.spent_outputs().is_empty() {
            let undo = SpentOutputs(block.spent_outputs().to_vec());
            wtxn.open_table(UNDO)
                .map_err(storage)?
                .insert(hash, serialize(&undo).as_slice())
                .map_err(storage)?;
        }
        if let Some(registry) = registry {
            wtxn.open_table(REGISTRY)
                .map_err(storage)?
                .insert(meta.height, serialize(registry).as_slice())
                .map_err(storage)?;
        }
        Ok(())
    }

    /// Removes a main-chain block's index entries (the block itself stays stored).
    fn unwrite_block(
        wtxn: &WriteTransaction,
        block: &Block,
        height: u64,
    ) -> Result<(), LedgerError> {
        let mut txs = wtxn.open_table(TXS).map_err(storage)?;
        let mut sequences = wtxn.open_table(SEQUENCES).map_err(storage)?;
        let mut transfers = wtxn.open_table(TRANSFERS).map_err(storage)?;
        let mut utxos = Utxos::open(wtxn)?;
        let mut spent = {
            let undo = wtxn.open_table(UNDO).map_err(storage)?;
            let stored = undo.get(block.block_hash().0).map_err(storage)?;
            match stored {
                Some(bytes) => {
                    deserialize::<SpentOutputs>(bytes.value())
                        .map_err(|e| LedgerError::Corrupt(format!("undo data: {e}")))?
                        .0
                }
                None => Vec::new(),
            }
        };
        for tx in block.transactions.iter().rev() {
            let txid = tx.txid();
            txs.remove(txid.0).map_err(storage)?;
            match tx {
                Transaction::KeyTransfer(t) => {
                    sequences
                        .remove((t.source.0, t.sequence))
                        .map_err(storage)?;
                    transfers
                        .remove((t.source.0, t.timestamp.0, txid.0))
                        .map_err(storage)?;
                }
                Transaction::Value(v) => {
                    for (o, _) in created_outputs(v, txid) {
                        utxos.remove(&o)?;
                    }
                    for input in v.inputs.iter().rev() {
                        let out = spent
                            .pop()
                            .ok_or_else(|| LedgerError::Corrupt("undo data too short".into()))?;
                        utxos.insert(&input.previous_output, &out)?;
                    }
                }
                Transaction::Registry(_) => {}
            }
        }
        wtxn.open_table(MAIN)
            .map_err(storage)?
            .remove(height)
            .map_err(storage)?;
        wtxn.open_table(REGISTRY)
            .map_err(storage)?
            .remove(height)
            .map_err(storage)?;
        Ok(())
    }

    fn stored_block(
        &self,
        wtxn: &WriteTransaction,
        hash: &BlockHash,
    ) -> Result<Block, LedgerError> {
        let blocks = wtxn.open_table(BLOCKS).map_err(storage)?;
        let bytes = blocks
            .get(hash.0)
            .map_err(storage)?
            .ok_or_else(|| LedgerError::Corrupt(format!("block {hash} missing")))?;
        decode_block(bytes.value())
    }

    fn registry_at_in(wtxn: &WriteTransaction, height: u64) -> Result<Registry, LedgerError> {
        registry_from(&wtxn.open_table(REGISTRY).map_err(storage)?, height)
    }

    /// Offers a block, with the node's clock. An invalid block changes nothing.
    pub fn accept(&mut self, block: Block, now: Timestamp) -> Result<Accepted, LedgerError> {
        if let Store::ReadOnly(_) = self.db {
            return Err(LedgerError::ReadOnly);
        }
        let hash = block.block_hash();
        if self.index.contains_key(&hash) {
            return Ok(Accepted::AlreadyKnown(hash));
        }
        check_context_free(&block, self.difficulty_bits, now)
            .map_err(|error| LedgerError::Invalid { hash, error })?;
        if !self.index.contains_key(&block.header.prev_block) {
            self.orphans.insert(block, hash);
            return Ok(Accepted::Orphan(hash));
        }
        let mut update = ChainUpdate::default();
        let first = self.attach(block, hash, now, &mut update)?;
        let mut queue = vec![hash];
        while let Some(parent) = queue.pop() {
            for child in self.orphans.take_children(&parent) {
                let child_hash = child.block_hash();
                if check_context_free(&child, self.difficulty_bits, now).is_ok()
                    && self.attach(child, child_hash, now, &mut update).is_ok()
                {
                    queue.push(child_hash);
                }
            }
        }
        if update.connected.is_empty() {
            Ok(first)
        } else {
            Ok(Accepted::Connected(update))
        }
    }

    /// Attaches a block whose parent is stored.
    fn attach(
        &mut self,
        block: Block,
        hash: BlockHash,
        now: Timestamp,
        update: &mut ChainUpdate,
    ) -> Result<Accepted, LedgerError> {
        let parent = self.index[&block.header.prev_block];
        let meta = Meta {
            parent: block.header.prev_block.0,
            height: parent.height + 1,
            work: parent
                .work
                .saturating_add(block_work(block.header.difficulty_bits)),
            timestamp: block.header.timestamp.0,
        };
        let tip = self.index[&self.tip()];
        if block.header.prev_block == self.tip() {
            return self.switch(Vec::new(), vec![block], now, update);
        }
        // Equal work: the lower block hash wins, whatever arrived first, so that managers
        // that saw a fork's blocks in different orders agree without waiting for the
        // next block (docs/deviations.md).
        if meta.work < tip.work || (meta.work == tip.work && hash >= self.tip()) {
            let wtxn = self.db.begin_write()?;
            wtxn.open_table(BLOCKS)
                .map_err(storage)?
                .insert(hash.0, serialize(&block).as_slice())
                .map_err(storage)?;
            wtxn.open_table(META)
                .map_err(storage)?
                .insert(hash.0, meta.to_bytes())
                .map_err(storage)?;
            wtxn.commit().map_err(storage)?;
            self.index.insert(hash, meta);
            return Ok(Accepted::SideBranch(hash));
        }
        // More work than the best chain: collect the side branch back to the main chain.
        let mut branch = vec![];
        let mut cursor = block.header.prev_block;
        while self.main.get(self.index[&cursor].height as usize) != Some(&cursor) {
            branch.push(cursor);
            cursor = BlockHash(self.index[&cursor].parent);
        }
        branch.reverse();
        self.switch(branch, vec![block], now, update)
    }

    /// Makes `stored_branch` (already stored side blocks, ascending) followed by `new`
    /// the best chain above their common ancestor with it, in one write transaction.
    fn switch(
        &mut self,
        stored_branch: Vec<BlockHash>,
        new: Vec<Block>,
        now: Timestamp,
        update: &mut ChainUpdate,
    ) -> Result<Accepted, LedgerError> {
        let wtxn = self.db.begin_write()?;
        let mut branch = Vec::with_capacity(stored_branch.len() + new.len());
        for hash in &stored_branch {
            branch.push(self.stored_block(&wtxn, hash)?);
        }
        branch.extend(new);
        let fork = branch[0].header.prev_block;
        let fork_height = self.index[&fork].height;

        let mut disconnected = Vec::new();
        for height in (fork_height + 1..self.main.len() as u64).rev() {
            let block = self.stored_block(&wtxn, &self.main[height as usize])?;
            Self::unwrite_block(&wtxn, &block, height)?;
            disconnected.push(block);
        }
        let mut registry = if disconnected.is_empty() {
            self.registry.clone()
        } else {
            Self::registry_at_in(&wtxn, fork_height)?
        };

        let mut connected = Vec::with_capacity(branch.len());
        let mut parent_hash = fork;
        for block in branch {
            let hash = block.block_hash();
            let parent = self.index[&parent_hash];
            let validated = {
                let txs = wtxn.open_table(TXS).map_err(storage)?;
                let sequences = wtxn.open_table(SEQUENCES).map_err(storage)?;
                let utxos = wtxn.open_table(UTXOS).map_err(storage)?;
                let has_txid = |t: &Txid| txs.get(t.0).map(|v| v.is_some()).unwrap_or(true);
                let has_sequence = |s: MemberId, n: u64| {
                    sequences.get((s.0, n)).map(|v| v.is_some()).unwrap_or(true)
                };
                // A storage or decoding failure reads as "missing": the block is refused
                // rather than accepted on unread state.
                let utxo = |o: &OutPoint| {
                    let stored = utxos.get((o.txid.0, o.vout)).ok().flatten()?;
                    deserialize::<TxOut>(stored.value()).ok()
                };
                let ctx = Context {
                    parent: parent_hash,
                    parent_height: parent.height,
                    parent_timestamp: Timestamp(parent.timestamp),
                    difficulty_bits: self.difficulty_bits,
                    registry: &registry,
                    has_txid: &has_txid,
                    has_sequence: &has_sequence,
                    utxo: &utxo,
                    now,
                };
                validate(block, &ctx, &self.rules)
            };
            let validated = match validated {
                Ok(v) => v,
                Err(error) => {
                    drop(wtxn);
                    return Err(LedgerError::Invalid { hash, error });
                }
            };
            let mut changed = false;
            for tx in &validated.block().transactions {
                if let Transaction::Registry(r) = tx {
                    registry.apply(r);
                    changed = true;
                }
            }
            let meta = Meta {
                parent: parent_hash.0,
                height: parent.height + 1,
                work: parent.work.saturating_add(block_work(self.difficulty_bits)),
                timestamp: validated.block().header.timestamp.0,
            };
            Self::write_block(&wtxn, &validated, meta, changed.then_some(&registry))?;
            parent_hash = hash;
            connected.push((validated, meta));
        }
        wtxn.commit().map_err(storage)?;

        self.main.truncate(fork_height as usize + 1);
        for (validated, meta) in &connected {
            self.index.insert(validated.hash(), *meta);
            self.main.push(validated.hash());
        }
        self.registry = registry;
        if !disconnected.is_empty() {
            self.reorgs += 1;
        }
        update.disconnected.extend(disconnected);
        update
            .connected
            .extend(connected.into_iter().map(|(v, _)| v));
        Ok(Accepted::Connected(ChainUpdate::default()))
    }

    /// The best chain's tip.
    pub fn tip(&self) -> BlockHash {
        self.main.last().copied().unwrap_or(self.genesis)
    }

    /// Height of the tip.
    pub fn height(&self) -> u64 {
        self.main.len().saturating_sub(1) as u64
    }

    /// The tip's timestamp.
    pub fn tip_timestamp(&self) -> Timestamp {
        Timestamp(self.index.get(&self.tip()).map_or(0, |m| m.timestamp))
    }

    /// The chain's difficulty in bits.
    pub fn difficulty_bits(&self) -> u8 {
        self.difficulty_bits
    }

    /// The genesis block's hash.
    pub fn genesis(&self) -> BlockHash {
        self.genesis
    }

    /// Members registered at the tip.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Reorganisations since opening.
    pub fn reorgs(&self) -> u64 {
        self.reorgs
    }

    /// Blocks waiting for their parent.
    pub fn orphans(&self) -> usize {
        self.orphans.len()
    }

    /// Runs `write` in one write transaction committed in one phase (the manager's own
    /// data, not what peers chose, at one commit per transfer), and commits it.
    fn write_own(
        &mut self,
        write: impl FnOnce(&WriteTransaction) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let Store::Writable(db) = &self.db else {
            return Err(LedgerError::ReadOnly);
        };
        let wtxn = db.begin_write().map_err(storage)?;
        write(&wtxn)?;
        wtxn.commit().map_err(storage)
    }

    /// Records a transaction this manager made and must not lose before a block buries
    /// it ([`Ledger::outbox`]), durably, before it is sent anywhere.
    pub fn outbox_put(&mut self, txid: &Txid, tx: &Transaction) -> Result<(), LedgerError> {
        self.write_own(|wtxn| {
            wtxn.open_table(OUTBOX)
                .map_err(storage)?
                .insert(txid.0, serialize(tx).as_slice())
                .map_err(storage)?;
            Ok(())
        })
    }

    /// Forgets outbox entries (their transactions are buried deep enough).
    pub fn outbox_remove(&mut self, txids: &[Txid]) -> Result<(), LedgerError> {
        if txids.is_empty() {
            return Ok(());
        }
        self.write_own(|wtxn| {
            let mut table = wtxn.open_table(OUTBOX).map_err(storage)?;
            for txid in txids {
                table.remove(txid.0).map_err(storage)?;
            }
            Ok(())
        })
    }

    /// The transactions in the outbox, by txid.
    pub fn outbox(&self) -> Result<Vec<(Txid, Transaction)>, LedgerError> {
        let read = self.db.begin_read()?;
        let Some(table) = open_if_present(&read, OUTBOX)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage)? {
            let (txid, bytes) = entry.map_err(storage)?;
            let tx: Transaction = deserialize(bytes.value())
                .map_err(|e| LedgerError::Corrupt(format!("outbox entry: {e}")))?;
            let txid = Txid(txid.value());
            if tx.txid() != txid {
                return Err(damaged(
                    "outbox",
                    format!("the entry for {txid} holds another transaction"),
                ));
            }
            out.push((txid, tx));
        }
        Ok(out)
    }

    /// Records, durably and in one commit, that these key transfers' vehicles were
    /// admitted here.
    pub fn record_admitted(&mut self, txids: &[Txid]) -> Result<(), LedgerError> {
        if txids.is_empty() {
            return Ok(());
        }
        self.write_own(|wtxn| {
            let mut table = wtxn.open_table(ADMITTED).map_err(storage)?;
            for txid in txids {
                table.insert(txid.0, ()).map_err(storage)?;
            }
            Ok(())
        })
    }

    /// The key transfers recorded as admitted ([`Ledger::record_admitted`]).
    pub fn admitted(&self) -> Result<Vec<Txid>, LedgerError> {
        let read = self.db.begin_read()?;
        let Some(table) = open_if_present(&read, ADMITTED)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage)? {
            out.push(Txid(entry.map_err(storage)?.0.value()));
        }
        Ok(out)
    }

    /// The best-chain height of the block holding `txid`, if any.
    pub fn transaction_height(&self, txid: &Txid) -> Result<Option<u64>, LedgerError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(TXS).map_err(storage)?;
        let Some((hash, _)) = table.get(txid.0).map_err(storage)?.map(|v| v.value()) else {
            return Ok(None);
        };
        Ok(self.height_of(&BlockHash(hash)))
    }

    /// The best chain's block hash at `height`.
    pub fn hash_at(&self, height: u64) -> Option<BlockHash> {
        self.main.get(usize::try_from(height).ok()?).copied()
    }

    /// The height of `hash` if it is on the best chain.
    pub fn height_of(&self, hash: &BlockHash) -> Option<u64> {
        let height = self.index.get(hash)?.height;
        (self.hash_at(height) == Some(*hash)).then_some(height)
    }

    /// A locator of the best chain for catching up: the tip, then ancestors at
    /// exponentially growing distances, ending with genesis; at most `max` hashes (the
    /// last is always genesis). A peer answers with what follows the first hash it has
    /// on its best chain.
    pub fn locator(&self, max: usize) -> Vec<BlockHash> {
        let mut hashes = Vec::new();
        let mut height = self.height();
        let mut step = 1;
        while height > 0 && hashes.len() + 1 < max {
            hashes.push(self.main[height as usize]);
            if hashes.len() >= 8 {
                step *= 2;
            }
            height = height.saturating_sub(step);
        }
        hashes.push(self.genesis);
        hashes
    }

    /// Whether the block is stored (main chain or side branch).
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.index.contains_key(hash)
    }

    /// The stored block with this hash.
    pub fn block(&self, hash: &BlockHash) -> Result<Option<Block>, LedgerError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(BLOCKS).map_err(storage)?;
        match table.get(hash.0).map_err(storage)? {
            Some(bytes) => {
                let block = decode_block(bytes.value())?;
                // What was found must be what was asked for.
                if block.block_hash() != *hash {
                    return Err(damaged(
                        "blocks",
                        format!("the entry for {hash} holds block {}", block.block_hash()),
                    ));
                }
                Ok(Some(block))
            }
            None => Ok(None),
        }
    }

    /// The best chain's block at `height`.
    pub fn block_at(&self, height: u64) -> Result<Option<Block>, LedgerError> {
        match self.main.get(height as usize) {
            Some(hash) => self.block(hash),
            None => Ok(None),
        }
    }

    /// Whether a transaction is on the best chain.
    pub fn has_transaction(&self, txid: &Txid) -> Result<bool, LedgerError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(TXS).map_err(storage)?;
        Ok(table.get(txid.0).map_err(storage)?.is_some())
    }

    /// A best-chain transaction with its block, position and inclusion proof.
    pub fn transaction(&self, txid: &Txid) -> Result<Option<TxLocation>, LedgerError> {
        let located = {
            let read = self.db.begin_read()?;
            let table = read.open_table(TXS).map_err(storage)?;
            table.get(txid.0).map_err(storage)?.map(|v| v.value())
        };
        let Some((hash, position)) = located else {
            return Ok(None);
        };
        let hash = BlockHash(hash);
        let block = self
            .block(&hash)?
            .ok_or_else(|| damaged("tx_index", format!("{txid} points to missing block {hash}")))?;
        let txids = block.txids();
        // What was found must be what was asked for.
        if txids.get(position as usize) != Some(txid) {
            return Err(damaged(
                "tx_index",
                format!(
                    "{txid} points to position {position} of block {hash}, which holds another transaction"
                ),
            ));
        }
        let proof = InclusionProof::build(&txids, position as usize)
            .ok_or_else(|| damaged("tx_index", format!("{txid}: position out of range")))?;
        let transaction = block
            .transactions
            .get(position as usize)
            .cloned()
            .ok_or_else(|| damaged("tx_index", format!("{txid}: position out of range")))?;
        Ok(Some(TxLocation {
            transaction,
            block: hash,
            height: self.index.get(&hash).map_or(0, |m| m.height),
            position,
            proof,
        }))
    }

    /// Key transfers from `source` to `destination` stamped in `[from, to]`, by time: the
    /// traceability the papers promise.
    pub fn transfers_between(
        &self,
        source: MemberId,
        destination: MemberId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(Timestamp, Txid)>, LedgerError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(TRANSFERS).map_err(storage)?;
        let mut out = Vec::new();
        for entry in table
            .range((source.0, from.0, [0u8; 32])..=(source.0, to.0, [0xff; 32]))
            .map_err(storage)?
        {
            let (key, dest) = entry.map_err(storage)?;
            let (_, time, txid) = key.value();
            if dest.value() == destination.0 {
                out.push((Timestamp(time), Txid(txid)));
            }
        }
        Ok(out)
    }

    /// The highest key-transfer sequence number `source` used on the best chain.
    pub fn last_sequence(&self, source: MemberId) -> Result<Option<u64>, LedgerError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(SEQUENCES).map_err(storage)?;
        let mut range = table
            .range((source.0, 0)..=(source.0, u64::MAX))
            .map_err(storage)?;
        match range.next_back() {
            Some(entry) => Ok(Some(entry.map_err(storage)?.0.value().1)),
            None => Ok(None),
        }
    }

    /// Whether `(source, sequence)` is used on the best chain.
    pub fn has_sequence(&self, source: MemberId, sequence: u64) -> Result<bool, LedgerError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(SEQUENCES).map_err(storage)?;
        Ok(table.get((source.0, sequence)).map_err(storage)?.is_some())
    }

    /// The unspent output at `outpoint` on the best chain.
    pub fn utxo(&self, outpoint: &OutPoint) -> Result<Option<TxOut>, LedgerError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(UTXOS).map_err(storage)?;
        match table
            .get((outpoint.txid.0, outpoint.vout))
            .map_err(storage)?
        {
            Some(bytes) => deserialize(bytes.value())
                .map(Some)
                .map_err(|e| LedgerError::Corrupt(format!("stored output: {e}"))),
            None => Ok(None),
        }
    }

    /// The best chain's unspent outputs locked by exactly `locking_script` (a wallet's
    /// coins), by outpoint, from the index by script.
    pub fn unspent_outputs(
        &self,
        locking_script: &[u8],
    ) -> Result<Vec<(OutPoint, TxOut)>, LedgerError> {
        let read = self.db.begin_read()?;
        let table = read.open_table(UTXOS).map_err(storage)?;
        let by_script = read.open_table(UTXOS_BY_SCRIPT).map_err(storage)?;
        let key = dhash(locking_script);
        let mut out = Vec::new();
        for entry in by_script
            .range((key, [0; 32], 0)..=(key, [0xff; 32], u32::MAX))
            .map_err(storage)?
        {
            let (_, txid, vout) = entry.map_err(storage)?.0.value();
            let bytes = table
                .get((txid, vout))
                .map_err(storage)?
                .ok_or_else(|| LedgerError::Corrupt("indexed output missing".into()))?;
            let output: TxOut = deserialize(bytes.value())
                .map_err(|e| LedgerError::Corrupt(format!("stored output: {e}")))?;
            // A hash collision would need a second preimage of double SHA-256; checked anyway.
            if output.locking_script.as_bytes() == locking_script {
                out.push((
                    OutPoint {
                        txid: Txid(txid),
                        vout,
                    },
                    output,
                ));
            }
        }
        Ok(out)
    }

    /// The registry in force after the best-chain block at `height`.
    pub fn registry_at(&self, height: u64) -> Result<Registry, LedgerError> {
        let read = self.db.begin_read()?;
        registry_from(&read.open_table(REGISTRY).map_err(storage)?, height)
    }

    /// Revalidates the stored best chain from genesis (proofs, merkle roots, links,
    /// signatures, registry, sequence numbers), as of `now`.
    pub fn revalidate(&self, now: Timestamp) -> Result<ChainSummary, LedgerError> {
        let genesis = self
            .block_at(0)?
            .ok_or_else(|| LedgerError::Corrupt("no genesis".into()))?;
        let mut registry = Registry::default();
        for tx in &genesis.transactions {
            if let Transaction::Registry(r) = tx {
                registry.apply(r);
            }
        }
        let mut seen_txids: HashSet<Txid> = genesis.txids().into_iter().collect();
        let mut utxos: HashMap<OutPoint, TxOut> = HashMap::new();
        for (tx, txid) in genesis.transactions.iter().zip(genesis.txids()) {
            if let Transaction::Value(v) = tx {
                utxos.extend(created_outputs(v, txid).map(|(o, out)| (o, out.clone())));
            }
        }
        let mut seen_sequences = HashSet::new();
        let mut expected = Indexes::default();
        expected.add(&genesis, genesis.block_hash(), &genesis.txids());
        let mut parent = genesis.header;
        let mut transactions = genesis.transactions.len() as u64;
        for height in 1..self.main.len() as u64 {
            let block = self
                .block_at(height)?
                .ok_or_else(|| LedgerError::Corrupt(format!("block at {height} missing")))?;
            let hash = block.block_hash();
            if block.header.prev_block != parent.block_hash() {
                return Err(LedgerError::Corrupt(format!(
                    "block at {height} does not link to its parent"
                )));
            }
            let has_txid = |t: &Txid| seen_txids.contains(t);
            let has_sequence = |s: MemberId, n: u64| seen_sequences.contains(&(s, n));
            let utxo = |o: &OutPoint| utxos.get(o).cloned();
            let ctx = Context {
                parent: parent.block_hash(),
                parent_height: height - 1,
                parent_timestamp: parent.timestamp,
                difficulty_bits: self.difficulty_bits,
                registry: &registry,
                has_txid: &has_txid,
                has_sequence: &has_sequence,
                utxo: &utxo,
                now,
            };
            let validated = validate(block, &ctx, &self.rules)
                .map_err(|error| LedgerError::Invalid { hash, error })?;
            for (tx, txid) in validated.block().transactions.iter().zip(validated.txids()) {
                match tx {
                    Transaction::Registry(r) => registry.apply(r),
                    Transaction::KeyTransfer(t) => {
                        seen_sequences.insert((t.source, t.sequence));
                    }
                    Transaction::Value(v) => {
                        for input in &v.inputs {
                            utxos.remove(&input.previous_output);
                        }
                        utxos.extend(created_outputs(v, *txid).map(|(o, out)| (o, out.clone())));
                    }
                }
            }
            seen_txids.extend(validated.txids().iter().copied());
            expected.add(validated.block(), hash, validated.txids());
            transactions += validated.txids().len() as u64;
            parent = validated.block().header;
        }
        self.check_indexes(&expected, &utxos)?;
        Ok(ChainSummary {
            height: self.height(),
            tip: self.tip(),
            blocks: self.main.len() as u64,
            transactions,
        })
    }

    /// Every index table against what the best chain's blocks say it must hold, and the
    /// stored tip and block metadata against the chain: the first disagreement, named by
    /// table and key.
    fn check_indexes(
        &self,
        expected: &Indexes,
        utxos: &HashMap<OutPoint, TxOut>,
    ) -> Result<(), LedgerError> {
        let read = self.db.begin_read()?;
        let txs = read.open_table(TXS).map_err(storage)?;
        for (txid, (block, position)) in &expected.txs {
            match txs.get(txid.0).map_err(storage)?.map(|v| v.value()) {
                Some(found) if found == (block.0, *position) => {}
                found => {
                    return Err(damaged(
                        "tx_index",
                        format!("{txid}: expected ({block}, {position}), found {found:?}"),
                    ));
                }
            }
        }
        let count = |n: Result<u64, redb::StorageError>| n.map_err(storage);
        if count(txs.len())? != expected.txs.len() as u64 {
            return Err(damaged(
                "tx_index",
                format!(
                    "{} entries for {} best-chain transactions",
                    count(txs.len())?,
                    expected.txs.len()
                ),
            ));
        }
        let sequences = read.open_table(SEQUENCES).map_err(storage)?;
        for ((source, sequence), txid) in &expected.sequences {
            if sequences
                .get((*source, *sequence))
                .map_err(storage)?
                .map(|v| v.value())
                != Some(txid.0)
            {
                return Err(damaged(
                    "sequences",
                    format!("({source}, {sequence}) should name {txid}"),
                ));
            }
        }
        if count(sequences.len())? != expected.sequences.len() as u64 {
            return Err(damaged("sequences", "entries for no best-chain transfer"));
        }
        let transfers = read.open_table(TRANSFERS).map_err(storage)?;
        for (key, destination) in &expected.transfers {
            if transfers.get(*key).map_err(storage)?.map(|v| v.value()) != Some(*destination) {
                return Err(damaged(
                    "transfers",
                    format!(
                        "source {}, time {}: destination {destination} missing",
                        key.0, key.1
                    ),
                ));
            }
        }
        if count(transfers.len())? != expected.transfers.len() as u64 {
            return Err(damaged("transfers", "entries for no best-chain transfer"));
        }
        let stored = read.open_table(UTXOS).map_err(storage)?;
        let by_script = read.open_table(UTXOS_BY_SCRIPT).map_err(storage)?;
        for (outpoint, out) in utxos {
            let found = stored
                .get((outpoint.txid.0, outpoint.vout))
                .map_err(storage)?
                .map(|bytes| deserialize::<TxOut>(bytes.value()));
            match found {
                Some(Ok(found)) if found == *out => {}
                _ => {
                    return Err(damaged(
                        "utxos",
                        format!(
                            "unspent output {}:{} missing or different",
                            outpoint.txid, outpoint.vout
                        ),
                    ));
                }
            }
            let key = (
                dhash(out.locking_script.as_bytes()),
                outpoint.txid.0,
                outpoint.vout,
            );
            if by_script.get(key).map_err(storage)?.is_none() {
                return Err(damaged(
                    "utxos_by_script",
                    format!(
                        "unspent output {}:{} not indexed",
                        outpoint.txid, outpoint.vout
                    ),
                ));
            }
        }
        if count(stored.len())? != utxos.len() as u64 {
            return Err(damaged(
                "utxos",
                "outputs that the best chain does not leave unspent",
            ));
        }
        if count(by_script.len())? != utxos.len() as u64 {
            return Err(damaged("utxos_by_script", "entries for no unspent output"));
        }
        let meta = read.open_table(META).map_err(storage)?;
        let mut parent = [0u8; 32];
        for (height, hash) in self.main.iter().enumerate() {
            let found = meta
                .get(hash.0)
                .map_err(storage)?
                .map(|v| Meta::from_bytes(&v.value()));
            match found {
                Some(m) if m.height == height as u64 && m.parent == parent => {}
                _ => {
                    return Err(damaged(
                        "block_meta",
                        format!("height {height} ({hash}): missing or not on the chain"),
                    ));
                }
            }
            parent = hash.0;
        }
        let main = read.open_table(MAIN).map_err(storage)?;
        let tip = main
            .last()
            .map_err(storage)?
            .map(|(h, v)| (h.value(), v.value()));
        if tip != Some((self.height(), self.tip().0)) {
            return Err(damaged(
                "main_chain",
                "the stored tip is not the chain's last block",
            ));
        }
        Ok(())
    }
}

/// What the index tables must hold for the best chain, built from its blocks.
#[derive(Default)]
struct Indexes {
    txs: HashMap<Txid, (BlockHash, u32)>,
    sequences: HashMap<(u32, u64), Txid>,
    transfers: HashMap<(u32, u64, [u8; 32]), u32>,
}

impl Indexes {
    fn add(&mut self, block: &Block, hash: BlockHash, txids: &[Txid]) {
        for (position, (tx, txid)) in block.transactions.iter().zip(txids).enumerate() {
            self.txs.insert(*txid, (hash, position as u32));
            if let Transaction::KeyTransfer(t) = tx {
                self.sequences.insert((t.source.0, t.sequence), *txid);
                self.transfers
                    .insert((t.source.0, t.timestamp.0, txid.0), t.destination.0);
            }
        }
    }
}
