//! Negotiations on one machine (feature `local`): a real security manager mining a local
//! chain with virtual time (`vkm_runtime::LocalChain`, the same sans-IO state machine the
//! network and the simulator drive), and the parties' state machines fed with its blocks.

use std::path::Path;

use rand::CryptoRng;
use vkm_block::{Amount, Block, Timestamp, Txid, ValueTx};
use vkm_coins::{Address, genesis_allocation};
use vkm_ledger::Ledger;

use crate::group::Group;
use crate::party::{Action, Event, Negotiation, Participant, State, Step};
use crate::session::SessionKeys;
use crate::wire::{SessionId, parameters_transaction};

pub use vkm_runtime::local::LOCAL_PERIOD_SECONDS;

/// Why the local runtime failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// The local chain failed, or its security manager refused a transaction.
    #[error(transparent)]
    Chain(#[from] vkm_runtime::LocalError),
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
    /// `coins` to each of `parties` (as `coins_each` coins of `coins / coins_each`: a
    /// participant in many negotiations at once spends one coin per pending step), and
    /// publishes `group` as the system parameters.
    pub fn create<R: CryptoRng + ?Sized>(
        db: &Path,
        group: &Group,
        parties: &[Address],
        coins: Amount,
        coins_each: u32,
        difficulty_bits: u8,
        rng: &mut R,
    ) -> Result<Self, LocalError> {
        let n = u64::from(coins_each.max(1));
        let allocations: Vec<(Address, Amount)> = parties
            .iter()
            .flat_map(|a| (0..n).map(move |_| (*a, Amount(coins.0 / n))))
            .collect();
        let parameters = parameters_transaction(group);
        let parameters_id = parameters.txid();
        let genesis_extra = vec![genesis_allocation(&allocations), parameters];
        // A block every period, collected or not: the negotiations' deadlines are in
        // blocks.
        let node = vkm_node::sm::NodeConfig {
            mine_empty_blocks: true,
            ..vkm_node::sm::NodeConfig::default()
        };
        let chain =
            vkm_runtime::LocalChain::create_with(db, genesis_extra, difficulty_bits, node, rng)?;
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

    /// Delivers the block at `height` to `participant` and carries out what it asks:
    /// submits its transactions (unless `lose` says the submission is lost), serves
    /// missed blocks. Results (confirmed, failed, ignored) go to `outcome` under `index`.
    pub fn deliver(
        &mut self,
        index: usize,
        participant: &mut Participant,
        height: u64,
        lose: &mut dyn FnMut(Loss<'_>) -> bool,
        outcome: &mut Outcome,
    ) -> Result<(), LocalError> {
        let mut heights = vec![height];
        while let Some(h) = heights.pop() {
            let Some(block) = self.block_at(h)? else {
                continue;
            };
            let actions = participant.handle(Event::Block {
                height: h,
                block: &block,
                now: self.now(),
            });
            for action in actions {
                match action {
                    Action::Submit {
                        session,
                        step,
                        attempt,
                        tx,
                    } => {
                        outcome.submissions += 1;
                        let loss = Loss::Submission {
                            participant: index,
                            session: &session,
                            step,
                            attempt,
                            tx: &tx,
                        };
                        if lose(loss) {
                            outcome.lost += 1;
                            continue;
                        }
                        match self.submit(tx) {
                            Ok(_) => {}
                            Err(LocalError::Chain(vkm_runtime::LocalError::Refused(refusal))) => {
                                outcome.refused.push((index, refusal.to_string()));
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    Action::FetchBlocks { from } => {
                        // Deliver `from..=h` in order: push in reverse onto the stack.
                        heights.extend((from..=h).rev());
                    }
                    other => outcome.reports.push((index, other)),
                }
            }
        }
        Ok(())
    }
}

/// A message the local runtime may lose (see [`run`]).
#[derive(Debug, Clone, Copy)]
pub enum Loss<'a> {
    /// The delivery of the block at `height` to participant `participant` (it notices
    /// at the next block and fetches it).
    Block {
        /// The participant's index.
        participant: usize,
        /// The block's height.
        height: u64,
    },
    /// A participant's submission of a step's transaction to the security manager (the
    /// participant submits it again when it is not mined in time).
    Submission {
        /// The participant's index.
        participant: usize,
        /// The negotiation.
        session: &'a SessionId,
        /// The step the transaction carries.
        step: Step,
        /// 1 for the first submission.
        attempt: u32,
        /// The transaction (what a man in the middle on the way sees).
        tx: &'a ValueTx,
    },
}

/// How a local run went.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Blocks mined during the run.
    pub blocks: u64,
    /// Transactions the participants submitted (resubmissions included).
    pub submissions: u64,
    /// Submissions lost on the way (by the `lose` filter).
    pub lost: u64,
    /// Submissions the security manager refused, and why.
    pub refused: Vec<(usize, String)>,
    /// Everything the participants reported (ignored transactions, confirmations,
    /// failures), by participant index.
    pub reports: Vec<(usize, Action)>,
    /// Whether every negotiation ended (confirmed or failed) within the block budget.
    pub finished: bool,
}

/// Runs `participants` over `chain`, one block per collection period, until every
/// negotiation is confirmed or failed, or `max_blocks` periods went by. `lose` says
/// which block deliveries and submissions are lost (never, for `|_| false`). The chain
/// keeps mining (empty blocks when nothing is collected), so deadlines in blocks pass
/// even when every message is lost.
pub fn run(
    chain: &mut LocalChain,
    participants: &mut [&mut Participant],
    max_blocks: u64,
    mut lose: impl FnMut(Loss<'_>) -> bool,
) -> Result<Outcome, LocalError> {
    let mut outcome = Outcome::default();
    let done = |participants: &[&mut Participant]| participants.iter().all(|p| p.is_finished());
    let height = chain.ledger().height();
    for (i, participant) in participants.iter_mut().enumerate() {
        for h in 0..=height {
            chain.deliver(i, participant, h, &mut lose, &mut outcome)?;
        }
    }
    // Periods, not blocks, bound the loop: a period may end without a block (the
    // security manager refused its own candidate).
    let mut periods = 0;
    while !done(participants) && periods < max_blocks {
        periods += 1;
        let Some((h, _)) = chain.mine()? else {
            continue;
        };
        outcome.blocks += 1;
        for (i, participant) in participants.iter_mut().enumerate() {
            if lose(Loss::Block {
                participant: i,
                height: h,
            }) {
                continue;
            }
            chain.deliver(i, participant, h, &mut lose, &mut outcome)?;
        }
    }
    outcome.finished = done(participants);
    Ok(outcome)
}

/// One pair of an [`AllPairs`] run: participants `a` (the initiator) and `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    /// The initiator's index.
    pub a: usize,
    /// The responder's index.
    pub b: usize,
    /// Their negotiation's id.
    pub session: SessionId,
}

/// `n` participants over one local chain, every pair of them negotiating a master key
/// (C(n,2) negotiations at once; each participant runs n-1 of them with one wallet).
#[derive(Debug)]
pub struct AllPairs {
    /// The chain.
    pub chain: LocalChain,
    /// The participants, in index order.
    pub participants: Vec<Participant>,
    /// Every pair, `a < b`.
    pub pairs: Vec<Pair>,
}

impl AllPairs {
    /// Sets up `n` participants with fresh keys, each funded in genesis with `n - 1`
    /// coins of 1,000 coins each (a value-channel share in ffdhe3072 takes 116 outputs of
    /// up to one coin), and starts every pair's negotiation over `channel`
    /// (published `group`, chain difficulty `difficulty_bits`, deadlines `deadlines`).
    pub fn create<R: CryptoRng + ?Sized>(
        db: &Path,
        group: &Group,
        channel: crate::Channel,
        n: usize,
        difficulty_bits: u8,
        deadlines: crate::Deadlines,
        rng: &mut R,
    ) -> Result<Self, LocalError> {
        use rand::RngExt;
        let mut participants: Vec<Participant> = (0..n)
            .map(|_| {
                Participant::generate(vkm_coins::Wallet::generate(rng), rng)
                    .with_deadlines(deadlines)
            })
            .collect();
        let addresses: Vec<Address> = participants.iter().map(Participant::address).collect();
        let coins_each = n.saturating_sub(1).max(1) as u32;
        let chain = LocalChain::create(
            db,
            group,
            &addresses,
            Amount(u64::from(coins_each) * 1_000 * Amount::COIN),
            coins_each,
            difficulty_bits,
            rng,
        )?;
        let mut pairs = Vec::with_capacity(n * n.saturating_sub(1) / 2);
        for a in 0..n {
            for b in a + 1..n {
                let terms = crate::Terms {
                    channel,
                    session: rng.random(),
                    parameters: chain.parameters(),
                    allow_insecure: group.is_insecure(),
                    payment: Amount(Amount::COIN / 100),
                };
                let (peer_a, peer_b) = (participants[a].contact(), participants[b].contact());
                // Fresh random session ids and distinct addresses: starting cannot fail.
                let _ = participants[a].start(crate::Role::Initiator, &terms, peer_b);
                let _ = participants[b].start(crate::Role::Responder, &terms, peer_a);
                pairs.push(Pair {
                    a,
                    b,
                    session: terms.session,
                });
            }
        }
        Ok(Self {
            chain,
            participants,
            pairs,
        })
    }

    /// Runs every negotiation to its end (see [`run`]).
    pub fn run(
        &mut self,
        max_blocks: u64,
        lose: impl FnMut(Loss<'_>) -> bool,
    ) -> Result<Outcome, LocalError> {
        let mut participants: Vec<&mut Participant> = self.participants.iter_mut().collect();
        run(&mut self.chain, &mut participants, max_blocks, lose)
    }

    /// Pair `pair`'s negotiation as its initiator and its responder hold it.
    pub fn sides(&self, pair: &Pair) -> (Option<&Negotiation>, Option<&Negotiation>) {
        (
            self.participants[pair.a].negotiation(&pair.session),
            self.participants[pair.b].negotiation(&pair.session),
        )
    }

    /// Whether both sides of `pair` confirmed the same master key.
    pub fn confirmed(&self, pair: &Pair) -> bool {
        match self.sides(pair) {
            (Some(a), Some(b)) => {
                a.state() == State::Confirmed
                    && b.state() == State::Confirmed
                    && a.master_key().is_some()
                    && a.master_key() == b.master_key()
            }
            _ => false,
        }
    }

    /// The pair's outcome: `confirmed` when both sides confirmed the same key, otherwise
    /// the first side's failure (the initiator's first), or `pending`.
    pub fn outcome(&self, pair: &Pair) -> &'static str {
        if self.confirmed(pair) {
            return "confirmed";
        }
        let (a, b) = self.sides(pair);
        let states = [a.map(Negotiation::state), b.map(Negotiation::state)];
        states
            .iter()
            .flatten()
            .find_map(|s| match s {
                State::Failed(error) => Some(error.outcome()),
                _ => None,
            })
            .unwrap_or(if states.iter().flatten().all(|s| *s == State::Confirmed) {
                "confirmation_mismatch"
            } else {
                "pending"
            })
    }
}

impl AllPairs {
    /// Participant `who`'s session keys with its counterparty in `pair` (a confirmed
    /// negotiation only), following the chain's best blocks from `window` before the tip
    /// (messages keyed by them still open).
    pub fn session_keys(
        &self,
        pair: &Pair,
        who: usize,
        window: usize,
    ) -> Result<Option<SessionKeys>, LocalError> {
        let (me, peer) = match who {
            w if w == pair.a => (pair.a, pair.b),
            w if w == pair.b => (pair.b, pair.a),
            _ => return Ok(None),
        };
        let Some(negotiated) = self.participants[me]
            .negotiation(&pair.session)
            .and_then(Negotiation::negotiated)
        else {
            return Ok(None);
        };
        let mut keys = SessionKeys::new(
            &negotiated,
            self.participants[me].address(),
            self.participants[peer].address(),
            window,
        );
        let tip = self.chain.ledger().height();
        for height in tip.saturating_sub(window as u64)..=tip {
            if let Some(block) = self.chain.block_at(height)? {
                // Consecutive blocks of the best chain: they extend each other.
                let _ = keys.follow(height, &block.header);
            }
        }
        Ok(Some(keys))
    }
}
