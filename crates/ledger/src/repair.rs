//! A way back from a damaged store: redb's own page checksums checked on a private copy
//! ([`check_integrity`]), and a fresh store rebuilt from every block that can still be
//! found in the damaged file and still validates ([`repair`]).
//!
//! Neither ever writes to the damaged file. redb verifies its page checksums only when it
//! repairs a file after an unclean shutdown and in `Database::check_integrity`, both of
//! which write; both run here on a copy in the temporary folder. `docs/storage.md` says
//! what redb guarantees and what it does not.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable};
use vkm_block::{Block, BlockHash, BlockHeader, Decode, Reader, Timestamp};

use crate::ledger::{ChainSummary, Ledger, LedgerError};
use crate::store::{BLOCKS, MAIN};
use crate::validate::{BlockError, RuleSet};

/// Largest damaged file [`repair`] reads (it holds the file in memory to scan it).
pub const MAX_REPAIR_FILE_BYTES: u64 = 4 << 30;

/// What redb's page checksums say of a store (checked on a private copy).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Integrity {
    /// Every page reachable from the last commit matches the checksum its parent holds.
    Verified {
        /// The file was not closed cleanly (a crash or a kill): redb's recovery, run on
        /// the copy, went back to the last durable commit.
        unclean: bool,
    },
    /// A checksum failed: redb could only fall back to the previous commit, so the last
    /// commit's pages are damaged.
    RolledBack,
    /// redb could not make sense of the file (its error or panic).
    Corrupted(String),
}

impl Integrity {
    /// Whether the store's committed pages are intact.
    pub fn is_verified(&self) -> bool {
        matches!(self, Self::Verified { .. })
    }
}

impl core::fmt::Display for Integrity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Verified { unclean: false } => f.write_str("page checksums verified"),
            Self::Verified { unclean: true } => {
                f.write_str("page checksums verified after recovery from an unclean shutdown")
            }
            Self::RolledBack => {
                f.write_str("page checksums failed: only the previous commit is intact")
            }
            Self::Corrupted(why) => write!(f, "the storage layer cannot read the file: {why}"),
        }
    }
}

/// A copy of a store in the temporary folder, removed on drop.
struct PrivateCopy(PathBuf);

impl PrivateCopy {
    fn of(path: &Path) -> Result<Self, LedgerError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let copy = std::env::temp_dir().join(format!(
            "vkm-store-copy-{}-{}.redb",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::copy(path, &copy).map_err(|source| LedgerError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self(copy))
    }
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The message of a panic caught from the storage layer (redb asserts on some damaged
/// pages), for a report.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `f` on redb, turning a panic inside it (redb asserts on some malformed pages
/// instead of returning an error) into an error message.
fn contained<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(format!("redb failed on it ({})", panic_message(&*panic))))
}

/// Opens a private copy of `path` writable (redb repairs it if it was not closed
/// cleanly), reporting whether that repair ran.
fn open_copy(copy: &PrivateCopy) -> Result<(Database, bool), String> {
    let repaired = Arc::new(AtomicBool::new(false));
    let flag = repaired.clone();
    contained(|| {
        let db = Database::builder()
            .set_repair_callback(move |_| flag.store(true, Ordering::Relaxed))
            .open(&copy.0)
            .map_err(|e| e.to_string())?;
        Ok((db, repaired.load(Ordering::Relaxed)))
    })
}

/// Checks redb's page checksums of the store at `path` on a private copy: the file itself
/// is only read.
pub fn check_integrity(path: &Path) -> Result<Integrity, LedgerError> {
    let copy = PrivateCopy::of(path)?;
    let (mut db, unclean) = match open_copy(&copy) {
        Ok(opened) => opened,
        Err(why) => return Ok(Integrity::Corrupted(why)),
    };
    let checked = contained(|| db.check_integrity().map_err(|e| e.to_string()));
    let integrity = match checked {
        Ok(true) => Integrity::Verified { unclean },
        Ok(false) => Integrity::RolledBack,
        Err(why) => Integrity::Corrupted(why),
    };
    // A panic may have left redb's handle inconsistent; dropping it must not escape.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(db)));
    Ok(integrity)
}

/// The best chain a damaged store recorded, as far as its `main_chain` table can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousChain {
    /// Its height.
    pub height: u64,
    /// Its tip.
    pub tip: BlockHash,
    /// Heights of its blocks that are not on the rebuilt best chain.
    pub lost: Vec<u64>,
}

