//! One security manager on the peer-to-peer network: the sans-IO manager on its own
//! thread (its actions applied by [`vkm_runtime::apply`] through `NodeEffects`), a
//! mining worker, the libp2p swarm on tokio, and the HTTP API.
//!
//! The manager's thread is the only one that touches the manager and its store; the
//! swarm task decodes what arrives, hands it over, and carries out what the manager's
//! effects ask for (publish, request, respond, validation verdicts, the allow-list).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, TopicHash};
use libp2p::request_response::{self, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, allow_block_list, noise, tcp, yamux};
use sha2::Digest;
use tokio::sync::{mpsc as tokio_mpsc, oneshot};
use vkm_block::{Block, BlockHash, MemberId, Timestamp, Transaction, Txid, deserialize, serialize};
use vkm_ledger::Ledger;
use vkm_node::sm::{Action, Admission, Event, Message, Refusal, SecurityManager, Timer};
use vkm_node::vehicle::DomainRekey;
use vkm_node::{NodeConfig, chain_rules};
use vkm_period::{Calibration, Load};
use vkm_runtime::{ManagerEffects, MiningWorker, apply};
use vkm_transfer::crossing::{CrossingRequest, RsuId};
use vkm_transfer::keys::MemberKeys;
use vkm_transfer::rules::KeyTransferRules;

use crate::codec::{SYNC_PROTOCOL, SyncCodec};
use crate::config::NodeSettings;
use crate::identity;
use crate::state::{AdmissionRecord, Metrics, Shared};
use crate::{P2pError, api};
use prometheus_client::registry::Registry;

/// Largest gossip message: one block of the largest size, with room for framing.
pub const MAX_GOSSIP_BYTES: usize = vkm_block::limits::MAX_BLOCK_BYTES + 1024;

/// How long gossip remembers a message it saw (message ids are content hashes).
pub const DUPLICATE_CACHE: Duration = Duration::from_secs(60);

/// Bad inputs from one peer within [`STRIKE_WINDOW`] after which it is disconnected and
/// refused for [`BLOCK_FOR`].
pub const STRIKES: u32 = 3;
/// See [`STRIKES`].
pub const STRIKE_WINDOW: Duration = Duration::from_secs(60);
/// See [`STRIKES`].
pub const BLOCK_FOR: Duration = Duration::from_secs(60);
/// Requests a peer may make per second (a burst of twice as many); more are dropped.
pub const REQUESTS_PER_SECOND: f64 = 100.0;

/// The gossip topics, one per kind of message that goes to every manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topic {
    Transfers,
    Values,
    Registry,
    Blocks,
    Tips,
}

impl Topic {
    const ALL: [Topic; 5] = [
        Topic::Transfers,
        Topic::Values,
        Topic::Registry,
        Topic::Blocks,
        Topic::Tips,
    ];

    fn name(self) -> &'static str {
        match self {
            Topic::Transfers => "vkm/key-transfers/1",
            Topic::Values => "vkm/value-transactions/1",
            Topic::Registry => "vkm/registry/1",
            Topic::Blocks => "vkm/blocks/1",
            Topic::Tips => "vkm/tips/1",
        }
    }

    fn of(message: &Message) -> Option<Topic> {
        Some(match message {
            Message::Transaction(_) => Topic::Transfers,
            Message::Value(_) => Topic::Values,
            Message::Registry(_) => Topic::Registry,
            Message::Block(_) => Topic::Blocks,
            Message::Tip { .. } => Topic::Tips,
            Message::GetBlocks { .. } | Message::Blocks(_) => return None,
        })
    }

    fn ident(self) -> IdentTopic {
        IdentTopic::new(self.name())
    }

    fn from_hash(hash: &TopicHash) -> Option<Topic> {
        // An identity topic's hash is its name: no topic is built per message.
        Topic::ALL.into_iter().find(|t| hash.as_str() == t.name())
    }
}

/// What a crossing posted to the API came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrossingOutcome {
    /// A key transfer to the destination was made and broadcast.
    Transfer(Txid),
    /// The vehicle asked to join this manager's own domain: enrolled for the next rekey.
    Enrolled,
    /// Refused: why.
    Refused(String),
}

/// What the manager's thread is handed.
pub(crate) enum Input {
    /// Its miner solved a block.
    Mined(Block),
    /// A gossip message from a registered peer, waiting for its verdict.
    Gossip {
        from: MemberId,
        source: PeerId,
        id: MessageId,
        message: Message,
    },
    /// A peer's request (catching up), waiting for a response.
    Request {
        from: MemberId,
        request: u64,
        message: Message,
    },
    /// The answer to a request this manager made.
    Response { from: MemberId, message: Message },
    /// A vehicle's crossing request, from an RSU through the API.
    Crossing {
        request: Box<CrossingRequest>,
        via: RsuId,
        reply: oneshot::Sender<CrossingOutcome>,
    },
    /// The API asks for the best-chain block at a height.
    Block {
        height: u64,
        reply: oneshot::Sender<Option<Block>>,
    },
    /// Shut down: finish the event in progress, close the store.
    Stop,
}

/// What the manager's thread asks the swarm task to do.
enum Output {
    Publish {
        topic: Topic,
        bytes: Vec<u8>,
        kind: u8,
    },
    Request {
        to: MemberId,
        bytes: Vec<u8>,
        kind: u8,
    },
    Respond {
        request: u64,
        bytes: Vec<u8>,
    },
    Verdict {
        id: MessageId,
        source: PeerId,
        acceptance: MessageAcceptance,
        strike: bool,
    },
    AllowList(HashMap<PeerId, MemberId>),
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
}

/// The manager's effects on a peer-to-peer node.
struct NodeEffects {
    out: tokio_mpsc::UnboundedSender<Output>,
    miner: MiningWorker,
    timers: BinaryHeap<Reverse<(Timestamp, u64, TimerKey)>>,
    timer_seq: u64,
    /// The request being handled, if the event is a peer's request: its answer goes back
    /// as the response.
    answering: Option<(MemberId, u64)>,
    answered: bool,
    shared: Arc<Shared>,
    allowed: HashMap<PeerId, MemberId>,
    admitted: u64,
    committed: bool,
}

