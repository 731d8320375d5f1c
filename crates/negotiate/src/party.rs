//! One side of a negotiation as a sans-IO state machine: blocks in, transactions out.
//!
//! A party learns everything from the chain: the published parameters, the peer's
//! share, the peer's confirmation tag. It never trusts a direct message, so a dropped
//! packet only delays it (it asks for the blocks it missed, [`Action::FetchBlocks`]) and
//! a share replaced off-chain is either refused by the chain (it breaks the sender's
//! signature) or ignored (it is not signed by the peer) or breaks key confirmation.

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
    Carrier, Channel, Role, SessionId, StaticMessage, dynamic_lock, parse_dynamic_lock,
    presented_key, read_parameters, revealed_share,
};

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
    /// Encrypting a static message failed.
    #[error("sealing the static message failed: {0}")]
    Seal(String),
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

/// What a party asks its runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Submit this transaction to a security manager.
    Submit(ValueTx),
    /// Blocks from this height on were missed: deliver them in order.
    FetchBlocks {
        /// The first missing height.
        from: u64,
    },
    /// A transaction that looked like part of this negotiation was ignored, and why
    /// (e.g. a share not signed by the peer: a man in the middle).
    Ignored {
        /// The transaction.
        txid: Txid,
        /// Why.
        reason: Ignored,
    },
    /// The negotiation is confirmed.
    Confirmed,
    /// The negotiation failed.
    Failed(NegotiationError),
}

/// The counterparty as this party knows it beforehand.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Its address (its identity on the chain).
    pub address: Address,
    /// Its ECIES key (the static channel encrypts to it).
    pub encryption_key: PublicKey,
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
        /// The dynamic channel's output Bob spends to reveal his share.
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

/// One side of a negotiation.
pub struct Party {
    config: PartyConfig,
    wallet: Wallet,
    encryption: SecretKey,
    rng: StdRng,
    phase: Phase,
    /// This party's submitted transaction not yet seen mined.
    pending: Option<Txid>,
    next_height: u64,
    txids: Vec<Txid>,
    last_block: Option<BlockHash>,
}

