//! Negotiations as sans-IO state machines: blocks in, transactions out.
//!
//! - [`Negotiation`]: one negotiation with one counterparty. It holds no coins: the
//!   participant running it pays for its transactions.
//! - [`Participant`]: one identity (its wallet and ECIES key) running any number of
//!   negotiations with different counterparties at once over the same chain; its wallet
//!   never spends a coin twice (coins of pending spends are held back, change is reused
//!   once mined).
//! - [`Party`]: a participant with exactly one negotiation, for the two-party case.
//!
//! A negotiation learns everything from the chain: the published parameters, the peer's
//! share, the peer's confirmation tag. It never trusts a direct message, so a dropped
//! packet only delays it (it asks for the blocks it missed, [`Action::FetchBlocks`]) and
//! a share replaced off-chain is either refused by the chain (it breaks the sender's
//! signature) or ignored (it is not signed by the peer) or breaks key confirmation.
//!
//! Nothing waits for ever: each step has a deadline in blocks ([`Deadlines`]). A
//! submission not mined in time is submitted again; a peer that does not take its step
//! in time, a share refused, a message that does not decrypt and a confirmation tag that
//! does not verify each end the negotiation with a typed [`NegotiationError`].

use std::collections::BTreeMap;

use p256::elliptic_curve::Generate;
use p256::{PublicKey, SecretKey};
use rand::rngs::StdRng;
use rand::{CryptoRng, RngExt, SeedableRng};
use vkm_block::{
    Amount, Block, BlockHash, OutPoint, ScriptBytes, Timestamp, Transaction, TxOut, Txid, ValueTx,
};
use vkm_coins::{Address, Wallet, WalletError, hash160};
use vkm_script::asm::push_data;
use vkm_script::sign_input;
use vkm_transfer::seal::Sealer;
use vkm_transfer::seal::ieee1609::Ieee1609Ecies;

use crate::digits::{from_amounts, to_amounts};
use crate::group::{Group, GroupError, MasterKey, Secret};
use crate::keys::{
    Negotiated, SessionKey, Transcript, confirmation_tag, session_key, verify_confirmation,
};
use crate::wire::{
    Carrier, Channel, Role, SessionId, StaticMessage, dynamic_lock, parameters_in,
    parse_dynamic_lock, presented_key, revealed_share,
};

/// The messages of a negotiation, in order: the initiator's offer, the responder's reply
/// (with its confirmation tag), the initiator's confirmation tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// The initiator's share (value: in amounts; static: messageA; dynamic: the locking
    /// script).
    Offer,
    /// The responder's share and its confirmation tag.
    Reply,
    /// The initiator's confirmation tag.
    Confirm,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 3] = [Step::Offer, Step::Reply, Step::Confirm];

    /// The step's name: `offer`, `reply` or `confirm`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Offer => "offer",
            Self::Reply => "reply",
            Self::Confirm => "confirm",
        }
    }

    /// The step named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Who sends it.
    pub fn sender(self) -> Role {
        match self {
            Self::Offer | Self::Confirm => Role::Initiator,
            Self::Reply => Role::Responder,
        }
    }
}

impl core::fmt::Display for Step {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a negotiation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The published parameters, or a share the peer signed, are refused.
    #[error("group: {0}")]
    Group(#[from] GroupError),
    /// The wallet cannot pay for the next transaction.
    #[error("wallet: {0}")]
    Wallet(#[from] WalletError),
    /// The peer's confirmation tag does not verify: the two sides hold different master
    /// keys (a share was replaced, or a decryption failed).
    #[error("key confirmation failed: the peer's tag does not verify")]
    ConfirmationFailed,
    /// A static-channel message the peer signed does not decrypt with this party's key
    /// (the decryption-failure attack, or the peer used another key).
    #[error("the peer's sealed message does not decrypt")]
    DecryptionFailed,
    /// Encrypting a static message failed.
    #[error("sealing the static message failed: {0}")]
    Seal(String),
    /// A step did not happen within its deadline: this party's own submission was not
    /// mined after every resubmission, or the peer did not take its step.
    #[error("timed out waiting for the {step} to be mined")]
    TimedOut {
        /// The step that did not happen.
        step: Step,
    },
}

impl NegotiationError {
    /// A short machine-readable name: `refused_share`, `no_funds`,
    /// `confirmation_mismatch`, `decryption_failed`, `seal_failed`, `timed_out`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Group(_) => "refused_share",
            Self::Wallet(_) => "no_funds",
            Self::ConfirmationFailed => "confirmation_mismatch",
            Self::DecryptionFailed => "decryption_failed",
            Self::Seal(_) => "seal_failed",
            Self::TimedOut { .. } => "timed_out",
        }
    }
}

/// What a party is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The parameters transaction is not yet on the chain seen.
    WaitingForParameters,
    /// Alice: about to offer. Bob: waiting for Alice's offer.
    Ready,
    /// Alice: waiting for Bob's reply.
    Offered,
    /// Bob: waiting for Alice's confirmation tag.
    Replied,
    /// Alice: Bob's tag verified; waiting for her own tag to be mined.
    ConfirmationSent,
    /// Both tags verified and on the chain.
    Confirmed,
    /// Stopped.
    Failed(NegotiationError),
}

impl State {
    /// `confirmed`, the failure's [`NegotiationError::outcome`], or `pending`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Failed(error) => error.outcome(),
            _ => "pending",
        }
    }
}

/// Why a transaction that looked like part of a negotiation was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Ignored {
    /// A confirmation tag the initiator did not sign.
    #[error("confirmation tag not signed by the initiator")]
    TagNotSigned,
    /// An offer the initiator did not sign (a man in the middle?).
    #[error("offer not signed by the initiator (a man in the middle?)")]
    OfferNotSigned,
    /// A value-channel offer without a share in its amounts.
    #[error("offer without a share in the amounts")]
    NoShareInAmounts,
    /// A static-channel messageA naming other parameters than the published ones.
    #[error("messageA names other parameters than the published ones")]
    OtherParameters,
    /// A dynamic-channel offer without an output for this party.
    #[error("offer without a dynamic output for this party")]
    NoDynamicOutput,
    /// A reply whose share cannot be read.
    #[error("reply without a readable share")]
    NoShareInReply,
    /// A reply the responder did not sign (a man in the middle?).
    #[error("reply not signed by the responder (a man in the middle?)")]
    ReplyNotSigned,
}