/// [`Timer`] with an order, for the timer heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TimerKey(Timer);

impl PartialOrd for TimerKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TimerKey {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl NodeEffects {
    fn encode(&self, message: &Message) -> (Vec<u8>, u8) {
        let bytes = serialize(message);
        self.shared
            .metrics
            .message("out", message.kind(), bytes.len());
        (bytes, message.kind())
    }
}

impl ManagerEffects for NodeEffects {
    fn broadcast(&mut self, message: Message) {
        let Some(topic) = Topic::of(&message) else {
            return;
        };
        let (bytes, kind) = self.encode(&message);
        let _ = self.out.send(Output::Publish { topic, bytes, kind });
    }

    fn send(&mut self, to: MemberId, message: Message) {
        let (bytes, kind) = self.encode(&message);
        if let Some((from, request)) = self.answering
            && from == to
            && !self.answered
            && matches!(message, Message::Blocks(_))
        {
            self.answered = true;
            let _ = self.out.send(Output::Respond { request, bytes });
            return;
        }
        let _ = self.out.send(Output::Request { to, bytes, kind });
    }

    fn start_mining(&mut self, candidate: Block) {
        self.miner.start(candidate);
    }

    fn abort_mining(&mut self) {
        self.miner.abort();
    }

    fn set_timer(&mut self, at: Timestamp, timer: Timer) {
        self.timer_seq += 1;
        self.timers
            .push(Reverse((at, self.timer_seq, TimerKey(timer))));
    }

    fn admitted(&mut self, admission: Admission) {
        self.admitted += 1;
        let delay = admission
            .admitted_at
            .0
            .saturating_sub(admission.crossed_at.0);
        self.shared.metrics.delay.observe(delay as f64 / 1000.0);
        let record = AdmissionRecord {
            seq: 0,
            pseudonym: hex::encode(admission.vehicle.materials.pseudonym.0),
            from: admission.vehicle.from.0,
            txid: admission.txid.map(|t| t.to_string()).unwrap_or_default(),
            crossed_at: admission.crossed_at.0,
            admitted_at: admission.admitted_at.0,
            recovered: false,
        };
        tracing::debug!(pseudonym = %record.pseudonym, from = record.from, delay_ms = delay, "admitted");
        if let Err(e) = self.shared.record(record) {
            tracing::error!(path = %self.shared.path().display(), "recording an admission: {e}");
        }
    }

    fn rekeyed(&mut self, rekey: DomainRekey) {
        tracing::debug!(
            welcomes = rekey.welcomes.len(),
            "domain rekeyed (the RSUs broadcast it)"
        );
    }

    fn committed(&mut self, height: u64, hash: BlockHash) {
        self.committed = true;
        tracing::info!(height, %hash, "block committed");
    }