impl core::fmt::Debug for Party {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Party")
            .field("role", &self.config.role)
            .field("channel", &self.config.channel)
            .field("address", &self.wallet.address())
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

impl Party {
    /// A party with its wallet key and ECIES key; `seed` seeds its randomness.
    pub fn new(config: PartyConfig, wallet: Wallet, encryption: SecretKey, seed: u64) -> Self {
        Self {
            config,
            wallet,
            encryption,
            rng: StdRng::seed_from_u64(seed),
            phase: Phase::WaitingForParameters,
            pending: None,
            next_height: 0,
            txids: Vec::new(),
            last_block: None,
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
        let config = |role, address, encryption_key| PartyConfig {
            role,
            channel: terms.channel,
            session: terms.session,
            parameters: terms.parameters,
            allow_insecure: terms.allow_insecure,
            payment: terms.payment,
            peer: Peer {
                address,
                encryption_key,
            },
        };
        let alice_config = config(Role::Initiator, bob.address(), bob_enc.public_key());
        let bob_config = config(Role::Responder, alice.address(), alice_enc.public_key());
        (
            Self::new(alice_config, alice, alice_enc, rng.random()),
            Self::new(bob_config, bob, bob_enc, rng.random()),
        )
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

    /// Whether the negotiation ended, confirmed or failed.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Confirmed { .. } | Phase::Failed(_))
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.wallet.address()
    }

    /// Its wallet.
    pub fn wallet(&self) -> &Wallet {
        &self.wallet
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

    /// The master key, once agreed (confirmed or not: see [`Party::state`]); none after
    /// a failure.
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

    /// The confirmed negotiation, for a [`crate::KeyBook`].
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
        let negotiated = self.negotiated()?;
        Some(session_key(
            &negotiated.master,
            block,
            &self.address(),
            &self.config.peer.address,
        ))
    }

    /// The latest block seen.
    pub fn last_block(&self) -> Option<BlockHash> {
        self.last_block
    }

    /// Handles one event.
    pub fn handle(&mut self, event: Event<'_>) -> Vec<Action> {
        let Event::Block { height, block, now } = event;
        let mut actions = Vec::new();
        if height < self.next_height || self.is_finished() {
            if height >= self.next_height {
                self.next_height = height + 1;
                block
                    .transactions
                    .iter()
                    .for_each(|tx| self.wallet.observe(tx));
            }
            return actions;
        }
        if height > self.next_height {
            actions.push(Action::FetchBlocks {
                from: self.next_height,
            });
            return actions;
        }
        self.next_height = height + 1;
        let hash = block.block_hash();
        self.last_block = Some(hash);
        for tx in &block.transactions {
            self.wallet.observe(tx);
        }
        for tx in &block.transactions {
            let Transaction::Value(v) = tx else { continue };
            let txid = tx.txid();
            if let Err(error) = self.on_transaction(v, txid, hash, now, &mut actions) {
                self.fail(error, &mut actions);
                return actions;
            }
        }
        if self.config.role == Role::Initiator
            && let Phase::Ready { group } = &self.phase
        {
            let group = group.clone();
            if let Err(error) = self.offer(group, now, &mut actions) {
                self.fail(error, &mut actions);
            }
        }
        actions
    }

    fn fail(&mut self, error: NegotiationError, actions: &mut Vec<Action>) {
        self.phase = Phase::Failed(error.clone());
        actions.push(Action::Failed(error));
    }

    fn on_transaction(
        &mut self,
        tx: &ValueTx,
        txid: Txid,
        block: BlockHash,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<(), NegotiationError> {
        if self.pending == Some(txid) {
            self.pending = None;
            self.txids.push(txid);
            // Alice's own tag mined: confirmed (Bob's tag was verified before she sent it).
            if self.config.role == Role::Initiator && matches!(self.phase, Phase::Agreed { .. }) {
                self.confirm(block, actions);
            }
            return Ok(());
        }
        match &self.phase {
            Phase::WaitingForParameters if txid == self.config.parameters => {
                let tx = Transaction::Value(tx.clone());
                if let Some(group) = read_parameters(&tx, self.config.allow_insecure) {
                    self.phase = Phase::Ready { group: group? };
                }
            }
            Phase::Ready { group } if self.config.role == Role::Responder => {
                let group = group.clone();
                self.on_offer(group, tx, txid, now, actions)?;
            }
            Phase::Offered { .. } => self.on_reply(tx, txid, actions)?,
            Phase::Agreed {
                master, transcript, ..
            } if self.config.role == Role::Responder => {
                if let Some(tag) = self.tag_in(tx, Role::Initiator) {
                    if !self.signed_by_peer(tx, None) {
                        actions.push(Action::Ignored {
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
        let phase = std::mem::replace(&mut self.phase, Phase::WaitingForParameters);
        self.phase = match phase {
            Phase::Agreed {
                group,
                share,
                master,
                ..
            } => {
                actions.push(Action::Confirmed);
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

    fn sealed_in(&self, tx: &ValueTx) -> Option<StaticMessage> {
        self.carriers(tx).find_map(|c| match c {
            Carrier::Sealed { ciphertext, .. } => {
                let plain = Ieee1609Ecies
                    .open(&self.encryption, &self.config.session, ciphertext)
                    .ok()?;
                StaticMessage::decode(&plain)
            }
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
        let me = self.address();
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

    fn submit(&mut self, tx: ValueTx, actions: &mut Vec<Action>) {
        self.pending = Some(vkm_coins::value_txid(&tx));
        actions.push(Action::Submit(tx));
    }

    /// Alice's first transaction.
    fn offer(
        &mut self,
        group: Group,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<(), NegotiationError> {
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
        let tx = self.wallet.build_spend(payments, &[])?;
        let dynamic_output = (self.config.channel == Channel::DynamicScript).then(|| {
            let txid = vkm_coins::value_txid(&tx);
            (OutPoint { txid, vout: 0 }, self.config.payment)
        });
        self.phase = Phase::Offered {
            group,
            secret,
            share,
            dynamic_output,
        };
        self.submit(tx, actions);
        Ok(())
    }

    /// Bob reads Alice's offer and replies.
    fn on_offer(
        &mut self,
        group: Group,
        tx: &ValueTx,
        txid: Txid,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<(), NegotiationError> {
        let me = self.address();
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
            actions.push(Action::Ignored {
                txid,
                reason: Ignored::OfferNotSigned,
            });
            return Ok(());
        }
        let (peer_share, dynamic) = match self.config.channel {
            Channel::Value => match self.share_in_amounts(&group, tx, &me) {
                Some(share) => (share, None),
                None => {
                    actions.push(Action::Ignored {
                        txid,
                        reason: Ignored::NoShareInAmounts,
                    });
                    return Ok(());
                }
            },
            Channel::StaticScript => match self.sealed_in(tx) {
                Some(StaticMessage {
                    share,
                    group: Some(pg),
                    ..
                }) => {
                    let (p, g) = group.p_and_g();
                    if pg != (g, p) {
                        actions.push(Action::Ignored {
                            txid,
                            reason: Ignored::OtherParameters,
                        });
                        return Ok(());
                    }
                    (share, None)
                }
                _ => return Ok(()),
            },
            Channel::DynamicScript => {
                let found = tx.outputs.iter().enumerate().find_map(|(vout, out)| {
                    parse_dynamic_lock(out.locking_script.as_bytes(), &group, &me)
                        .map(|share| (share, vout, out.amount))
                });
                match found {
                    Some((share, vout, amount)) => (
                        share,
                        Some((
                            OutPoint {
                                txid,
                                vout: vout as u32,
                            },
                            amount,
                        )),
                    ),
                    None => {
                        actions.push(Action::Ignored {
                            txid,
                            reason: Ignored::NoDynamicOutput,
                        });
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
        let peer = self.config.peer.address;
        let tx = match self.config.channel {
            Channel::Value => {
                let amounts =
                    to_amounts(&share, group.share_digits()).ok_or(GroupError::BadShare)?;
                let mut outputs = vec![tag];
                outputs.extend(amounts.into_iter().map(|amount| TxOut {
                    amount,
                    locking_script: peer.p2pkh_script(),
                }));
                self.wallet.build_spend(outputs, &[])?
            }
            Channel::StaticScript => {
                let sealed = self.seal(&StaticMessage {
                    share: share.clone(),
                    group: None,
                    timestamp: now.0,
                })?;
                let outputs = vec![
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
                ];
                self.wallet.build_spend(outputs, &[])?
            }
            Channel::DynamicScript => {
                let (outpoint, amount) = dynamic.ok_or(GroupError::Malformed)?;
                let lock = tx.outputs[outpoint.vout as usize].locking_script.clone();
                let mut reply = self.wallet.build_spend(vec![tag], &[(outpoint, amount)])?;
                let signature = sign_input(self.wallet.signing_key(), &reply, 0, lock.as_bytes());
                let mut unlocking = Vec::with_capacity(signature.len() + share.len() + 40);
                push_data(&mut unlocking, &signature);
                push_data(
                    &mut unlocking,
                    &vkm_coins::public_key_bytes(self.wallet.public_key()),
                );
                push_data(&mut unlocking, minimal(&group, &share));
                reply.inputs[0].unlocking_script =
                    ScriptBytes::new(unlocking).map_err(|_| WalletError::ScriptTooLong)?;
                reply
            }
        };
        self.phase = Phase::Agreed {
            group,
            share,
            master,
            transcript,
        };
        self.submit(tx, actions);
        Ok(())
    }

    /// Alice reads Bob's reply, checks his tag, and confirms.
    fn on_reply(
        &mut self,
        tx: &ValueTx,
        txid: Txid,
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
        let me = self.address();
        let (peer_share, skip) = match self.config.channel {
            Channel::Value => (self.share_in_amounts(group, tx, &me), None),
            Channel::StaticScript => (
                self.sealed_in(tx)
                    .filter(|m| m.group.is_none())
                    .map(|m| m.share),
                None,
            ),
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
            actions.push(Action::Ignored {
                txid,
                reason: Ignored::NoShareInReply,
            });
            return Ok(());
        };
        if !self.signed_by_peer(tx, skip) {
            actions.push(Action::Ignored {
                txid,
                reason: Ignored::ReplyNotSigned,
            });
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
        let confirm = Carrier::Tag {
            session: self.config.session,
            role: Role::Initiator,
            tag: confirmation_tag(&master, &transcript, self.config.role),
        }
        .output();
        let tx = self.wallet.build_spend(vec![confirm], &[])?;
        self.phase = Phase::Agreed {
            group,
            share,
            master,
            transcript,
        };
        self.submit(tx, actions);
        Ok(())
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
