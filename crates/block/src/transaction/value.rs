//! The UTXO value transaction that key negotiation (Chen et al.) moves coins and scripts with.

use core::fmt;

use crate::encode::{Decode, DecodeError, Encode, Reader, Sink, put_seq};
use crate::hash::Txid;
use crate::limits::{MAX_TX_INPUTS, MAX_TX_OUTPUTS};
use crate::primitives::ScriptBytes;

/// An amount of coins in base units; one coin is [`Amount::COIN`] base units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(pub u64);

impl Amount {
    /// Base units per coin (10^8, as in Bitcoin and Chen et al. 4.1).
    pub const COIN: u64 = 100_000_000;

    /// Sum of two amounts, `None` on overflow.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:08}", self.0 / Self::COIN, self.0 % Self::COIN)
    }
}

/// Names one output of an earlier transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct OutPoint {
    /// The transaction holding the output.
    pub txid: Txid,
    /// Index of the output in that transaction.
    pub vout: u32,
}

/// Spends an earlier output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxIn {
    /// The output spent.
    pub previous_output: OutPoint,
    /// The script that satisfies the output's locking script.
    pub unlocking_script: ScriptBytes,
}

/// Creates a new output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxOut {
    /// Coins held by the output.
    pub amount: Amount,
    /// The condition for spending it.
    pub locking_script: ScriptBytes,
}

/// A transaction that moves coins: inputs spend earlier outputs, outputs create new ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValueTx {
    /// Outputs spent.
    pub inputs: Vec<TxIn>,
    /// Outputs created.
    pub outputs: Vec<TxOut>,
    /// Earliest block height or time at which the transaction is final (0: always).
    pub lock_time: u32,
}

/// Encoded size of an input with an empty script.
const MIN_TXIN_LEN: usize = 32 + 4 + 4;
/// Encoded size of an output with an empty script.
const MIN_TXOUT_LEN: usize = 8 + 4;

impl Encode for OutPoint {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.txid.encode(sink);
        self.vout.encode(sink);
    }
}

impl Decode for OutPoint {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            txid: Decode::decode(reader)?,
            vout: reader.u32("output index")?,
        })
    }
}

impl Encode for TxIn {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.previous_output.encode(sink);
        self.unlocking_script.encode(sink);
    }
}

impl Decode for TxIn {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            previous_output: Decode::decode(reader)?,
            unlocking_script: Decode::decode(reader)?,
        })
    }
}

impl Encode for TxOut {
    fn encode<S: Sink + ?Sized>(&self, sink: &mut S) {
        self.amount.0.encode(sink);
        self.locking_script.encode(sink);
    }
}

impl Decode for TxOut {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            amount: Amount(reader.u64("amount")?),
            locking_script: Decode::decode(reader)?,
        })
    }
}

impl ValueTx {
    pub(super) fn encode_body<S: Sink + ?Sized>(&self, sink: &mut S) {
        put_seq(sink, &self.inputs);
        put_seq(sink, &self.outputs);
        self.lock_time.encode(sink);
    }

    pub(super) fn decode_body(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            inputs: reader.seq(MAX_TX_INPUTS, MIN_TXIN_LEN, "inputs")?,
            outputs: reader.seq(MAX_TX_OUTPUTS, MIN_TXOUT_LEN, "outputs")?,
            lock_time: reader.u32("lock time")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_displays_in_coins() {
        assert_eq!(Amount(123_456_789).to_string(), "1.23456789");
        assert_eq!(Amount(5).to_string(), "0.00000005");
        assert_eq!(Amount(u64::MAX).checked_add(Amount(1)), None);
    }
}