/// What happens to a party.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A block of the best chain at `height`, seen at `now`.
    Block {
        /// Its height.
        height: u64,
        /// The block.
        block: &'a Block,
        /// The party's clock.
        now: Timestamp,
    },
}

/// What a participant asks its runtime to do, or reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Submit this transaction to a security manager.
    Submit {
        /// The negotiation it belongs to.
        session: SessionId,
        /// The step it carries.
        step: Step,
        /// 1 for the first submission, 2 and more for resubmissions of the same
        /// transaction.
        attempt: u32,
        /// The transaction.
        tx: ValueTx,
    },
    /// Blocks from this height on were missed: deliver them in order.
    FetchBlocks {
        /// The first missing height.
        from: u64,
    },
    /// A transaction that looked like part of a negotiation was ignored, and why (e.g. a
    /// share not signed by the peer: a man in the middle).
    Ignored {
        /// The negotiation.
        session: SessionId,
        /// The transaction.
        txid: Txid,
        /// Why.
        reason: Ignored,
    },
    /// The negotiation is confirmed.
    Confirmed {
        /// The negotiation.
        session: SessionId,
    },
    /// The negotiation failed.
    Failed {
        /// The negotiation.
        session: SessionId,
        /// Why.
        error: NegotiationError,
    },
}

/// The counterparty as this party knows it beforehand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Its address (its identity on the chain).
    pub address: Address,
    /// Its ECIES key (the static channel encrypts to it).
    pub encryption_key: PublicKey,
}

/// How long a negotiation waits, in blocks of its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// A submission not mined after this many blocks is submitted again.
    pub resubmit_after_blocks: u64,
    /// Submissions of one transaction before the step times out.
    pub submissions: u32,
    /// Blocks the peer has to take its step, counted from the block that made it due
    /// (for the offer: from the first block the responder saw with the parameters).
    pub peer_blocks: u64,
}

impl Default for Deadlines {
    /// Resubmit after 2 blocks, 5 submissions (a step of its own times out after 10
    /// blocks: a full chain may take that long to find room for it, as 190 dynamic
    /// ffdhe3072 replies do within a block's OP_EXPONENT budget), 20 blocks for the peer's
    /// step (its own 10 and waiting for coins).
    fn default() -> Self {
        Self {
            resubmit_after_blocks: 2,
            submissions: 5,
            peer_blocks: 20,
        }
    }
}

/// A party's settings.
#[derive(Debug, Clone)]
pub struct PartyConfig {
    /// Alice or Bob.
    pub role: Role,
    /// How the shares travel.
    pub channel: Channel,
    /// The negotiation's id.
    pub session: SessionId,
    /// The transaction publishing the system parameters.
    pub parameters: Txid,
    /// Accept the paper's insecure group if the parameters name it.
    pub allow_insecure: bool,
    /// What the static and dynamic channels pay the peer.
    pub payment: Amount,
    /// The counterparty.
    pub peer: Peer,
}

/// What both sides settle before negotiating: everything of a [`PartyConfig`] but the
/// role and the peer.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    /// How the shares travel.
    pub channel: Channel,
    /// The negotiation's id.
    pub session: SessionId,
    /// The transaction publishing the system parameters.
    pub parameters: Txid,
    /// Accept the paper's insecure group if the parameters name it.
    pub allow_insecure: bool,
    /// What the static and dynamic channels pay the peer.
    pub payment: Amount,
}

impl Terms {
    /// The settings of the side playing `role` against `peer`.
    pub fn config(&self, role: Role, peer: Peer) -> PartyConfig {
        PartyConfig {
            role,
            channel: self.channel,
            session: self.session,
            parameters: self.parameters,
            allow_insecure: self.allow_insecure,
            payment: self.payment,
            peer,
        }
    }
}

/// Where a party stands, with what it holds at that step and nothing more: the group
/// once read, its secret only until it agreed, the master key and transcript once agreed.
enum Phase {
    /// The parameters transaction is not yet on the chain seen.
    WaitingForParameters,
    /// The group is known. Alice: about to offer. Bob: waiting for Alice's offer.
    Ready { group: Group },
    /// Alice: offered her share; waiting for Bob's reply.
    Offered {
        group: Group,
        secret: Secret,
        share: Vec<u8>,
        /// The dynamic channel's output Bob spends to reveal his share (known once the
        /// offer is built).
        dynamic_output: Option<(OutPoint, Amount)>,
    },
    /// Agreed, own tag submitted. Bob (`Replied`): waiting for Alice's tag. Alice
    /// (`ConfirmationSent`): Bob's tag verified, waiting for her own to be mined.
    Agreed {
        group: Group,
        share: Vec<u8>,
        master: MasterKey,
        transcript: Transcript,
    },
    /// Both tags verified and on the chain.
    Confirmed {
        group: Group,
        share: Vec<u8>,
        master: MasterKey,
        confirmed_in: BlockHash,
    },
    /// Stopped; nothing kept.
    Failed(NegotiationError),
}

/// What this party pays and signs for its step.
struct Spend {
    payments: Vec<TxOut>,
    /// The dynamic reply spends Alice's locked output and reveals the share.
    dynamic: Option<DynamicInput>,
}

struct DynamicInput {
    outpoint: OutPoint,
    amount: Amount,
    lock: ScriptBytes,
    share: Vec<u8>,
}

