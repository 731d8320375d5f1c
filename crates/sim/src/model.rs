//! Large sweeps: no cryptography runs, every operation costs what a calibration of
//! `vkm-period` says (Table III's time elements), and transactions and blocks are indexes.
//!
//! The nodes take the security manager's decisions with the security manager's own
//! [`Schedule`]: periods close at the same aligned times, the period policy is the same
//! [`PeriodPolicy`], the miner of a round is chosen by [`mining_rank`] with the same mining
//! slots, a period that ends while mining opens no round, and a peer's block aborts
//! mining. What is modelled instead of executed:
//! - a crossing costs its source tE + tS (seal and sign); the network learns of it one
//!   message delay later;
//! - each manager checks the peers' transfers it received as one CPU job every tenth of a
//!   collection period and at the period's end, before it closes the period (tV each: the
//!   same total as one check per receipt); with [`Verification::Destination`] only those
//!   bound for it;
//! - a block costs its miner tprep(n), then a nonce search of exponentially distributed
//!   length with mean tM on the miner; the first block mined at a height is the one the
//!   network keeps (forks are counted, not resolved);
//! - a block costs its destination tD per transfer it admits;
//! - in the traditional structures every hop costs tV + tD + tE + tS at a central manager
//!   and tV + tD at the destination (Eqs. 2-3 per transaction).
//!
//! Nothing is done per manager and transfer: the pending transfers are one list the
//! miners take from (a transfer is eligible at a miner once its message has arrived), the
//! managers count the transfers they have checked, and a block keeps its transfers sorted
//! by destination. The events of a run grow with crossings plus managers times periods,
//! not with managers times crossings.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use vkm_block::{BlockHash, MemberId, Timestamp};
use vkm_node::{Round, Schedule, mining_rank};
use vkm_period::{PeriodPolicy, TimeElements};
use vkm_runtime::{message_delay_s, seeds};

use crate::engine::{Arrival, Driver};
use crate::metrics::{BlockRecord, Metrics, PeriodRecord, TransferRecord};
use crate::scenario::{Scenario, Structure, Verification};
use crate::traffic::Crossing;
use crate::{SimError, seconds, timestamp};

/// What a node of the modelled simulation receives.
#[derive(Debug, Clone, Copy)]
pub enum Input {
    /// A vehicle crosses out of this node's district.
    Cross(Crossing),
    /// A block (blockchain).
    Block(u32),
    /// This node's collection period ends.
    PeriodEnd,
    /// This node checks the peers' transfers received since its last check.
    Check,
    /// This node's mining slot in the round with this number.
    Slot(u64),
    /// This node's miner finished the job with this generation.
    Mined {
        /// Which job.
        generation: u64,
    },
    /// A transfer hop of the traditional structure reaches this node.
    Hop(u32),
}

struct Transfer {
    crossed_s: f64,
    /// When its message reaches the other managers (blockchain).
    arrives_s: f64,
    from: u32,
    to: u32,
    /// Height of the block holding it, `u64::MAX` while pending.
    height: u64,
}

struct ModelBlock {
    miner: usize,
    /// Its transfers, sorted by destination.
    txs: Vec<u32>,
    record: BlockRecord,
    verification: (f64, u32),
}

struct Manager {
    schedule: Schedule,
    height: u64,
    /// Transfers this manager's district sent.
    sent: u64,
    /// Transfers bound for this manager's district sent so far.
    inbound: u64,
    /// The network's, this manager's and its inbound transfer counts at its last check.
    checked: (u64, u64, u64),
    /// The transfers of the running mining job.
    mining: Option<Vec<u32>>,
    generation: u64,
    miner_free_at: f64,
    job: (f64, f64, f64),
}

/// The modelled driver.
pub struct Model {
    costs: TimeElements,
    structure: Structure,
    managers: Vec<Manager>,
    ids: Vec<MemberId>,
    /// Central manager node of each district's domain (traditional structures).
    central_of: Vec<usize>,
    transfers: Vec<Transfer>,
    /// Transfers sent, and the ones not yet in a kept block in the order they were sent
    /// (mined ones are dropped from the front lazily).
    sent: u64,
    pending: std::collections::VecDeque<u32>,
    verification: Verification,
    blocks: Vec<ModelBlock>,
    /// Block index per height - 1 (the blocks the network keeps).
    chain: Vec<u32>,
    rng: StdRng,
    backoff_ms: f64,
    propagation_ms: f64,
    mining_slot_s: f64,
    max_block_transactions: usize,
    forks: u64,
    /// What the run recorded.
    pub metrics: Metrics,
}