    fn refused(&mut self, refusal: Refusal) {
        self.shared.metrics.refused(refusal.kind());
        tracing::debug!("refused: {refusal}");
    }
}

/// How the manager judges a gossip message from what it did with it: refused content is
/// rejected (not forwarded), and the peer that sent it gets a strike when the refusal
/// proves a forgery whatever the receiver's state (a bad signature, malformed bytes, a
/// block whose proof, merkle root or signature fails). Refusals that may come from a state
/// the sender did not share yet (an unknown member, a replay, a conflicting spend, a clock
/// ahead) reject without a strike.
fn verdict(actions: &[Action]) -> (MessageAcceptance, bool) {
    use vkm_ledger::BlockError;
    use vkm_transfer::transfer::TransferError;
    for action in actions {
        let Action::Refused(refusal) = action else {
            continue;
        };
        let forged = match refusal {
            Refusal::Transfer { error, .. } => matches!(
                error,
                TransferError::BadSignature
                    | TransferError::SameEndpoints(_)
                    | TransferError::Malformed(_)
                    | TransferError::WrongKind(_)
            ),
            Refusal::InvalidBlock { error, .. } => {
                !matches!(error, BlockError::TimestampInFuture { .. })
            }
            Refusal::Registry(_) | Refusal::Value { .. } => false,
            _ => continue,
        };
        let acceptance = if matches!(refusal, Refusal::Value { .. }) {
            MessageAcceptance::Ignore
        } else {
            MessageAcceptance::Reject
        };
        return (acceptance, forged);
    }
    (MessageAcceptance::Accept, false)
}

/// The manager's thread: events in, actions applied, until [`Input::Stop`].
fn manager_loop(
    mut sm: SecurityManager,
    inbox: mpsc::Receiver<Input>,
    mut fx: NodeEffects,
) -> Result<(), P2pError> {
    apply(sm.start(Timestamp::now()), &mut fx);
    let refresh = |sm: &SecurityManager, fx: &mut NodeEffects| {
        let ledger = sm.ledger();
        fx.shared
            .set_chain(ledger.height(), ledger.tip(), sm.mempool_len(), fx.admitted);
        if std::mem::take(&mut fx.committed) {
            // The registry may have changed: who may connect follows the chain.
            let allowed = identity::allow_list(ledger.registry());
            if allowed != fx.allowed {
                tracing::info!(members = allowed.len(), "allow-list follows the registry");
                fx.allowed = allowed.clone();
                let _ = fx.out.send(Output::AllowList(allowed));
            }
        }
    };
    refresh(&sm, &mut fx);
    loop {
        // Timers due first.
        let now = Timestamp::now();
        while let Some(Reverse((at, _, _))) = fx.timers.peek()
            && *at <= now
        {
            let Some(Reverse((_, _, TimerKey(timer)))) = fx.timers.pop() else {
                break;
            };
            let actions = sm.handle(Event::Timer(timer), Timestamp::now())?;
            apply(actions, &mut fx);
        }
        let wait = fx
            .timers
            .peek()
            .map_or(Duration::from_secs(1), |Reverse((at, _, _))| {
                Duration::from_millis(at.0.saturating_sub(Timestamp::now().0))
            });
        let input = match inbox.recv_timeout(wait) {
            Ok(input) => input,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let now = Timestamp::now();
        match input {
            Input::Stop => break,
            Input::Mined(block) => {
                let actions = sm.handle(Event::Mined(block), now)?;
                apply(actions, &mut fx);
            }
            Input::Gossip {
                from,
                source,
                id,
                message,
            } => {
                let actions = sm.handle(Event::Received { from, message }, now)?;
                let (acceptance, strike) = verdict(&actions);
                let _ = fx.out.send(Output::Verdict {
                    id,
                    source,
                    acceptance,
                    strike,
                });
                apply(actions, &mut fx);
            }
            Input::Request {
                from,
                request,
                message,
            } => {
                fx.answering = Some((from, request));
                fx.answered = false;
                let actions = sm.handle(Event::Received { from, message }, now)?;
                apply(actions, &mut fx);
                if !fx.answered {
                    // Acknowledged without an answer (rate-limited, or nothing to send).
                    let _ = fx.out.send(Output::Respond {
                        request,
                        bytes: Vec::new(),
                    });
                }
                fx.answering = None;
            }
            Input::Response { from, message } => {
                let actions = sm.handle(Event::Received { from, message }, now)?;
                apply(actions, &mut fx);
            }
            Input::Crossing {
                request,
                via,
                reply,
            } => {
                let destination = request.destination;
                let actions = sm.handle(
                    Event::Crossing {
                        request: *request,
                        via,
                    },
                    now,
                )?;
                let outcome = crossing_outcome(&actions, destination == sm.id());
                let _ = reply.send(outcome);
                apply(actions, &mut fx);
            }
            Input::Block { height, reply } => {
                let _ = reply.send(sm.ledger().block_at(height).ok().flatten());
            }
        }
        refresh(&sm, &mut fx);
    }
    tracing::info!(
        height = sm.ledger().height(),
        "manager stopped; store closed"
    );
    Ok(())
}

fn crossing_outcome(actions: &[Action], to_self: bool) -> CrossingOutcome {
    for action in actions {
        match action {
            Action::Broadcast(Message::Transaction(tx)) => {
                return CrossingOutcome::Transfer(Transaction::KeyTransfer(tx.clone()).txid());
            }
            Action::Refused(refusal) => return CrossingOutcome::Refused(refusal.to_string()),
            _ => {}
        }
    }
    if to_self {
        CrossingOutcome::Enrolled
    } else {
        CrossingOutcome::Refused("no transfer was made".into())
    }
}

/// Transfers to `me` on the best chain whose admission the record lacks (a kill between
/// the store's commit and the record's write): opened again and recorded as recovered.
fn recover_admissions(
    ledger: &Ledger,
    rules: &KeyTransferRules,
    keys: &MemberKeys,
    me: MemberId,
    shared: &Shared,
) -> Result<usize, P2pError> {
    let recorded = shared.recorded_txids();
    let admitted: HashSet<Txid> = ledger.admitted()?.into_iter().collect();
    let directory = rules.cache().directory(ledger.registry());
    let mut recovered = 0;
    for height in 1..=ledger.height() {
        let Some(block) = ledger.block_at(height)? else {
            continue;
        };
        for (tx, txid) in block.transactions.iter().zip(block.txids()) {
            let Transaction::KeyTransfer(t) = tx else {
                continue;
            };
            if t.destination != me || recorded.contains(&txid.to_string()) {
                continue;
            }
            // Handled before the kill (the store records it with the block's commit);
            // what the manager refused then, it refuses again here.
            if !admitted.contains(&txid) {
                continue;
            }
            if let Ok(vehicle) =
                vkm_transfer::transfer::admit(t, keys, me, &directory, block.header.timestamp)
            {
                shared
                    .record(AdmissionRecord {
                        seq: 0,
                        pseudonym: hex::encode(vehicle.materials.pseudonym.0),
                        from: vehicle.from.0,
                        txid: txid.to_string(),
                        crossed_at: t.timestamp.0,
                        admitted_at: block.header.timestamp.0,
                        recovered: true,
                    })
                    .map_err(|source| P2pError::Io {
                        path: shared.path().to_path_buf(),
                        source,
                    })?;
                recovered += 1;
            }
        }
    }
    Ok(recovered)
}

/// The manager's keys from its PEM files.
pub fn load_keys(settings: &NodeSettings) -> Result<MemberKeys, P2pError> {
    let signing = zeroize::Zeroizing::new(crate::read_limited(&settings.signing_key, 16 * 1024)?);
    let encryption =
        zeroize::Zeroizing::new(crate::read_limited(&settings.encryption_key, 16 * 1024)?);
    let text = |b: &[u8], p: &Path| {
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map(zeroize::Zeroizing::new)
            .map_err(|_| P2pError::Config(format!("{} is not a PEM text file", p.display())))
    };
    let signing = text(&signing, &settings.signing_key)?;
    let encryption = text(&encryption, &settings.encryption_key)?;
    MemberKeys::from_pem(&signing, &encryption).map_err(|e| P2pError::Config(e.to_string()))
}

/// The genesis block from its file.
pub fn load_genesis(path: &Path) -> Result<Block, P2pError> {
    let bytes = crate::read_limited(path, vkm_block::limits::MAX_BLOCK_BYTES as u64)?;
    deserialize(&bytes).map_err(|e| P2pError::Config(format!("{}: {e}", path.display())))
}

/// Per-peer state of the swarm task: strikes and request rate.
#[derive(Default)]
struct PeerGuard {
    strikes: HashMap<PeerId, (u32, Instant)>,
    blocked_until: HashMap<PeerId, Instant>,
    tokens: HashMap<PeerId, (f64, Instant)>,
}

impl PeerGuard {
    /// Counts a strike; true when the peer should be blocked now.
    fn strike(&mut self, peer: PeerId) -> bool {
        let now = Instant::now();
        let entry = self.strikes.entry(peer).or_insert((0, now));
        if now.duration_since(entry.1) > STRIKE_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
        if entry.0 >= STRIKES {
            self.strikes.remove(&peer);
            self.blocked_until.insert(peer, now + BLOCK_FOR);
            return true;
        }
        false
    }

    /// Takes a request token; false when the peer is over its rate.
    fn admit_request(&mut self, peer: PeerId) -> bool {
        let now = Instant::now();
        let burst = 2.0 * REQUESTS_PER_SECOND;
        let (tokens, at) = self.tokens.entry(peer).or_insert((burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * REQUESTS_PER_SECOND).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Peers whose block ran out.
    fn expired(&mut self) -> Vec<PeerId> {
        let now = Instant::now();
        let done: Vec<PeerId> = self
            .blocked_until
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(p, _)| *p)
            .collect();
        for p in &done {
            self.blocked_until.remove(p);
        }
        done
    }
}

fn build_swarm(keys: &MemberKeys, registry: &mut Registry) -> Result<Swarm<Behaviour>, P2pError> {
    let keypair = identity::keypair(keys)?;
    let swarm_error = |e: &dyn std::fmt::Display| P2pError::Network(e.to_string());
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| swarm_error(&e))?
        .with_bandwidth_metrics(registry)
        .with_behaviour(|_key| {
            let config = gossipsub::ConfigBuilder::default()
                .heartbeat_interval(Duration::from_millis(700))
                .validation_mode(gossipsub::ValidationMode::Anonymous)
                .validate_messages()
                .message_id_fn(|m: &gossipsub::Message| {
                    MessageId::from(sha2::Sha256::digest(&m.data).to_vec())
                })
                .max_transmit_size(MAX_GOSSIP_BYTES)
                // A small mesh: every member is a direct peer, so a message reaches all
                // of them in about two hops, and each copy costs every receiver a
                // decryption and a decode.
                .mesh_n(3)
                .mesh_n_low(2)
                .mesh_n_high(4)
                .mesh_outbound_min(1)
                .flood_publish(false)
                // Long enough that a message still travelling is not taken for new; a
                // manager's rebroadcast of the same bytes goes to its peers directly.
                .duplicate_cache_time(DUPLICATE_CACHE)
                .build()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let gossipsub =
                gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, config)
                    .map_err(std::io::Error::other)?
                    .with_metrics(registry, gossipsub::MetricsConfig::default());
            let sync = request_response::Behaviour::with_codec(
                SyncCodec,
                [(SYNC_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(10))
                    .with_max_concurrent_streams(32),
            );
            Ok(Behaviour {
                allowed: Default::default(),
                blocked: Default::default(),
                gossipsub,
                sync,
            })
        })
        .map_err(|e| swarm_error(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    Ok(swarm)
}

/// Runs the node of `settings` until `shutdown` resolves; `extra_peers` are dialled
/// besides the configured ones.
pub async fn serve(
    settings: NodeSettings,
    extra_peers: Vec<Multiaddr>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), P2pError> {
    let me = settings.member();
    let keys = load_keys(&settings)?;
    let genesis = load_genesis(&settings.genesis)?;
    if let Some(dir) = settings.store.parent() {
        std::fs::create_dir_all(dir).map_err(|source| P2pError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let rules = KeyTransferRules::new(1);
    let ledger = Ledger::open(&settings.store, &genesis, chain_rules(&rules, 1))?;
    let registered = ledger.registry().security_manager(me).is_some_and(|m| {
        m.signing_key == vkm_transfer::keys::verifying_key_to_chain(keys.signing.verifying_key())
    });
    if !registered {
        tracing::warn!(
            id = me.0,
            "these keys are not a registered security manager: registered nodes will refuse this one"
        );
    }
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let mut swarm = build_swarm(&keys, &mut registry)?;
    let admissions_path = settings.store.with_extension("admissions.jsonl");
    let shared = Arc::new(
        Shared::open(me, &admissions_path, metrics, registry).map_err(|source| P2pError::Io {
            path: admissions_path.clone(),
            source,
        })?,
    );
    let recovered = recover_admissions(&ledger, &rules, &keys, me, &shared)?;
    if recovered > 0 {
        tracing::warn!(
            recovered,
            "admissions found on the chain but not recorded (a kill): recorded now"
        );
    }
    let allowed = identity::allow_list(ledger.registry());
    let calibration = match &settings.calibration {
        Some(path) => {
            let text = crate::read_limited_text(path, 1024 * 1024)?;
            Calibration::from_json(&text)
                .map_err(|e| P2pError::Config(format!("{}: {e}", path.display())))?
        }
        None => Calibration::paper(),
    };
    let policy = settings
        .policy
        .build(
            calibration,
            &Load {
                vehicles_per_hour: settings.expected_vehicles_per_hour,
                flows: settings.flows,
                structure: vkm_period::Structure::Blockchain,
            },
        )
        .map_err(|e| P2pError::Config(e.to_string()))?;
    let period = settings
        .policy
        .initial_period()
        .map_err(|e| P2pError::Config(e.to_string()))?;
    let mut seed = [0u8; 8];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut seed);
    let config = NodeConfig {
        mining_slot_ms: settings.mining_slot_ms,
        seed: u64::from_le_bytes(seed),
        ..NodeConfig::default()
    };
    let sm = SecurityManager::new(me, keys.clone(), ledger, rules, policy, period, config)?;

    let (inbox_tx, inbox) = mpsc::channel::<Input>();
    let (out_tx, mut out_rx) = tokio_mpsc::unbounded_channel::<Output>();
    let to_manager = inbox_tx.clone();
    let miner = MiningWorker::spawn(u64::from_le_bytes(seed) ^ 0x6d696e65, move |block, _| {
        if let Some(block) = block {
            let _ = to_manager.send(Input::Mined(block));
        }
    });
    let effects = NodeEffects {
        out: out_tx,
        miner,
        timers: BinaryHeap::new(),
        timer_seq: 0,
        answering: None,
        answered: false,
        shared: shared.clone(),
        allowed: allowed.clone(),
        admitted: shared.admissions.lock().map_or(0, |l| l.len() as u64),
        committed: false,
    };

    drop(keys);
    let mut members: HashMap<PeerId, MemberId> = HashMap::new();
    apply_allow_list(&mut swarm, &mut members, allowed);
    for topic in Topic::ALL {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic.ident())
            .map_err(|e| P2pError::Network(e.to_string()))?;
    }
    swarm
        .listen_on(settings.listen_addr()?)
        .map_err(|e| P2pError::Network(format!("listen on {}: {e}", settings.listen)))?;
    let mut dial: Vec<Multiaddr> = settings.peer_addrs()?;
    dial.extend(extra_peers);

    let api_listener = tokio::net::TcpListener::bind(settings.api)
        .await
        .map_err(|source| P2pError::Io {
            path: settings.api.to_string().into(),
            source,
        })?;
    let (api_stop_tx, api_stop) = oneshot::channel::<()>();
    let api = tokio::spawn(api::serve(
        api_listener,
        api::ApiState {
            inbox: inbox_tx.clone(),
            shared: shared.clone(),
        },
        async move {
            let _ = api_stop.await;
        },
    ));
    let manager = std::thread::spawn(move || manager_loop(sm, inbox, effects));
    tracing::info!(id = me.0, peer = %swarm.local_peer_id(), listen = %settings.listen, api = %settings.api, "node started");

    let mut guard = PeerGuard::default();
    let mut pending: HashMap<u64, ResponseChannel<Vec<u8>>> = HashMap::new();
    let mut next_request = 0u64;
    let mut redial = tokio::time::interval(Duration::from_secs(1));
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            _ = redial.tick() => {
                for peer in guard.expired() {
                    swarm.behaviour_mut().blocked.unblock_peer(peer);
                }
                let connected = swarm.connected_peers().count();
                for addr in &dial {
                    let opts = match identity::peer_of(addr) {
                        Some(peer) if swarm.is_connected(&peer) => continue,
                        Some(peer) => DialOpts::peer_id(peer)
                            .addresses(vec![addr.clone()])
                            .condition(PeerCondition::DisconnectedAndNotDialing)
                            .build(),
                        None if connected > 0 => continue,
                        None => DialOpts::unknown_peer_id().address(addr.clone()).build(),
                    };
                    let _ = swarm.dial(opts);
                }
            }
            output = out_rx.recv() => {
                let Some(output) = output else {
                    break Err(P2pError::Network("the manager stopped".into()));
                };
                carry_out(&mut swarm, &mut members, &mut pending, &mut guard, &shared, output);
            }
            event = swarm.select_next_some() => {
                on_swarm_event(&mut swarm, &members, &mut pending, &mut next_request, &mut guard, &shared, &inbox_tx, event);
            }
        }
    };
    tracing::info!("shutting down");
    let _ = api_stop_tx.send(());
    let _ = inbox_tx.send(Input::Stop);
    let joined = tokio::task::spawn_blocking(move || manager.join())
        .await
        .map_err(|e| P2pError::Network(e.to_string()))?;
    let _ = api.await;
    match joined {
        Ok(Ok(())) => result,
        Ok(Err(e)) => Err(e),
        Err(_) => Err(P2pError::Network("the manager's thread panicked".into())),
    }
}

fn apply_allow_list(
    swarm: &mut Swarm<Behaviour>,
    members: &mut HashMap<PeerId, MemberId>,
    allowed: HashMap<PeerId, MemberId>,
) {
    let me = *swarm.local_peer_id();
    for peer in members.keys() {
        if !allowed.contains_key(peer) {
            swarm.behaviour_mut().allowed.disallow_peer(*peer);
        }
    }
    for peer in allowed.keys() {
        if *peer != me {
            swarm.behaviour_mut().allowed.allow_peer(*peer);
        }
    }
    *members = allowed;
}

fn penalise(swarm: &mut Swarm<Behaviour>, guard: &mut PeerGuard, shared: &Shared, peer: PeerId) {
    if guard.strike(peer) {
        tracing::warn!(%peer, "bad input: peer disconnected and refused for {} s", BLOCK_FOR.as_secs());
        shared.metrics.penalties.inc();
        swarm.behaviour_mut().blocked.block_peer(peer);
    }
}

fn carry_out(
    swarm: &mut Swarm<Behaviour>,
    members: &mut HashMap<PeerId, MemberId>,
    pending: &mut HashMap<u64, ResponseChannel<Vec<u8>>>,
    guard: &mut PeerGuard,
    shared: &Shared,
    output: Output,
) {
    match output {
        Output::Publish { topic, bytes, kind } => {
            // A transaction published before and still remembered by gossip is a
            // rebroadcast (a transfer not mined after a few periods, or dropped by a
            // reorganisation): it goes to every connected member directly. Blocks and
            // tips are not sent again (peers catch up by locator).
            let resend = matches!(topic, Topic::Transfers | Topic::Values | Topic::Registry)
                .then(|| bytes.clone());
            match swarm
                .behaviour_mut()
                .gossipsub
                .publish(topic.ident(), bytes)
            {
                Ok(_) => {}
                Err(gossipsub::PublishError::Duplicate) if resend.is_some() => {
                    let bytes = resend.unwrap_or_default();
                    let peers: Vec<PeerId> = members
                        .keys()
                        .filter(|p| swarm.is_connected(p))
                        .copied()
                        .collect();
                    for peer in peers {
                        swarm
                            .behaviour_mut()
                            .sync
                            .send_request(&peer, bytes.clone());
                    }
                }
                Err(e) => {
                    tracing::debug!(kind = vkm_node::wire::kind_name(kind), "not published: {e}");
                }
            }
        }
        Output::Request { to, bytes, kind } => {
            let peer = members.iter().find(|(_, m)| **m == to).map(|(p, _)| *p);
            match peer {
                Some(peer) if swarm.is_connected(&peer) => {
                    swarm.behaviour_mut().sync.send_request(&peer, bytes);
                }
                _ => tracing::debug!(
                    to = to.0,
                    kind = vkm_node::wire::kind_name(kind),
                    "not connected: request not sent"
                ),
            }
        }
        Output::Respond { request, bytes } => {
            if let Some(channel) = pending.remove(&request) {
                let _ = swarm.behaviour_mut().sync.send_response(channel, bytes);
            }
        }
        Output::Verdict {
            id,
            source,
            acceptance,
            strike,
        } => {
            let _ = swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(&id, &source, acceptance);
            if strike {
                penalise(swarm, guard, shared, source);
            }
        }
        Output::AllowList(allowed) => apply_allow_list(swarm, members, allowed),
    }
}

#[allow(clippy::too_many_arguments)]
fn on_swarm_event(
    swarm: &mut Swarm<Behaviour>,
    members: &HashMap<PeerId, MemberId>,
    pending: &mut HashMap<u64, ResponseChannel<Vec<u8>>>,
    next_request: &mut u64,
    guard: &mut PeerGuard,
    shared: &Shared,
    inbox: &mpsc::Sender<Input>,
    event: SwarmEvent<BehaviourEvent>,
) {
    let decode = |bytes: &[u8]| -> Option<Message> {
        match deserialize::<Message>(bytes) {
            Ok(message) => {
                shared.metrics.message("in", message.kind(), bytes.len());
                Some(message)
            }
            Err(e) => {
                tracing::debug!("undecodable message: {e}");
                shared.metrics.malformed.inc();
                None
            }
        }
    };
    match event {
        SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        })) => {
            let from = members.get(&propagation_source).copied();
            let decoded = decode(&message.data).filter(|m| {
                Topic::of(m).is_some() && Topic::of(m) == Topic::from_hash(&message.topic)
            });
            match (from, decoded) {
                (Some(from), Some(message)) => {
                    let _ = inbox.send(Input::Gossip {
                        from,
                        source: propagation_source,
                        id: message_id,
                        message,
                    });
                }
                _ => {
                    let _ = swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Reject,
                        );
                    penalise(swarm, guard, shared, propagation_source);
                }
            }
        }
        SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
            peer,
            message,
            ..
        })) => {
            let Some(&from) = members.get(&peer) else {
                return;
            };
            match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    if !guard.admit_request(peer) {
                        // Dropped unanswered (the peer's request times out); not a
                        // strike: a rebroadcast after a reorganisation comes in bursts.
                        shared.metrics.rate_limited.inc();
                        return;
                    }
                    match decode(&request) {
                        Some(message) => {
                            *next_request += 1;
                            pending.insert(*next_request, channel);
                            let _ = inbox.send(Input::Request {
                                from,
                                request: *next_request,
                                message,
                            });
                        }
                        None => penalise(swarm, guard, shared, peer),
                    }
                }
                request_response::Message::Response { response, .. } => {
                    if response.is_empty() {
                        return;
                    }
                    match decode(&response) {
                        Some(message) => {
                            let _ = inbox.send(Input::Response { from, message });
                        }
                        None => penalise(swarm, guard, shared, peer),
                    }
                }
            }
        }
        SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::OutboundFailure {
            peer,
            error,
            ..
        })) => tracing::debug!(%peer, "request failed: {error}"),
        SwarmEvent::ConnectionEstablished { peer_id, .. } => {
            tracing::info!(peer = %peer_id, member = ?members.get(&peer_id).map(|m| m.0), "connected");
            shared.set_peers(swarm.connected_peers().count());
        }
        SwarmEvent::ConnectionClosed {
            peer_id,
            num_established,
            ..
        } => {
            if num_established == 0 {
                tracing::info!(peer = %peer_id, "disconnected");
            }
            shared.set_peers(swarm.connected_peers().count());
        }
        SwarmEvent::IncomingConnectionError { error, .. } => {
            shared.metrics.denied.inc();
            tracing::debug!("incoming connection refused: {error}");
        }
        SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
            tracing::debug!(peer = ?peer_id, "dial failed: {error}");
        }
        SwarmEvent::NewListenAddr { address, .. } => {
            tracing::info!(%address, "listening");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::testnet::{InitOptions, init};
    use rand::SeedableRng;
    use vkm_transfer::keys::MemberKeys;

    fn http_get(api: &str, path: &str) -> String {
        let mut response = ureq::get(&format!("{api}{path}")).call().unwrap();
        response.body_mut().read_to_string().unwrap()
    }

    /// The page, or nothing while the node is not serving yet.
    fn try_get(api: &str, path: &str) -> String {
        ureq::get(&format!("{api}{path}"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default()
    }

    fn metric(text: &str, name: &str) -> f64 {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Drives `swarm` until `done` holds, or fails after `seconds`.
    async fn drive_until(
        swarm: &mut Swarm<Behaviour>,
        seconds: u64,
        what: &str,
        mut done: impl FnMut(&mut Swarm<Behaviour>) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while !done(swarm) {
            assert!(Instant::now() < deadline, "timed out: {what}");
            tokio::select! {
                _ = swarm.select_next_some() => {}
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }

    /// A testnet of two managers in a temporary folder: the first one's settings and
    /// addresses, and the second one's registered keys (a peer the first accepts).
    struct TwoManagers {
        dir: std::path::PathBuf,
        testnet: crate::testnet::Testnet,
        settings: NodeSettings,
        api: String,
        target: Multiaddr,
        target_peer: PeerId,
        peer_keys: MemberKeys,
    }

    fn two_managers(name: &str) -> TwoManagers {
        let dir = std::env::temp_dir().join(format!("vkm-p2p-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let testnet = init(
            &dir,
            &InitOptions {
                sms: 2,
                difficulty_bits: 8,
                policy: vkm_period::PolicySpec::Fixed { period_s: 0.5 },
                base_port: None,
            },
        )
        .unwrap();
        let settings = NodeSettings::load(&testnet.nodes[0].config).unwrap();
        let api = testnet.nodes[0].api.clone();
        let target: Multiaddr = format!(
            "{}/p2p/{}",
            testnet.nodes[0].listen, testnet.nodes[0].peer_id
        )
        .parse()
        .unwrap();
        let target_peer = identity::peer_of(&target).unwrap();
        let peer_keys = load_keys(&NodeSettings::load(&testnet.nodes[1].config).unwrap()).unwrap();
        TwoManagers {
            dir,
            testnet,
            settings,
            api,
            target,
            target_peer,
            peer_keys,
        }
    }

    /// A swarm with `keys` that dials `target` until `target` listens to it on every topic.
    async fn subscribed_peer(
        keys: &MemberKeys,
        target: &Multiaddr,
        target_peer: PeerId,
    ) -> Swarm<Behaviour> {
        let mut swarm = build_swarm(keys, &mut Registry::default()).unwrap();
        swarm.behaviour_mut().allowed.allow_peer(target_peer);
        for topic in Topic::ALL {
            swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&topic.ident())
                .unwrap();
        }
        drive_until(&mut swarm, 120, "subscribed at the node", |swarm| {
            if !swarm.is_connected(&target_peer) {
                let _ = swarm.dial(target.clone());
            }
            swarm
                .behaviour()
                .gossipsub
                .all_peers()
                .any(|(p, topics)| *p == target_peer && topics.len() == Topic::ALL.len())
        })
        .await;
        swarm
    }

    /// Publishes a registry transaction from `swarm`.
    fn publish_registry(swarm: &mut Swarm<Behaviour>, tx: vkm_block::RegistryTx) {
        swarm
            .behaviour_mut()
            .gossipsub
            .publish(Topic::Registry.ident(), serialize(&Message::Registry(tx)))
            .unwrap();
    }

    /// A registered peer that sends random bytes and a forged block is refused, counted
    /// and cut off; the node's chain and mempool do not change.
    #[test]
    fn bad_input_from_a_peer_is_dropped_and_penalised() {
        let TwoManagers {
            dir,
            testnet,
            settings,
            api,
            target,
            target_peer,
            peer_keys: rogue_keys,
        } = two_managers("hostile");
        // The rogue holds the second manager's registered keys.
        let genesis = load_genesis(&testnet.genesis).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (stop, stopped) = oneshot::channel::<()>();
            let node = tokio::spawn(serve(settings, Vec::new(), async move {
                let _ = stopped.await;
            }));
            let mut rogue = subscribed_peer(&rogue_keys, &target, target_peer).await;
            // A forged block on the chain's genesis: wrong proof of work and signature.
            let mut rng = rand::rngs::StdRng::seed_from_u64(9);
            let mut forged = vkm_block::synthetic::block(&mut rng, 3, 8, Timestamp::now());
            forged.header.prev_block = genesis.block_hash();
            forged.header.merkle_root = forged.compute_merkle_root();
            let sends: Vec<(Topic, Vec<u8>)> = vec![
                (Topic::Blocks, serialize(&Message::Block(forged))),
                (Topic::Transfers, vec![0xde, 0xad, 0xbe, 0xef]),
                (
                    Topic::Tips,
                    serialize(&Message::Tip {
                        height: 1,
                        hash: BlockHash([1; 32]),
                    })[..20]
                        .to_vec(),
                ),
                (Topic::Registry, vec![7; 300]),
            ];
            for (topic, bytes) in sends {
                rogue
                    .behaviour_mut()
                    .gossipsub
                    .publish(topic.ident(), bytes)
                    .unwrap();
            }
            rogue
                .behaviour_mut()
                .sync
                .send_request(&target_peer, vec![0xff; 64]);
            drive_until(&mut rogue, 120, "the node cut the rogue off", |swarm| {
                !swarm.is_connected(&target_peer)
            })
            .await;
            let api2 = api.clone();
            let (metrics, status) = tokio::task::spawn_blocking(move || {
                (http_get(&api2, "/metrics"), http_get(&api2, "/status"))
            })
            .await
            .unwrap();
            assert!(metric(&metrics, "vkm_penalties_total") >= 1.0, "{metrics}");
            assert!(metric(&metrics, "vkm_malformed_total") >= 2.0, "{metrics}");
            assert!(
                metrics.contains("vkm_refused_total{reason=\"invalid_block\"} 1"),
                "{metrics}"
            );
            let status: serde_json::Value = serde_json::from_str(&status).unwrap();
            assert_eq!(status["height"], 0, "{status}");
            assert_eq!(status["mempool"], 0, "{status}");
            // Blocked: dialling again does not get it back in.
            let _ = rogue.dial(target.clone());
            let until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < until {
                tokio::select! {
                    _ = rogue.select_next_some() => {}
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
            assert!(
                !rogue
                    .behaviour()
                    .gossipsub
                    .all_peers()
                    .any(|(p, t)| *p == target_peer && !t.is_empty()),
                "a blocked peer is not let back in"
            );
            let _ = stop.send(());
            node.await.unwrap().unwrap();
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Who may connect follows the chain: a member registered mid-run is let in once the
    /// block carrying its registration is committed, and cut off once its revocation is.
    #[test]
    fn the_allow_list_follows_the_registry() {
        use vkm_block::{DomainName, Role};
        use vkm_transfer::keys::EncryptionScheme;

        let TwoManagers {
            dir,
            testnet,
            settings,
            api,
            target,
            target_peer,
            peer_keys: helper_keys,
        } = two_managers("registry");
        let issuer = &testnet.central_managers[0];
        let issuer_keys = MemberKeys::from_pem(
            &std::fs::read_to_string(&issuer.signing_key).unwrap(),
            &std::fs::read_to_string(issuer.signing_key.with_file_name("encryption.pem")).unwrap(),
        )
        .unwrap();
        let newcomer_keys = MemberKeys::generate(EncryptionScheme::Ieee1609P256, &mut rand::rng());
        let newcomer_id = MemberId(50);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let peers_of = move |api: String| -> u64 {
            let status: serde_json::Value =
                serde_json::from_str(&http_get(&api, "/status")).unwrap();
            status["peers"].as_u64().unwrap()
        };
        runtime.block_on(async {
            let (stop, stopped) = oneshot::channel::<()>();
            let node = tokio::spawn(serve(settings, Vec::new(), async move {
                let _ = stopped.await;
            }));
            // Not registered: refused.
            let mut newcomer = build_swarm(&newcomer_keys, &mut Registry::default()).unwrap();
            newcomer.behaviour_mut().allowed.allow_peer(target_peer);
            let _ = newcomer.dial(target.clone());
            let api2 = api.clone();
            let until = Instant::now() + Duration::from_secs(60);
            loop {
                if !newcomer.is_connected(&target_peer) {
                    let _ = newcomer.dial(target.clone());
                }
                tokio::select! {
                    _ = newcomer.select_next_some() => {}
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
                let a = api2.clone();
                let metrics = tokio::task::spawn_blocking(move || try_get(&a, "/metrics"))
                    .await
                    .unwrap();
                if metric(&metrics, "vkm_connections_denied_total") >= 1.0 {
                    break;
                }
                assert!(
                    Instant::now() < until,
                    "the unregistered peer was not refused"
                );
            }
            // A registered peer brings the central manager's registration of it.
            let mut helper = subscribed_peer(&helper_keys, &target, target_peer).await;
            let member = newcomer_keys.member(
                newcomer_id,
                Role::SecurityManager,
                DomainName::new("domain-3".to_owned()).unwrap(),
            );
            let registration = vkm_transfer::central::registration(
                MemberId(issuer.id),
                &issuer_keys,
                &[member],
                Timestamp::now(),
            );
            publish_registry(&mut helper, registration);
            // Mined and committed: the newcomer gets in.
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                // Counted by the node itself: a refused handshake never is.
                let a = api.clone();
                let peers = tokio::task::spawn_blocking(move || peers_of(a))
                    .await
                    .unwrap();
                if peers == 2 && newcomer.is_connected(&target_peer) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the registered newcomer was not let in"
                );
                if !newcomer.is_connected(&target_peer) {
                    let _ = newcomer.dial(target.clone());
                }
                let pause = tokio::time::sleep(Duration::from_millis(300));
                tokio::pin!(pause);
                loop {
                    tokio::select! {
                        _ = newcomer.select_next_some() => {}
                        _ = helper.select_next_some() => {}
                        () = &mut pause => break,
                    }
                }
            }
            // Revoked: cut off.
            let revocation = vkm_transfer::central::member_revocation(
                MemberId(issuer.id),
                &issuer_keys,
                &[newcomer_id],
                Timestamp::now(),
            );
            publish_registry(&mut helper, revocation);
            let deadline = Instant::now() + Duration::from_secs(120);
            while newcomer.is_connected(&target_peer) {
                assert!(
                    Instant::now() < deadline,
                    "the revoked member was not cut off"
                );
                tokio::select! {
                    _ = newcomer.select_next_some() => {}
                    _ = helper.select_next_some() => {}
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
            let a = api.clone();
            let peers = tokio::task::spawn_blocking(move || peers_of(a))
                .await
                .unwrap();
            assert!(peers <= 1, "only the helper stays: {peers}");
            let _ = stop.send(());
            node.await.unwrap().unwrap();
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A transfer sent to a node directly over the request protocol (how a rebroadcast
    /// still in gossip's memory goes out) is collected, mined and admitted there.
    #[test]
    fn a_transfer_sent_directly_is_collected_and_admitted() {
        use vkm_transfer::directory::{Directory, MemberDirectory};

        let TwoManagers {
            dir,
            testnet,
            settings,
            api,
            target,
            target_peer,
            peer_keys,
        } = two_managers("direct");
        let genesis = load_genesis(&testnet.genesis).unwrap();
        let vkm_block::Transaction::Registry(registry) = &genesis.transactions[0] else {
            panic!("genesis registers the members");
        };
        let mut directory = MemberDirectory::new();
        directory.apply(registry).unwrap();
        let issuer = &testnet.central_managers[0];
        let issuer_key =
            <p256::ecdsa::SigningKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_pem(
                &std::fs::read_to_string(&issuer.signing_key).unwrap(),
            )
            .unwrap();
        let now = Timestamp::now();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let pseudonym = vkm_transfer::central::Pseudonym::issue(
            MemberId(issuer.id),
            &issuer_key,
            Timestamp(now.0 - 60_000),
            Timestamp(now.0 + 3_600_000),
            &mut rng,
        );
        let me = MemberId(testnet.nodes[0].id);
        let source = MemberId(testnet.nodes[1].id);
        let tx = vkm_transfer::transfer::build_key_transfer(
            &peer_keys,
            source,
            0,
            directory.member(me).unwrap(),
            now,
            &pseudonym.materials,
            &mut rng,
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (stop, stopped) = oneshot::channel::<()>();
            let node = tokio::spawn(serve(settings, Vec::new(), async move {
                let _ = stopped.await;
            }));
            let mut peer = subscribed_peer(&peer_keys, &target, target_peer).await;
            peer.behaviour_mut()
                .sync
                .send_request(&target_peer, serialize(&Message::Transaction(tx)));
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let a = api.clone();
                let page = tokio::task::spawn_blocking(move || try_get(&a, "/admissions"))
                    .await
                    .unwrap();
                if page.contains(&hex::encode(pseudonym.materials.pseudonym.0)) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the transfer was not admitted: {page}"
                );
                tokio::select! {
                    _ = peer.select_next_some() => {}
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
            let _ = stop.send(());
            node.await.unwrap().unwrap();
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
