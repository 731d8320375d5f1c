//! Negotiations on one machine (feature `local`): a real security manager mining a local
//! chain with virtual time (`vkm_runtime::LocalChain`, the same sans-IO state machine the
//! network and the simulator drive), and the parties' state machines fed with its blocks.

use std::path::Path;

use rand::CryptoRng;
use vkm_block::{Amount, Block, Timestamp, Txid, ValueTx};
use vkm_coins::{Address, genesis_allocation};
use vkm_ledger::Ledger;

use crate::group::Group;
use crate::party::{Action, Event, Party};
use crate::wire::parameters_transaction;

pub use vkm_runtime::local::LOCAL_PERIOD_SECONDS;

/// Why the local runtime failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// The local chain failed, or its security manager refused a transaction.
    #[error(transparent)]
    Chain(#[from] vkm_runtime::LocalError),
    /// The negotiation did not finish within the block budget.
    #[error("no result after {0} blocks")]
    Stalled(u64),
    /// A group operation failed.
    #[error(transparent)]
    Group(#[from] crate::group::GroupError),
    /// A script operation failed.
    #[error(transparent)]
    Script(#[from] vkm_script::ScriptError),
    /// A wallet could not build a spend.
    #[error(transparent)]
    Wallet(#[from] vkm_coins::WalletError),
}

/// A local chain mined by one security manager, with published system parameters and
/// coins for the parties.
#[derive(Debug)]
pub struct LocalChain {
    chain: vkm_runtime::LocalChain,
    parameters: Txid,
}

impl LocalChain {
    /// Creates a chain in `db` whose genesis registers one security manager, allocates
    /// `coins` to each of `parties`, and publishes `group` as the system parameters.
    pub fn create<R: CryptoRng + ?Sized>(
        db: &Path,
        group: &Group,
        parties: &[Address],
        coins: Amount,
        difficulty_bits: u8,
        rng: &mut R,
    ) -> Result<Self, LocalError> {
        let allocations: Vec<(Address, Amount)> = parties.iter().map(|a| (*a, coins)).collect();
        let parameters = parameters_transaction(group);
        let parameters_id = parameters.txid();
        let genesis_extra = vec![genesis_allocation(&allocations), parameters];
        let chain = vkm_runtime::LocalChain::create(db, genesis_extra, difficulty_bits, rng)?;
        Ok(Self {
            chain,
            parameters: parameters_id,
        })
    }

    /// The transaction publishing the system parameters.
    pub fn parameters(&self) -> Txid {
        self.parameters
    }

    /// The security manager's ledger.
    pub fn ledger(&self) -> &Ledger {
        self.chain.ledger()
    }

    /// The virtual clock.
    pub fn now(&self) -> Timestamp {
        self.chain.now()
    }

    /// Hands a transaction to the security manager; `Err` with its reason if refused.
    pub fn submit(&mut self, tx: ValueTx) -> Result<Txid, LocalError> {
        Ok(self.chain.submit(tx)?)
    }

    /// Ends a collection period: the security manager mines what it collected (if
    /// anything). Returns the new block and its height.
    pub fn mine(&mut self) -> Result<Option<(u64, Block)>, LocalError> {
        Ok(self.chain.mine()?)
    }

    /// The best chain's block at `height`.
    pub fn block_at(&self, height: u64) -> Result<Option<Block>, LocalError> {
        Ok(self.chain.block_at(height)?)
    }

    /// Delivers the block at `height` to `party` and carries out what it asks: submits
    /// its transactions, serves missed blocks. Returns the actions that are results
    /// (confirmed, failed, ignored).
    pub fn deliver(&mut self, party: &mut Party, height: u64) -> Result<Vec<Action>, LocalError> {
        let mut results = Vec::new();
        let mut heights = vec![height];
        while let Some(h) = heights.pop() {
            let Some(block) = self.block_at(h)? else {
                continue;
            };
            let actions = party.handle(Event::Block {
                height: h,
                block: &block,
                now: self.now(),
            });
            for action in actions {
                match action {
                    Action::Submit(tx) => {
                        self.submit(tx)?;
                    }
                    Action::FetchBlocks { from } => {
                        // Deliver `from..=h` in order: push in reverse onto the stack.
                        heights.extend((from..=h).rev());
                    }
                    other => results.push(other),
                }
            }
        }
        Ok(results)
    }
}

/// How a local negotiation went.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Blocks mined during the negotiation.
    pub blocks: u64,
    /// Everything the parties reported (ignored transactions, confirmation, failure).
    pub reports: Vec<(usize, Action)>,
}

/// Runs parties over `chain` until each is confirmed or failed, for at most
/// `max_blocks` blocks. `drop(party, height)` says whether the delivery of that block to
/// that party is lost (it will notice at the next block and fetch it).
pub fn run(
    chain: &mut LocalChain,
    parties: &mut [&mut Party],
    max_blocks: u64,
    mut drop: impl FnMut(usize, u64) -> bool,
) -> Result<Outcome, LocalError> {
    let mut outcome = Outcome::default();
    let done = |parties: &[&mut Party]| parties.iter().all(|p| p.is_finished());
    let mut height = chain.ledger().height();
    for (i, party) in parties.iter_mut().enumerate() {
        for h in 0..=height {
            for report in chain.deliver(party, h)? {
                outcome.reports.push((i, report));
            }
        }
    }
    let mut idle = 0;
    while !done(parties) {
        if outcome.blocks >= max_blocks || idle > 3 {
            return Err(LocalError::Stalled(outcome.blocks));
        }
        let Some((h, _)) = chain.mine()? else {
            idle += 1;
            // Nothing to mine: a party may be waiting on a block it missed.
            for (i, party) in parties.iter_mut().enumerate() {
                for report in chain.deliver(party, height)? {
                    outcome.reports.push((i, report));
                }
            }
            continue;
        };
        idle = 0;
        height = h;
        outcome.blocks += 1;
        for (i, party) in parties.iter_mut().enumerate() {
            if drop(i, h) {
                continue;
            }
            for report in chain.deliver(party, h)? {
                outcome.reports.push((i, report));
            }
        }
    }
    Ok(outcome)
}