/// How often a manager checks the transfers it received: a tenth of its period.
fn check_interval(schedule: &Schedule) -> f64 {
    schedule.period().seconds() / 10.0
}

/// A stand-in for the hash of the block at `height`, for [`mining_rank`].
fn tip_at(height: u64) -> BlockHash {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&height.to_le_bytes());
    BlockHash(hash)
}

impl Model {
    /// The nodes of `scenario` priced by `costs`, and their first timers.
    pub fn new(
        scenario: &Scenario,
        costs: TimeElements,
        policy: &dyn Fn() -> Result<Box<dyn PeriodPolicy + Send>, SimError>,
    ) -> Result<(Self, Vec<Arrival<Input>>), SimError> {
        let districts = scenario.districts();
        let period = scenario.initial_period()?;
        let config = crate::node_config(scenario);
        let mut first = Vec::new();
        let mut managers = Vec::new();
        if scenario.structure == Structure::Blockchain {
            for node in 0..districts {
                let schedule = Schedule::new(policy()?, period, config.mining_slot_ms);
                first.push(Arrival {
                    at: seconds(schedule.period_end(Timestamp(crate::EPOCH_MS))),
                    node,
                    input: Input::PeriodEnd,
                });
                first.push(Arrival {
                    at: check_interval(&schedule),
                    node,
                    input: Input::Check,
                });
                managers.push(Manager {
                    schedule,
                    height: 0,
                    sent: 0,
                    inbound: 0,
                    checked: (0, 0, 0),
                    mining: None,
                    generation: 0,
                    miner_free_at: 0.0,
                    job: (0.0, 0.0, 0.0),
                });
            }
        }
        let central_of = match scenario.structure {
            Structure::SameDomain => vec![districts; districts],
            _ => (districts..2 * districts).collect(),
        };
        Ok((
            Self {
                costs,
                structure: scenario.structure,
                managers,
                ids: (1..=districts as u32).map(MemberId).collect(),
                central_of,
                transfers: Vec::new(),
                sent: 0,
                pending: std::collections::VecDeque::new(),
                verification: scenario.verification,
                blocks: Vec::new(),
                chain: Vec::new(),
                rng: StdRng::seed_from_u64(seeds::delays(scenario.seed, 0)),
                backoff_ms: scenario.network.backoff_ms,
                propagation_ms: scenario.network.propagation_ms,
                mining_slot_s: config.mining_slot_ms as f64 / 1000.0,
                max_block_transactions: config.max_block_transactions,
                forks: 0,
                metrics: Metrics::default(),
            },
            first,
        ))
    }

    /// Nodes the engine needs: the security managers, then the central managers.
    pub fn nodes(scenario: &Scenario) -> usize {
        match scenario.structure {
            Structure::Blockchain => scenario.districts(),
            Structure::SameDomain => scenario.districts() + 1,
            Structure::CrossDomain => 2 * scenario.districts(),
        }
    }

    /// Blocks the network kept.
    pub fn height(&self) -> u64 {
        self.chain.len() as u64
    }

    /// Blocks mined at a height another block already held.
    pub fn forks(&self) -> u64 {
        self.forks
    }

    /// The metrics, with every kept block.
    pub fn finish(self) -> Metrics {
        let mut metrics = self.metrics;
        for &b in &self.chain {
            let block = &self.blocks[b as usize];
            let mut record = block.record;
            let (sum, n) = block.verification;
            if n > 0 {
                record.verification_s = sum / f64::from(n);
            }
            metrics.blocks.push(record);
        }
        metrics
    }

    fn delay(&mut self) -> f64 {
        message_delay_s(&mut self.rng, self.backoff_ms, self.propagation_ms)
    }

    fn new_transfer(&mut self, c: &Crossing, arrives_s: f64) -> u32 {
        self.transfers.push(Transfer {
            crossed_s: c.at,
            arrives_s,
            from: c.from as u32,
            to: c.to as u32,
            height: u64::MAX,
        });
        (self.transfers.len() - 1) as u32
    }

    fn admit(&mut self, tx: u32, done: f64) {
        let t = &self.transfers[tx as usize];
        self.metrics.transfers.push(TransferRecord {
            from: t.from as usize,
            to: t.to as usize,
            crossed_s: t.crossed_s,
            admitted_s: done,
        });
    }

    fn broadcast(&mut self, from: usize, at: f64, input: Input, out: &mut Vec<Arrival<Input>>) {
        for peer in (0..self.managers.len()).filter(|&p| p != from) {
            let at = at + self.delay();
            out.push(Arrival {
                at,
                node: peer,
                input,
            });
        }
    }

