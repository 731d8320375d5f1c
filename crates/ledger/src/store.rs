//! The redb tables. Every accepted block is committed in one write transaction.

use redb::TableDefinition;

/// Every stored block (main chain and side branches), encoded: hash -> bytes.
pub(crate) const BLOCKS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("blocks");
/// Per stored block: parent (32), height (8), cumulative work (16), timestamp (8).
pub(crate) const META: TableDefinition<[u8; 32], [u8; 64]> = TableDefinition::new("block_meta");
/// The best chain: height -> hash.
pub(crate) const MAIN: TableDefinition<u64, [u8; 32]> = TableDefinition::new("main_chain");
/// Main-chain transactions: txid -> (block hash, position).
pub(crate) const TXS: TableDefinition<[u8; 32], ([u8; 32], u32)> = TableDefinition::new("tx_index");
/// Main-chain key transfers: (source SM, sequence) -> txid.
pub(crate) const SEQUENCES: TableDefinition<(u32, u64), [u8; 32]> =
    TableDefinition::new("sequences");
/// Main-chain key transfers by source and time: (source, timestamp, txid) -> destination.
pub(crate) const TRANSFERS: TableDefinition<(u32, u64, [u8; 32]), u32> =
    TableDefinition::new("transfers");
/// Registry snapshots: height at which it took effect -> encoded registry.
pub(crate) const REGISTRY: TableDefinition<u64, &[u8]> = TableDefinition::new("registry");
/// The best chain's unspent outputs: (txid, output index) -> encoded output.
pub(crate) const UTXOS: TableDefinition<([u8; 32], u32), &[u8]> = TableDefinition::new("utxos");
/// The same outputs by locking script: (double SHA-256 of the script, txid, output
/// index) -> nothing (a wallet's coins without scanning the set).
pub(crate) const UTXOS_BY_SCRIPT: TableDefinition<([u8; 32], [u8; 32], u32), ()> =
    TableDefinition::new("utxos_by_script");
/// Undo data of main-chain blocks that spend outputs: hash -> encoded spent outputs in
/// block and input order.
pub(crate) const UNDO: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("undo");

/// The security manager's own key transfers not yet buried deep enough: txid -> encoded
/// transaction. Not derived from the blocks: what a manager made survives its crash.
pub(crate) const OUTBOX: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("outbox");

/// Key transfers whose vehicle this security manager admitted: txid -> nothing. With the
/// transfers on its best chain, what a restarted manager must not admit again (a transfer
/// admitted and then reorganised out is on no chain for a while).
pub(crate) const ADMITTED: TableDefinition<[u8; 32], ()> = TableDefinition::new("admitted");

/// The outputs a block spent, as stored for disconnecting it.
pub(crate) struct SpentOutputs(pub Vec<vkm_block::TxOut>);

impl vkm_block::Encode for SpentOutputs {
    fn encode<S: vkm_block::Sink + ?Sized>(&self, sink: &mut S) {
        vkm_block::encode::put_seq(sink, &self.0);
    }
}

impl vkm_block::Decode for SpentOutputs {
    fn decode(reader: &mut vkm_block::Reader<'_>) -> Result<Self, vkm_block::DecodeError> {
        let max = vkm_block::limits::MAX_BLOCK_BYTES / 12;
        Ok(Self(reader.seq(max, 12, "spent outputs")?))
    }
}

/// What the ledger keeps in memory of a stored block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub parent: [u8; 32],
    pub height: u64,
    pub work: u128,
    pub timestamp: u64,
}

impl Meta {
    pub(crate) fn to_bytes(self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.parent);
        out[32..40].copy_from_slice(&self.height.to_le_bytes());
        out[40..56].copy_from_slice(&self.work.to_le_bytes());
        out[56..64].copy_from_slice(&self.timestamp.to_le_bytes());
        out
    }

    pub(crate) fn from_bytes(bytes: &[u8; 64]) -> Self {
        let mut parent = [0u8; 32];
        parent.copy_from_slice(&bytes[..32]);
        let mut height = [0u8; 8];
        height.copy_from_slice(&bytes[32..40]);
        let mut work = [0u8; 16];
        work.copy_from_slice(&bytes[40..56]);
        let mut timestamp = [0u8; 8];
        timestamp.copy_from_slice(&bytes[56..64]);
        Self {
            parent,
            height: u64::from_le_bytes(height),
            work: u128::from_le_bytes(work),
            timestamp: u64::from_le_bytes(timestamp),
        }
    }
}

/// The work a block at `bits` difficulty represents: `2^bits` expected hashes (saturating
/// at `2^127`).
pub(crate) fn block_work(bits: u8) -> u128 {
    1u128 << bits.min(127)
}