/// This party's step on its way to the chain.
struct Outgoing {
    step: Step,
    spend: Spend,
    /// Built (coins were free): its id and the transaction.
    built: Option<(Txid, ValueTx)>,
    /// The height of the last submission (or of the attempt to build).
    since: u64,
    submissions: u32,
}

/// What the participant lends a negotiation for one block: its coins and keys.
struct Own<'a> {
    wallet: &'a mut Wallet,
    encryption: &'a SecretKey,
}

/// One negotiation with one counterparty.
pub struct Negotiation {
    config: PartyConfig,
    me: Address,
    deadlines: Deadlines,
    rng: StdRng,
    phase: Phase,
    outgoing: Option<Outgoing>,
    /// The peer's step this party waits for, and the height by which it must be mined.
    waiting: Option<(Step, u64)>,
    txids: Vec<Txid>,
    submissions: u32,
}

impl core::fmt::Debug for Negotiation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Negotiation")
            .field("role", &self.config.role)
            .field("channel", &self.config.channel)
            .field("peer", &self.config.peer.address)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// The peer's share validated and agreed with `secret`: the master key and the share as
/// validated.
fn agree(
    group: &Group,
    secret: &Secret,
    peer_share: &[u8],
) -> Result<(MasterKey, Vec<u8>), NegotiationError> {
    let peer_share = group.validate_share(peer_share)?;
    let master = group.agree(secret, &peer_share)?;
    Ok((master, peer_share.as_bytes().to_vec()))
}

/// Builds and signs `spend` with the participant's coins.
fn build(spend: &Spend, wallet: &mut Wallet) -> Result<ValueTx, NegotiationError> {
    let Some(dynamic) = &spend.dynamic else {
        return Ok(wallet.build_spend(spend.payments.clone(), &[])?);
    };
    let public_key = vkm_coins::public_key_bytes(wallet.public_key());
    let tx = wallet.build_spend_with(
        spend.payments.clone(),
        &[(dynamic.outpoint, dynamic.amount)],
        |tx, key| {
            let signature = sign_input(key, tx, 0, dynamic.lock.as_bytes());
            let mut unlocking = Vec::with_capacity(signature.len() + dynamic.share.len() + 40);
            push_data(&mut unlocking, &signature);
            push_data(&mut unlocking, &public_key);
            push_data(&mut unlocking, &dynamic.share);
            tx.inputs[0].unlocking_script =
                ScriptBytes::new(unlocking).map_err(|_| WalletError::ScriptTooLong)?;
            Ok(())
        },
    )?;
    Ok(tx)
}

impl Negotiation {
    /// A negotiation under `config` by the party at address `me`; `seed` seeds its
    /// randomness (its secret exponent, its ECIES nonces).
    pub fn new(config: PartyConfig, me: Address, deadlines: Deadlines, seed: u64) -> Self {
        Self {
            config,
            me,
            deadlines,
            rng: StdRng::seed_from_u64(seed),
            phase: Phase::WaitingForParameters,
            outgoing: None,
            waiting: None,
            txids: Vec::new(),
            submissions: 0,
        }
    }

    /// Its settings.
    pub fn config(&self) -> &PartyConfig {
        &self.config
    }

    /// Its id.
    pub fn session(&self) -> SessionId {
        self.config.session
    }

    /// The counterparty.
    pub fn peer(&self) -> &Peer {
        &self.config.peer
    }

    /// Where it stands.
    pub fn state(&self) -> State {
        match &self.phase {
            Phase::WaitingForParameters => State::WaitingForParameters,
            Phase::Ready { .. } => State::Ready,
            Phase::Offered { .. } => State::Offered,
            Phase::Agreed { .. } => match self.config.role {
                Role::Initiator => State::ConfirmationSent,
                Role::Responder => State::Replied,
            },
            Phase::Confirmed { .. } => State::Confirmed,
            Phase::Failed(error) => State::Failed(error.clone()),
        }
    }