    /// Connects the kept blocks up to `height` at `node`: it admits the transfers bound
    /// for it. Returns the CPU time.
    fn connect(&mut self, node: usize, height: u64, now: f64) -> f64 {
        let mut cost = 0.0;
        while self.managers[node].height < height {
            let h = self.managers[node].height as usize;
            let b = self.chain[h] as usize;
            let txs = &self.blocks[b].txs;
            let to = |t: &u32| self.transfers[*t as usize].to as usize;
            let first = txs.partition_point(|t| to(t) < node);
            let end = first + txs[first..].partition_point(|t| to(t) == node);
            for i in first..end {
                let t = self.blocks[b].txs[i];
                cost += self.costs.decrypt_s;
                self.admit(t, now + cost);
            }
            self.managers[node].height += 1;
        }
        let m = &mut self.managers[node];
        if m.schedule.chain_moved() {
            m.mining = None;
            m.generation += 1; // Algorithm 1's abort
            m.miner_free_at = m.miner_free_at.min(now + cost);
        }
        cost
    }

    /// Checks the peers' transfers `node` received since its last check (with
    /// [`Verification::Destination`], those bound for it): counts them collected and
    /// returns the CPU time.
    fn check(&mut self, node: usize) -> f64 {
        let (network, inbound) = (self.sent, self.managers[node].inbound);
        let m = &mut self.managers[node];
        let (network_before, own_before, inbound_before) = m.checked;
        let own = m.sent;
        let received = (network - network_before) - (own - own_before);
        m.checked = (network, own, inbound);
        m.schedule.collect_many(received);
        let checked = match self.verification {
            Verification::Every => received,
            Verification::Destination => inbound - inbound_before,
        };
        checked as f64 * self.costs.verify_s
    }

    /// Whether a transfer is in `node`'s mempool at `now`: not in a kept block, and its
    /// own or its message arrived.
    fn known(&self, t: u32, node: usize, now: f64) -> bool {
        let t = &self.transfers[t as usize];
        t.height == u64::MAX && (t.from as usize == node || t.arrives_s <= now)
    }

    /// Whether `node` has a transfer waiting for a block at `now`.
    fn has_pending(&mut self, node: usize, now: f64) -> bool {
        while let Some(&t) = self.pending.front() {
            if self.transfers[t as usize].height == u64::MAX {
                break;
            }
            self.pending.pop_front();
        }
        self.pending.iter().any(|&t| self.known(t, node, now))
    }

    /// Starts `node`'s mining job at `now`, after `busy` seconds of other work: the
    /// block's preparation is CPU time; the nonce search runs beside it.
    fn start_mining(
        &mut self,
        node: usize,
        now: f64,
        busy: f64,
        out: &mut Vec<Arrival<Input>>,
    ) -> f64 {
        let mut txs: Vec<u32> = Vec::new();
        for &t in &self.pending {
            if txs.len() >= self.max_block_transactions {
                break;
            }
            if self.known(t, node, now) {
                txs.push(t);
            }
        }
        if txs.is_empty() {
            return 0.0;
        }
        let preparation = self.costs.prep.seconds(txs.len() as f64);
        let p: f64 = self.rng.random();
        let mining = -(1.0 - p).ln() * self.costs.mining_s;
        let m = &mut self.managers[node];
        m.generation += 1;
        let start = (now + busy + preparation).max(m.miner_free_at);
        m.miner_free_at = start + mining;
        m.job = (now, preparation, mining);
        m.mining = Some(txs);
        m.schedule.started_mining();
        out.push(Arrival {
            at: start + mining,
            node,
            input: Input::Mined {
                generation: m.generation,
            },
        });
        preparation
    }