/// What [`repair`] recovered and what it could not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// The genesis block of the rebuilt store.
    pub genesis: BlockHash,
    /// Distinct blocks found in the damaged file whose proof of work and merkle root hold.
    pub found: usize,
    /// The rebuilt store's best chain.
    pub recovered: ChainSummary,
    /// Blocks stored on side branches of the rebuilt store.
    pub side_blocks: usize,
    /// Found blocks that failed validation on their parent, with the reason.
    pub invalid: Vec<(BlockHash, BlockError)>,
    /// Found blocks that could not be connected: their parent was neither found nor valid.
    pub unconnected: Vec<BlockHash>,
    /// The damaged store's own best chain, where its table could be read.
    pub previous: Option<PreviousChain>,
    /// What of the damaged store redb could not read (with the reason).
    pub unreadable: Vec<String>,
    /// redb's page checksums of the damaged store (checked on a copy).
    pub integrity: Integrity,
}

/// Reads a file whole, refusing one larger than [`MAX_REPAIR_FILE_BYTES`] before reading.
fn read_bounded(path: &Path) -> Result<Vec<u8>, LedgerError> {
    let error = |source| LedgerError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(error)?;
    let mut bytes = Vec::new();
    file.take(MAX_REPAIR_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(error)?;
    if bytes.len() as u64 > MAX_REPAIR_FILE_BYTES {
        return Err(LedgerError::TooLarge {
            path: path.to_path_buf(),
            max: MAX_REPAIR_FILE_BYTES,
        });
    }
    Ok(bytes)
}

/// The block's hash if its merkle root and proof of work hold (a genesis block, with no
/// parent, needs no work).
fn holds_together(block: &Block) -> Option<BlockHash> {
    match vkm_pow::verify_proof(block) {
        Ok(hash) => Some(hash),
        Err(_) if block.header.prev_block == BlockHash::default() => {
            (block.compute_merkle_root() == block.header.merkle_root).then(|| block.block_hash())
        }
        Err(_) => None,
    }
}

/// Every block encoded anywhere in `bytes` whose merkle root and proof of work hold, by
/// hash. redb keeps a value's bytes contiguous in the file, so a stored block is found
/// wherever its page is, whatever happened to the pages that index it; stale copies in
/// freed pages are the same blocks. Each candidate offset is filtered by the header's
/// version and its proof of work before the block is decoded, with the codec's limits.
pub fn scan_blocks(bytes: &[u8], difficulty_bits: Option<u8>) -> HashMap<BlockHash, Block> {
    let version = BlockHeader::VERSION.to_le_bytes();
    let mut found = HashMap::new();
    let mut offset = 0;
    while offset + BlockHeader::SIZE <= bytes.len() {
        let at = &bytes[offset..];
        let plausible = at[..4] == version
            && difficulty_bits.is_none_or(|bits| at[BlockHeader::SIZE - 9] == bits);
        if plausible {
            let mut reader = Reader::new(at);
            if let Ok(block) = Block::decode(&mut reader)
                && let Some(hash) = holds_together(&block)
            {
                found.insert(hash, block);
                offset += reader.offset();
                continue;
            }
        }
        offset += 1;
    }
    found
}

/// Runs `read` on the damaged store without writing to its file: read-only when redb
/// allows it, else on a private copy that redb may repair (a store not closed cleanly).
/// A redb error or panic comes back as a message.
fn read_store<T>(
    path: &Path,
    read: impl Fn(&redb::ReadTransaction) -> Result<T, String>,
) -> Result<T, String> {
    contained(|| match ReadOnlyDatabase::open(path) {
        Ok(db) => read(&db.begin_read().map_err(|e| e.to_string())?),
        Err(_) => {
            let copy = PrivateCopy::of(path).map_err(|e| e.to_string())?;
            let (db, _) = open_copy(&copy)?;
            read(&db.begin_read().map_err(|e| e.to_string())?)
        }
    })
}

/// The damaged store's `main_chain` table, as far as it can be read.
fn previous_main_chain(path: &Path, unreadable: &mut Vec<String>) -> Vec<BlockHash> {
    let result = read_store(path, |txn| {
        let table = txn.open_table(MAIN).map_err(|e| e.to_string())?;
        let mut main = Vec::new();
        for entry in table.iter().map_err(|e| e.to_string())? {
            let (_, hash) = entry.map_err(|e| e.to_string())?;
            main.push(BlockHash(hash.value()));
        }
        Ok(main)
    });
    result.unwrap_or_else(|why| {
        unreadable.push(format!("main_chain: {why}"));
        Vec::new()
    })
}

/// Blocks the `blocks` table still yields through redb, up to the first entry it cannot
/// read (a block the scan cannot see whole is still found this way).
fn table_blocks(path: &Path, unreadable: &mut Vec<String>) -> Vec<Block> {
    let result = read_store(path, |txn| {
        let table = txn.open_table(BLOCKS).map_err(|e| e.to_string())?;
        let mut blocks = Vec::new();
        for entry in table.iter().map_err(|e| e.to_string())? {
            match entry {
                Ok((_, bytes)) => {
                    if let Ok(block) = vkm_block::deserialize::<Block>(bytes.value()) {
                        blocks.push(block);
                    }
                }
                Err(e) => return Ok((blocks, Some(e.to_string()))),
            }
        }
        Ok((blocks, None))
    });
    let (blocks, stopped) = result.unwrap_or_else(|why| (Vec::new(), Some(why)));
    if let Some(why) = stopped {
        unreadable.push(format!("blocks: {why}"));
    }
    blocks
}

/// Rebuilds a fresh store at `out` from the blocks that can still be found in the damaged
/// store at `damaged` and that still validate, from genesis, with `rules` as of `now`.
/// The damaged file is only read; `out` must not exist.
///
/// The genesis block is `genesis` if given, else the one the damaged store's best chain
/// starts with, else the only block found with no parent. Blocks are connected parent
/// first, the damaged store's own best chain first among siblings, so the same chain wins
/// where forks tie.
pub fn repair(
    damaged: &Path,
    out: &Path,
    genesis: Option<&Block>,
    rules: RuleSet,
    now: Timestamp,
) -> Result<RepairReport, LedgerError> {
    if out.exists() {
        return Err(LedgerError::OutputExists(out.to_path_buf()));
    }
    let bytes = read_bounded(damaged)?;
    let integrity = check_integrity(damaged)?;
    let mut unreadable = Vec::new();
    let previous_main = previous_main_chain(damaged, &mut unreadable);
    let mut blocks = scan_blocks(&bytes, genesis.map(|g| g.header.difficulty_bits));
    drop(bytes);
    for block in table_blocks(damaged, &mut unreadable) {
        if let Some(hash) = holds_together(&block) {
            blocks.entry(hash).or_insert(block);
        }
    }
    let found = blocks.len();

    let genesis = match genesis {
        Some(g) => g.clone(),
        None => {
            let from_main = previous_main.first().and_then(|h| blocks.get(h));
            let roots: Vec<&Block> = blocks
                .values()
                .filter(|b| b.header.prev_block == BlockHash::default())
                .collect();
            match (from_main, roots.as_slice()) {
                (Some(g), _) => g.clone(),
                (None, [only]) => (*only).clone(),
                (None, roots) => return Err(LedgerError::NoGenesis { found: roots.len() }),
            }
        }
    };
    let genesis_hash = genesis.block_hash();
    blocks.remove(&genesis_hash);

    let mut children: HashMap<BlockHash, Vec<Block>> = HashMap::new();
    for block in blocks.into_values() {
        children
            .entry(block.header.prev_block)
            .or_default()
            .push(block);
    }
    let on_previous: HashSet<BlockHash> = previous_main.iter().copied().collect();
    for siblings in children.values_mut() {
        // The damaged store's best chain first, then by time and hash: a fixed order.
        siblings.sort_by_key(|b| {
            let hash = b.block_hash();
            (!on_previous.contains(&hash), b.header.timestamp, hash)
        });
    }

    let mut ledger = Ledger::open(out, &genesis, rules)?;
    let mut invalid = Vec::new();
    let mut stored = 1usize;
    let mut queue = VecDeque::from([genesis_hash]);
    while let Some(parent) = queue.pop_front() {
        for block in children.remove(&parent).unwrap_or_default() {
            let hash = block.block_hash();
            match ledger.accept(block, now) {
                Ok(_) => {
                    stored += 1;
                    queue.push_back(hash);
                }
                Err(LedgerError::Invalid { hash, error }) => invalid.push((hash, error)),
                Err(e) => return Err(e),
            }
        }
    }
    let mut unconnected: Vec<BlockHash> = children
        .into_values()
        .flatten()
        .map(|b| b.block_hash())
        .collect();
    unconnected.sort();

    let mut transactions = 0u64;
    let mut best = HashSet::new();
    for height in 0..=ledger.height() {
        if let Some(block) = ledger.block_at(height)? {
            transactions += block.transactions.len() as u64;
            best.insert(block.block_hash());
        }
    }
    let recovered = ChainSummary {
        height: ledger.height(),
        tip: ledger.tip(),
        blocks: ledger.height() + 1,
        transactions,
    };
    let previous = previous_main.last().map(|tip| PreviousChain {
        height: previous_main.len() as u64 - 1,
        tip: *tip,
        lost: (0..previous_main.len() as u64)
            .filter(|h| !best.contains(&previous_main[*h as usize]))
            .collect(),
    });
    Ok(RepairReport {
        genesis: genesis_hash,
        found,
        side_blocks: stored - recovered.blocks as usize,
        recovered,
        invalid,
        unconnected,
        previous,
        unreadable,
        integrity,
    })
}