    /// Whether it ended, confirmed or failed.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Confirmed { .. } | Phase::Failed(_))
    }

    /// The group read from the chain.
    pub fn group(&self) -> Option<&Group> {
        match &self.phase {
            Phase::Ready { group }
            | Phase::Offered { group, .. }
            | Phase::Agreed { group, .. }
            | Phase::Confirmed { group, .. } => Some(group),
            Phase::WaitingForParameters | Phase::Failed(_) => None,
        }
    }

    /// Its own share (public).
    pub fn share(&self) -> Option<&[u8]> {
        match &self.phase {
            Phase::Offered { share, .. }
            | Phase::Agreed { share, .. }
            | Phase::Confirmed { share, .. } => Some(share),
            _ => None,
        }
    }

    /// The master key, once agreed (confirmed or not: see [`Negotiation::state`]); none
    /// after a failure.
    pub fn master_key(&self) -> Option<&MasterKey> {
        match &self.phase {
            Phase::Agreed { master, .. } | Phase::Confirmed { master, .. } => Some(master),
            _ => None,
        }
    }

    /// The negotiation's transactions this party saw mined, in order.
    pub fn txids(&self) -> &[Txid] {
        &self.txids
    }

    /// Transactions this party submitted, resubmissions included.
    pub fn submissions(&self) -> u32 {
        self.submissions
    }

    /// The confirmed negotiation, for a [`crate::KeyBook`] or a
    /// [`crate::session::SessionKeys`].
    pub fn negotiated(&self) -> Option<Negotiated> {
        match &self.phase {
            Phase::Confirmed {
                master,
                confirmed_in,
                ..
            } => Some(Negotiated {
                master: master.clone(),
                txids: self.txids.clone(),
                confirmed_in: *confirmed_in,
            }),
            _ => None,
        }
    }

    /// The session key for the block `block` (a confirmed negotiation only).
    pub fn session_key(&self, block: &BlockHash) -> Option<SessionKey> {
        let Phase::Confirmed { master, .. } = &self.phase else {
            return None;
        };
        Some(session_key(
            master,
            block,
            &self.me,
            &self.config.peer.address,
        ))
    }

    /// This negotiation's parameters, read (and validated) from the chain at `height`.
    fn parameters_read(
        &mut self,
        group: Result<Group, GroupError>,
        height: u64,
    ) -> Result<(), NegotiationError> {
        if !matches!(self.phase, Phase::WaitingForParameters) {
            return Ok(());
        }
        self.phase = Phase::Ready { group: group? };
        if self.config.role == Role::Responder {
            self.waiting = Some((Step::Offer, height + self.deadlines.peer_blocks));
        }
        Ok(())
    }

    /// One block of the best chain, its transactions' ids in `txids`.
    fn on_block(
        &mut self,
        height: u64,
        block: &Block,
        txids: &[Txid],
        now: Timestamp,
        own: &mut Own<'_>,
        actions: &mut Vec<Action>,
    ) {
        if self.is_finished() {
            return;
        }
        let hash = block.block_hash();
        for (tx, txid) in block.transactions.iter().zip(txids) {
            let Transaction::Value(v) = tx else { continue };
            if let Err(error) = self.on_transaction(v, *txid, height, hash, now, own, actions) {
                self.fail(error, own.wallet, actions);
            }
            if self.is_finished() {
                return;
            }
        }
        if self.config.role == Role::Initiator
            && self.outgoing.is_none()
            && let Phase::Ready { group } = &self.phase
        {
            let group = group.clone();
            if let Err(error) = self.offer(group, now) {
                self.fail(error, own.wallet, actions);
                return;
            }
        }
        self.tick(height, own.wallet, actions);
    }

    /// Builds and submits what is due, resubmits what was not mined in time, and times
    /// out what did not happen in time.
    fn tick(&mut self, height: u64, wallet: &mut Wallet, actions: &mut Vec<Action>) {
        let session = self.config.session;
        let deadlines = self.deadlines;
        let mut failure = None;
        if let Some(out) = &mut self.outgoing {
            match &out.built {
                None => match build(&out.spend, wallet) {
                    Ok(tx) => {
                        let txid = vkm_coins::value_txid(&tx);
                        if out.step == Step::Offer
                            && self.config.channel == Channel::DynamicScript
                            && let Phase::Offered { dynamic_output, .. } = &mut self.phase
                        {
                            *dynamic_output =
                                Some((OutPoint { txid, vout: 0 }, self.config.payment));
                        }
                        out.since = height;
                        out.submissions = 1;
                        self.submissions += 1;
                        actions.push(Action::Submit {
                            session,
                            step: out.step,
                            attempt: 1,
                            tx: tx.clone(),
                        });
                        out.built = Some((txid, tx));
                    }
                    // Coins come back when a pending spend is mined: try at the next block.
                    Err(NegotiationError::Wallet(WalletError::CoinsPending { .. })) => {}
                    Err(error) => failure = Some(error),
                },
                Some((_, tx)) if height >= out.since + deadlines.resubmit_after_blocks => {
                    if out.submissions >= deadlines.submissions {
                        failure = Some(NegotiationError::TimedOut { step: out.step });
                    } else {
                        out.since = height;
                        out.submissions += 1;
                        self.submissions += 1;
                        actions.push(Action::Submit {
                            session,
                            step: out.step,
                            attempt: out.submissions,
                            tx: tx.clone(),
                        });
                    }
                }
                Some(_) => {}
            }
        }
        if failure.is_none()
            && let Some((step, until)) = self.waiting
            && height >= until
        {
            failure = Some(NegotiationError::TimedOut { step });
        }
        if let Some(error) = failure {
            self.fail(error, wallet, actions);
        }
    }

    /// Stops: nothing kept; the coins of a spend not mined are free again.
    fn fail(&mut self, error: NegotiationError, wallet: &mut Wallet, actions: &mut Vec<Action>) {
        if let Some(Outgoing {
            built: Some((txid, _)),
            ..
        }) = self.outgoing.take()
        {
            wallet.release(&txid);
        }
        self.waiting = None;
        self.phase = Phase::Failed(error.clone());
        actions.push(Action::Failed {
            session: self.config.session,
            error,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn on_transaction(
        &mut self,
        tx: &ValueTx,
        txid: Txid,
        height: u64,
        block: BlockHash,
        now: Timestamp,
        own: &mut Own<'_>,
        actions: &mut Vec<Action>,
    ) -> Result<(), NegotiationError> {
        if let Some(out) = &self.outgoing
            && out.built.as_ref().is_some_and(|(id, _)| *id == txid)
        {
            let step = out.step;
            self.outgoing = None;
            self.txids.push(txid);
            let peer_deadline = height + self.deadlines.peer_blocks;
            match step {
                Step::Offer => self.waiting = Some((Step::Reply, peer_deadline)),
                Step::Reply => self.waiting = Some((Step::Confirm, peer_deadline)),
                // Alice's own tag mined: confirmed (Bob's tag was verified before she
                // sent it).
                Step::Confirm => self.confirm(block, actions),
            }
            return Ok(());
        }
        match &self.phase {
            Phase::Ready { group } if self.config.role == Role::Responder => {
                let group = group.clone();
                self.on_offer(group, tx, txid, now, own.encryption, actions)?;
            }
            Phase::Offered { .. } if self.outgoing.is_none() => {
                self.on_reply(tx, txid, own.encryption, actions)?
            }
            Phase::Agreed {
                master, transcript, ..
            } if self.config.role == Role::Responder && self.outgoing.is_none() => {
                if let Some(tag) = self.tag_in(tx, Role::Initiator) {
                    if !self.signed_by_peer(tx, None) {
                        actions.push(Action::Ignored {
                            session: self.config.session,
                            txid,
                            reason: Ignored::TagNotSigned,
                        });
                        return Ok(());
                    }
                    check_tag(master, transcript, Role::Initiator, &tag)?;
                    self.txids.push(txid);
                    self.confirm(block, actions);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Agreed becomes confirmed in `block`; the transcript is dropped.
    fn confirm(&mut self, block: BlockHash, actions: &mut Vec<Action>) {
        self.waiting = None;
        let phase = std::mem::replace(&mut self.phase, Phase::WaitingForParameters);
        self.phase = match phase {
            Phase::Agreed {
                group,
                share,
                master,
                ..
            } => {
                actions.push(Action::Confirmed {
                    session: self.config.session,
                });
                Phase::Confirmed {
                    group,
                    share,
                    master,
                    confirmed_in: block,
                }
            }
            other => other,
        };
    }

    fn ignore(&self, txid: Txid, reason: Ignored, actions: &mut Vec<Action>) {
        actions.push(Action::Ignored {
            session: self.config.session,
            txid,
            reason,
        });
    }

    /// Whether every input (but `skip`) presents a public key of the peer's address. The
    /// chain checked each input's signature, so this proves the peer signed the
    /// transaction (and every output in it).
    fn signed_by_peer(&self, tx: &ValueTx, skip: Option<usize>) -> bool {
        let mut any = false;
        for (i, input) in tx.inputs.iter().enumerate() {
            if Some(i) == skip {
                continue;
            }
            match presented_key(input.unlocking_script.as_bytes()) {
                Some(key) if hash160(&key) == self.config.peer.address.0 => any = true,
                _ => return false,
            }
        }
        any || skip.is_some()
    }

    fn carriers<'t>(&self, tx: &'t ValueTx) -> impl Iterator<Item = Carrier<'t>> + 't {
        let session = self.config.session;
        tx.outputs
            .iter()
            .filter_map(|o| Carrier::parse(o.locking_script.as_bytes()))
            .filter(move |c| match c {
                Carrier::Offer { session: s, .. }
                | Carrier::Sealed { session: s, .. }
                | Carrier::Tag { session: s, .. } => *s == session,
            })
    }

    fn tag_in(&self, tx: &ValueTx, role: Role) -> Option<[u8; 32]> {
        self.carriers(tx).find_map(|c| match c {
            Carrier::Tag { role: r, tag, .. } if r == role => Some(tag),
            _ => None,
        })
    }

    fn offers_channel(&self, tx: &ValueTx) -> bool {
        self.carriers(tx).any(|c| {
            matches!(c, Carrier::Offer { channel, parameters, .. }
                if channel == self.config.channel && parameters == self.config.parameters)
        })
    }

    /// The static message of this session in `tx`: none if there is none, `Err` if it
    /// does not open with `key` (or opens to something that is not a static message).
    fn sealed_in(&self, tx: &ValueTx, key: &SecretKey) -> Option<Result<StaticMessage, ()>> {
        self.carriers(tx).find_map(|c| match c {
            Carrier::Sealed { ciphertext, .. } => Some(
                Ieee1609Ecies
                    .open(key, &self.config.session, ciphertext)
                    .ok()
                    .and_then(|plain| StaticMessage::decode(&plain))
                    .ok_or(()),
            ),
            _ => None,
        })
    }

    /// The share in `group` paid in amounts to `to`, in the outputs right after output 0.
    fn share_in_amounts(&self, group: &Group, tx: &ValueTx, to: &Address) -> Option<Vec<u8>> {
        let n = group.share_digits();
        let script = to.p2pkh_script();
        let outputs = tx.outputs.get(1..=n)?;
        if outputs.iter().any(|o| o.locking_script != script) {
            return None;
        }
        let amounts: Vec<Amount> = outputs.iter().map(|o| o.amount).collect();
        from_amounts(&amounts, group.share_len())
    }

    /// The transcript of this negotiation with this party's `own` share and the peer's.
    fn transcript(&self, group: &Group, own: &[u8], peer_share: &[u8]) -> Transcript {
        let me = self.me;
        let peer = self.config.peer.address;
        let (a, b, alice, bob) = match self.config.role {
            Role::Initiator => (own, peer_share, me, peer),
            Role::Responder => (peer_share, own, peer, me),
        };
        Transcript::new(
            self.config.channel,
            group,
            &self.config.session,
            &alice,
            &bob,
            a,
            b,
        )
    }

    fn seal(&mut self, message: &StaticMessage) -> Result<Vec<u8>, NegotiationError> {
        Ieee1609Ecies
            .seal(
                &self.config.peer.encryption_key,
                &self.config.session,
                &message.encode(),
                &mut self.rng,
            )
            .map_err(|e| NegotiationError::Seal(e.to_string()))
    }

    /// Queues this party's `step`: built and submitted at the end of the block.
    fn send(&mut self, step: Step, spend: Spend) {
        self.outgoing = Some(Outgoing {
            step,
            spend,
            built: None,
            since: 0,
            submissions: 0,
        });
    }

    /// Alice's first transaction.
    fn offer(&mut self, group: Group, now: Timestamp) -> Result<(), NegotiationError> {
        let (secret, share) = group.keypair(&mut self.rng);
        let session = self.config.session;
        let offer = Carrier::Offer {
            session,
            channel: self.config.channel,
            parameters: self.config.parameters,
        }
        .output();
        let peer = self.config.peer.address;
        let payments = match self.config.channel {
            Channel::Value => {
                let amounts =
                    to_amounts(&share, group.share_digits()).ok_or(GroupError::BadShare)?;
                let mut outputs = vec![offer];
                outputs.extend(amounts.into_iter().map(|amount| TxOut {
                    amount,
                    locking_script: peer.p2pkh_script(),
                }));
                outputs
            }
            Channel::StaticScript => {
                let (p, g) = group.p_and_g();
                let sealed = self.seal(&StaticMessage {
                    share: share.clone(),
                    group: Some((g, p)),
                    timestamp: now.0,
                })?;
                vec![
                    TxOut {
                        amount: self.config.payment,
                        locking_script: peer.p2pkh_script(),
                    },
                    Carrier::Sealed {
                        session,
                        ciphertext: &sealed,
                    }
                    .output(),
                ]
            }
            Channel::DynamicScript => vec![
                TxOut {
                    amount: self.config.payment,
                    locking_script: dynamic_lock(&group, &share, &peer),
                },
                offer,
            ],
        };
        self.phase = Phase::Offered {
            group,
            secret,
            share,
            dynamic_output: None,
        };
        self.send(
            Step::Offer,
            Spend {
                payments,
                dynamic: None,
            },
        );
        Ok(())
    }

    /// Bob reads Alice's offer and replies.
    fn on_offer(
        &mut self,
        group: Group,
        tx: &ValueTx,
        txid: Txid,
        now: Timestamp,
        key: &SecretKey,
        actions: &mut Vec<Action>,
    ) -> Result<(), NegotiationError> {
        let me = self.me;
        let is_offer = match self.config.channel {
            Channel::Value | Channel::DynamicScript => self.offers_channel(tx),
            Channel::StaticScript => self
                .carriers(tx)
                .any(|c| matches!(c, Carrier::Sealed { .. })),
        };
        if !is_offer {
            return Ok(());
        }
        if !self.signed_by_peer(tx, None) {
            self.ignore(txid, Ignored::OfferNotSigned, actions);
            return Ok(());
        }
        let (peer_share, dynamic) = match self.config.channel {
            Channel::Value => match self.share_in_amounts(&group, tx, &me) {
                Some(share) => (share, None),
                None => {
                    self.ignore(txid, Ignored::NoShareInAmounts, actions);
                    return Ok(());
                }
            },
            Channel::StaticScript => match self.sealed_in(tx, key) {
                Some(Ok(StaticMessage {
                    share,
                    group: Some(pg),
                    ..
                })) => {
                    let (p, g) = group.p_and_g();
                    if pg != (g, p) {
                        self.ignore(txid, Ignored::OtherParameters, actions);
                        return Ok(());
                    }
                    (share, None)
                }
                // Signed by the peer, and it does not open: detected, not waited on.
                Some(Err(())) => return Err(NegotiationError::DecryptionFailed),
                _ => return Ok(()),
            },
            Channel::DynamicScript => {
                let found = tx.outputs.iter().enumerate().find_map(|(vout, out)| {
                    parse_dynamic_lock(out.locking_script.as_bytes(), &group, &me)
                        .map(|share| (share, vout, out))
                });
                match found {
                    Some((share, vout, out)) => (
                        share,
                        Some((
                            OutPoint {
                                txid,
                                vout: vout as u32,
                            },
                            out.amount,
                            out.locking_script.clone(),
                        )),
                    ),
                    None => {
                        self.ignore(txid, Ignored::NoDynamicOutput, actions);
                        return Ok(());
                    }
                }
            }
        };
        let (secret, share) = group.keypair(&mut self.rng);
        let (master, peer_share) = agree(&group, &secret, &peer_share)?;
        drop(secret);
        let transcript = self.transcript(&group, &share, &peer_share);
        let tag = Carrier::Tag {
            session: self.config.session,
            role: Role::Responder,
            tag: confirmation_tag(&master, &transcript, self.config.role),
        }
        .output();
        self.txids.push(txid);
        self.waiting = None;
        let peer = self.config.peer.address;
        let spend = match self.config.channel {
            Channel::Value => {
                let amounts =
                    to_amounts(&share, group.share_digits()).ok_or(GroupError::BadShare)?;
                let mut payments = vec![tag];
                payments.extend(amounts.into_iter().map(|amount| TxOut {
                    amount,
                    locking_script: peer.p2pkh_script(),
                }));
                Spend {
                    payments,
                    dynamic: None,
                }
            }
            Channel::StaticScript => {
                let sealed = self.seal(&StaticMessage {
                    share: share.clone(),
                    group: None,
                    timestamp: now.0,
                })?;
                Spend {
                    payments: vec![
                        TxOut {
                            amount: self.config.payment,
                            locking_script: peer.p2pkh_script(),
                        },
                        Carrier::Sealed {
                            session: self.config.session,
                            ciphertext: &sealed,
                        }
                        .output(),
                        tag,
                    ],
                    dynamic: None,
                }
            }
            Channel::DynamicScript => {
                let (outpoint, amount, lock) = dynamic.ok_or(GroupError::Malformed)?;
                Spend {
                    payments: vec![tag],
                    dynamic: Some(DynamicInput {
                        outpoint,
                        amount,
                        lock,
                        share: minimal(&group, &share).to_vec(),
                    }),
                }
            }
        };
        self.phase = Phase::Agreed {
            group,
            share,
            master,
            transcript,
        };
        self.send(Step::Reply, spend);
        Ok(())
    }

    /// Alice reads Bob's reply, checks his tag, and confirms.
    fn on_reply(
        &mut self,
        tx: &ValueTx,
        txid: Txid,
        key: &SecretKey,
        actions: &mut Vec<Action>,
    ) -> Result<(), NegotiationError> {
        let Phase::Offered {
            group,
            dynamic_output,
            ..
        } = &self.phase
        else {
            return Ok(());
        };
        let Some(tag) = self.tag_in(tx, Role::Responder) else {
            return Ok(());
        };
        let me = self.me;
        let (peer_share, skip) = match self.config.channel {
            Channel::Value => (self.share_in_amounts(group, tx, &me), None),
            Channel::StaticScript => match self.sealed_in(tx, key) {
                Some(Ok(m)) if m.group.is_none() => (Some(m.share), None),
                Some(Err(())) if self.signed_by_peer(tx, None) => {
                    return Err(NegotiationError::DecryptionFailed);
                }
                _ => (None, None),
            },
            Channel::DynamicScript => {
                let spent = dynamic_output.map(|(o, _)| o);
                let index = tx
                    .inputs
                    .iter()
                    .position(|i| Some(i.previous_output) == spent);
                (
                    index.and_then(|i| revealed_share(tx.inputs[i].unlocking_script.as_bytes())),
                    index,
                )
            }
        };
        let Some(peer_share) = peer_share else {
            self.ignore(txid, Ignored::NoShareInReply, actions);
            return Ok(());
        };
        if !self.signed_by_peer(tx, skip) {
            self.ignore(txid, Ignored::ReplyNotSigned, actions);
            return Ok(());
        }
        let Phase::Offered {
            group,
            secret,
            share,
            ..
        } = std::mem::replace(&mut self.phase, Phase::WaitingForParameters)
        else {
            return Ok(());
        };
        let (master, peer_share) = agree(&group, &secret, &peer_share)?;
        drop(secret);
        let transcript = self.transcript(&group, &share, &peer_share);
        check_tag(&master, &transcript, Role::Responder, &tag)?;
        self.txids.push(txid);
        self.waiting = None;
        let confirm = Carrier::Tag {
            session: self.config.session,
            role: Role::Initiator,
            tag: confirmation_tag(&master, &transcript, self.config.role),
        }
        .output();
        self.phase = Phase::Agreed {
            group,
            share,
            master,
            transcript,
        };
        self.send(
            Step::Confirm,
            Spend {
                payments: vec![confirm],
                dynamic: None,
            },
        );
        Ok(())
    }
}

/// Why a negotiation could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// This participant already runs a negotiation with this session id.
    #[error("a negotiation with this session id is already running")]
    SessionInUse,
    /// The peer is this participant itself.
    #[error("a participant cannot negotiate with itself")]
    OwnAddress,
}

/// One identity (its wallet and ECIES key) running any number of negotiations at once,
/// with different counterparties, over the same chain.
pub struct Participant {
    wallet: Wallet,
    encryption: SecretKey,
    deadlines: Deadlines,
    rng: StdRng,
    negotiations: BTreeMap<SessionId, Negotiation>,
    /// Parameters transactions seen (the encoded group, unvalidated), for negotiations
    /// started after them.
    parameters: BTreeMap<Txid, Vec<u8>>,
    /// Groups validated, by parameters transaction and whether the insecure group was
    /// allowed: each is validated once, however many negotiations use it.
    groups: BTreeMap<(Txid, bool), Result<Group, GroupError>>,
    next_height: u64,
    last_block: Option<BlockHash>,
}

impl core::fmt::Debug for Participant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Participant")
            .field("address", &self.wallet.address())
            .field("negotiations", &self.negotiations.len())
            .field("next_height", &self.next_height)
            .finish_non_exhaustive()
    }
}

impl Participant {
    /// A participant with its wallet and ECIES key; `seed` seeds its randomness.
    pub fn new(wallet: Wallet, encryption: SecretKey, seed: u64) -> Self {
        Self {
            wallet,
            encryption,
            deadlines: Deadlines::default(),
            rng: StdRng::seed_from_u64(seed),
            negotiations: BTreeMap::new(),
            parameters: BTreeMap::new(),
            groups: BTreeMap::new(),
            next_height: 0,
            last_block: None,
        }
    }

    /// A participant with `wallet` and a fresh ECIES key.
    pub fn generate<R: CryptoRng + ?Sized>(wallet: Wallet, rng: &mut R) -> Self {
        Self::new(wallet, SecretKey::generate_from_rng(rng), rng.random())
    }

    /// The same participant with other deadlines for the negotiations it starts.
    pub fn with_deadlines(mut self, deadlines: Deadlines) -> Self {
        self.deadlines = deadlines;
        self
    }

    /// What a counterparty needs to know of it beforehand: its address and ECIES key.
    pub fn contact(&self) -> Peer {
        Peer {
            address: self.wallet.address(),
            encryption_key: self.encryption.public_key(),
        }
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.wallet.address()
    }

    /// Its wallet.
    pub fn wallet(&self) -> &Wallet {
        &self.wallet
    }

    /// The latest block seen.
    pub fn last_block(&self) -> Option<BlockHash> {
        self.last_block
    }

    /// Starts a negotiation as `role` with `peer` under `terms` (its own session id).
    pub fn start(&mut self, role: Role, terms: &Terms, peer: Peer) -> Result<(), StartError> {
        if peer.address == self.address() {
            return Err(StartError::OwnAddress);
        }
        if self.negotiations.contains_key(&terms.session) {
            return Err(StartError::SessionInUse);
        }
        let config = terms.config(role, peer);
        let mut negotiation =
            Negotiation::new(config, self.address(), self.deadlines, self.rng.random());
        if let Some(group) = self.group(&terms.parameters, terms.allow_insecure) {
            // Its deadlines count from now, not from when the parameters were mined.
            let height = self.next_height.saturating_sub(1);
            if let Err(error) = negotiation.parameters_read(group, height) {
                negotiation.fail(error, &mut self.wallet, &mut Vec::new());
            }
        }
        self.negotiations.insert(terms.session, negotiation);
        Ok(())
    }

    /// The group published by `parameters`, validated once: `None` if not seen yet.
    fn group(
        &mut self,
        parameters: &Txid,
        allow_insecure: bool,
    ) -> Option<Result<Group, GroupError>> {
        let encoded = self.parameters.get(parameters)?;
        Some(
            self.groups
                .entry((*parameters, allow_insecure))
                .or_insert_with(|| Group::decode(encoded, allow_insecure))
                .clone(),
        )
    }

    /// The negotiation `session`.
    pub fn negotiation(&self, session: &SessionId) -> Option<&Negotiation> {
        self.negotiations.get(session)
    }

    /// Every negotiation, by session id.
    pub fn negotiations(&self) -> impl Iterator<Item = &Negotiation> {
        self.negotiations.values()
    }

    /// Whether every negotiation ended, confirmed or failed.
    pub fn is_finished(&self) -> bool {
        self.negotiations.values().all(Negotiation::is_finished)
    }

    /// Handles one event: a block of the best chain, in height order (a gap asks for the
    /// missed blocks, [`Action::FetchBlocks`]).
    pub fn handle(&mut self, event: Event<'_>) -> Vec<Action> {
        let Event::Block { height, block, now } = event;
        let mut actions = Vec::new();
        if height < self.next_height {
            return actions;
        }
        if height > self.next_height {
            actions.push(Action::FetchBlocks {
                from: self.next_height,
            });
            return actions;
        }
        self.next_height = height + 1;
        self.last_block = Some(block.block_hash());
        let txids = block.txids();
        let mut published = false;
        for (tx, txid) in block.transactions.iter().zip(&txids) {
            self.wallet.observe(tx);
            if let Some(encoded) = parameters_in(tx) {
                self.parameters.insert(*txid, encoded.to_vec());
                published = true;
            }
        }
        if published {
            let waiting: Vec<(SessionId, Txid, bool)> = self
                .negotiations
                .values()
                .filter(|n| n.state() == State::WaitingForParameters)
                .map(|n| (n.session(), n.config.parameters, n.config.allow_insecure))
                .collect();
            for (session, parameters, allow_insecure) in waiting {
                let Some(group) = self.group(&parameters, allow_insecure) else {
                    continue;
                };
                if let Some(n) = self.negotiations.get_mut(&session)
                    && let Err(error) = n.parameters_read(group, height)
                {
                    let mut actions_here = Vec::new();
                    n.fail(error, &mut self.wallet, &mut actions_here);
                    actions.extend(actions_here);
                }
            }
        }
        let mut own = Own {
            wallet: &mut self.wallet,
            encryption: &self.encryption,
        };
        for negotiation in self.negotiations.values_mut() {
            negotiation.on_block(height, block, &txids, now, &mut own, &mut actions);
        }
        actions
    }
}

/// A participant with exactly one negotiation: one side of a two-party negotiation.
pub struct Party {
    participant: Participant,
    session: SessionId,
}

impl core::fmt::Debug for Party {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Party")
            .field("address", &self.address())
            .field("negotiation", self.negotiation())
            .finish()
    }
}

impl Party {
    /// A party with its wallet key and ECIES key; `seed` seeds its randomness.
    pub fn new(config: PartyConfig, wallet: Wallet, encryption: SecretKey, seed: u64) -> Self {
        let session = config.session;
        let mut participant = Participant::new(wallet, encryption, seed);
        let negotiation = Negotiation::new(
            config,
            participant.address(),
            participant.deadlines,
            participant.rng.random(),
        );
        participant.negotiations.insert(session, negotiation);
        Self {
            participant,
            session,
        }
    }

    /// Alice (with `alice`'s coins) and Bob (with `bob`'s), each with a fresh ECIES key
    /// and knowing the other's address and ECIES key, under `terms`.
    pub fn pair<R: CryptoRng + ?Sized>(
        terms: Terms,
        alice: Wallet,
        bob: Wallet,
        rng: &mut R,
    ) -> (Self, Self) {
        let alice_enc = SecretKey::generate_from_rng(rng);
        let bob_enc = SecretKey::generate_from_rng(rng);
        let contact = |wallet: &Wallet, key: &SecretKey| Peer {
            address: wallet.address(),
            encryption_key: key.public_key(),
        };
        let alice_config = terms.config(Role::Initiator, contact(&bob, &bob_enc));
        let bob_config = terms.config(Role::Responder, contact(&alice, &alice_enc));
        (
            Self::new(alice_config, alice, alice_enc, rng.random()),
            Self::new(bob_config, bob, bob_enc, rng.random()),
        )
    }

    /// The negotiation.
    pub fn negotiation(&self) -> &Negotiation {
        self.participant
            .negotiations
            .get(&self.session)
            .unwrap_or_else(|| unreachable!("a party is made with its negotiation"))
    }

    /// The participant (wallet, keys).
    pub fn participant(&self) -> &Participant {
        &self.participant
    }

    /// The participant, to hand to a runtime that drives participants.
    pub fn participant_mut(&mut self) -> &mut Participant {
        &mut self.participant
    }

    /// Handles one event (see [`Participant::handle`]).
    pub fn handle(&mut self, event: Event<'_>) -> Vec<Action> {
        self.participant.handle(event)
    }

    /// Where it stands.
    pub fn state(&self) -> State {
        self.negotiation().state()
    }

    /// Whether the negotiation ended, confirmed or failed.
    pub fn is_finished(&self) -> bool {
        self.negotiation().is_finished()
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.participant.address()
    }

    /// Its wallet.
    pub fn wallet(&self) -> &Wallet {
        self.participant.wallet()
    }

    /// The master key, once agreed.
    pub fn master_key(&self) -> Option<&MasterKey> {
        self.negotiation().master_key()
    }

    /// The negotiation's transactions this party saw mined, in order.
    pub fn txids(&self) -> &[Txid] {
        self.negotiation().txids()
    }

    /// The confirmed negotiation.
    pub fn negotiated(&self) -> Option<Negotiated> {
        self.negotiation().negotiated()
    }

    /// The session key for the block `block` (a confirmed negotiation only).
    pub fn session_key(&self, block: &BlockHash) -> Option<SessionKey> {
        self.negotiation().session_key(block)
    }

    /// The latest block seen.
    pub fn last_block(&self) -> Option<BlockHash> {
        self.participant.last_block()
    }
}

/// The peer's tag for `role` verifies over `transcript` under `master`.
fn check_tag(
    master: &MasterKey,
    transcript: &Transcript,
    role: Role,
    tag: &[u8; 32],
) -> Result<(), NegotiationError> {
    if verify_confirmation(master, transcript, role, tag) {
        Ok(())
    } else {
        Err(NegotiationError::ConfirmationFailed)
    }
}

/// A share as the dynamic script checks it: minimal big-endian for finite fields.
fn minimal<'s>(group: &Group, share: &'s [u8]) -> &'s [u8] {
    match group {
        Group::P256 => share,
        _ => {
            let first = share.iter().position(|b| *b != 0).unwrap_or(share.len());
            &share[first..]
        }
    }
}