    fn handle_manager(
        &mut self,
        node: usize,
        input: Input,
        now: f64,
        out: &mut Vec<Arrival<Input>>,
    ) -> f64 {
        let c = self.costs;
        match input {
            Input::Cross(crossing) => {
                let cost = c.encrypt_s + c.sign_s;
                let arrives = now + cost + self.delay();
                let tx = self.new_transfer(&crossing, arrives);
                self.pending.push_back(tx);
                self.sent += 1;
                self.managers[crossing.to].inbound += 1;
                let m = &mut self.managers[node];
                m.sent += 1;
                m.schedule.collect();
                cost
            }
            Input::PeriodEnd => {
                // What arrived since the last check is checked before the period closes.
                let checks = self.check(node);
                let pending = self.has_pending(node, now);
                let m = &mut self.managers[node];
                let (height, me, ids) = (m.height, self.ids[node], &self.ids);
                let closed = m.schedule.close_period(timestamp(now), pending, || {
                    mining_rank(&tip_at(height), height, me, ids.iter().copied())
                });
                if node == 0 {
                    self.metrics.periods.push(PeriodRecord {
                        node,
                        ended_s: now,
                        length_s: closed.length.seconds(),
                        transactions: closed.collected,
                    });
                }
                out.push(Arrival {
                    at: seconds(closed.next_end),
                    node,
                    input: Input::PeriodEnd,
                });
                if node == 0 && closed.round != Round::None {
                    self.metrics.rounds += 1;
                }
                checks
                    + match closed.round {
                        Round::None => 0.0,
                        Round::MineNow => self.start_mining(node, now, checks, out),
                        Round::Wait { round, slots } => {
                            out.push(Arrival {
                                at: now + slots as f64 * self.mining_slot_s,
                                node,
                                input: Input::Slot(round),
                            });
                            0.0
                        }
                    }
            }
            Input::Check => {
                out.push(Arrival {
                    at: now + check_interval(&self.managers[node].schedule),
                    node,
                    input: Input::Check,
                });
                self.check(node)
            }
            Input::Slot(round) => {
                if self.managers[node].schedule.slot_due(round) {
                    self.start_mining(node, now, 0.0, out)
                } else {
                    0.0
                }
            }
            Input::Mined { generation } => {
                let m = &mut self.managers[node];
                if generation != m.generation {
                    return 0.0;
                }
                let Some(txs) = m.mining.take() else {
                    return 0.0;
                };
                m.schedule.stopped_mining();
                let height = m.height + 1;
                if self.chain.len() as u64 >= height {
                    self.forks += 1; // a peer's block at this height is already out
                    return 0.0;
                }
                let (started_s, preparation_s, mining_s) = m.job;
                let mut txs = txs;
                for &t in &txs {
                    self.transfers[t as usize].height = height;
                }
                txs.sort_by_key(|&t| self.transfers[t as usize].to);
                let index = self.blocks.len() as u32;
                self.blocks.push(ModelBlock {
                    miner: node,
                    record: BlockRecord {
                        height,
                        miner: node,
                        transactions: txs.len(),
                        started_s,
                        preparation_s,
                        mining_s,
                        verification_s: 0.0,
                    },
                    txs,
                    verification: (0.0, 0),
                });
                self.chain.push(index);
                self.broadcast(node, now, Input::Block(index), out);
                self.connect(node, height, now)
            }
            Input::Block(b) => {
                let height = self.blocks[b as usize].record.height;
                if height <= self.managers[node].height {
                    return 0.0;
                }
                let cost = self.connect(node, height, now);
                let block = &mut self.blocks[b as usize];
                if block.miner != node {
                    block.verification.0 += cost;
                    block.verification.1 += 1;
                }
                cost
            }
            Input::Hop(_) => 0.0,
        }
    }

    /// Traditional structures: a transfer moves SM -> CA (-> CA) -> SM, each hop with its
    /// cryptography at the node that handles it.
    fn handle_relay(
        &mut self,
        node: usize,
        input: Input,
        now: f64,
        out: &mut Vec<Arrival<Input>>,
    ) -> f64 {
        let c = self.costs;
        let districts = self.central_of.len();
        let (tx, cost, next) = match input {
            Input::Cross(crossing) => {
                let tx = self.new_transfer(&crossing, now);
                (
                    tx,
                    c.encrypt_s + c.sign_s,
                    Some(self.central_of[crossing.from]),
                )
            }
            Input::Hop(tx) => {
                let t = &self.transfers[tx as usize];
                let (from, to) = (t.from as usize, t.to as usize);
                let full = c.verify_s + c.decrypt_s + c.encrypt_s + c.sign_s;
                if node < districts {
                    (tx, c.verify_s + c.decrypt_s, None) // the destination
                } else if self.structure == Structure::CrossDomain && node == self.central_of[from]
                {
                    (tx, full, Some(self.central_of[to]))
                } else {
                    (tx, full, Some(to))
                }
            }
            _ => return 0.0,
        };
        match next {
            Some(target) => {
                let at = now + cost + self.delay();
                out.push(Arrival {
                    at,
                    node: target,
                    input: Input::Hop(tx),
                });
            }
            None => self.admit(tx, now + cost),
        }
        cost
    }
}

impl Driver for Model {
    type Input = Input;

    fn handle(
        &mut self,
        node: usize,
        input: Input,
        now: f64,
        out: &mut Vec<Arrival<Input>>,
    ) -> f64 {
        match self.structure {
            Structure::Blockchain => self.handle_manager(node, input, now, out),
            Structure::SameDomain | Structure::CrossDomain => {
                self.handle_relay(node, input, now, out)
            }
        }
    }
}
