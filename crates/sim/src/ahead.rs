//! Checks run ahead, on the machine's other cores.
//!
//! When a security manager broadcasts a key transfer, every peer will verify its signature
//! when the message reaches it, and its destination will open it when the block carrying
//! it connects. That work depends only on the transaction, the registry and (to open it)
//! the destination's keys, so the measured driver starts it at once, one job per peer and
//! one for the destination, on worker threads ([`verify_ahead`], [`open_ahead`]), each
//! result kept in that node's [`Memo`]. The node's rules read the memo through the
//! [`Prechecks`] hook: when the state machine reaches the check (in virtual time) it takes
//! the result instead of doing the work again, the memo notes the job's number, and the
//! driver charges the job's measured duration to that node's CPU then. Every signature is still verified once per receiving
//! security manager and every transfer opened by its destination, each paid for where the
//! protocol does it; only the wall clock gains, from the other cores.
//!
//! A job nobody has started when its result is needed runs on the caller's thread, so a
//! single-core machine (no workers) does the same work in the same order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use vkm_block::{KeyTransferTx, PublicKeyBytes, Txid};
use vkm_ledger::Registry;
use vkm_transfer::keys::MemberKeys;
use vkm_transfer::rules::{MemberCache, OpenedAhead, Prechecks, open_ahead, verify_ahead};

/// Most results a memo keeps before it is cleared (results never taken: a refused
/// transfer, a run that ends first).
const MAX_KEPT: usize = 200_000;

/// One node's results of checks run ahead, each with its job's number, and the numbers of
/// the results its checks took: the node's rules read it as their [`Prechecks`].
#[derive(Debug, Default)]
pub(crate) struct Memo {
    signatures: Mutex<HashMap<(Txid, PublicKeyBytes), u64>>,
    openings: Mutex<HashMap<Sealed, (OpenedAhead, u64)>>,
    used: Mutex<Vec<u64>>,
}

/// A transfer's id and the destination entry's binding it was sealed to.
type Sealed = (Txid, [u8; 32]);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Inserts into a bounded map (cleared when full).
fn keep<K: std::hash::Hash + Eq, V>(map: &Mutex<HashMap<K, V>>, key: K, value: V) {
    let mut map = lock(map);
    if map.len() >= MAX_KEPT {
        map.clear();
    }
    map.insert(key, value);
}

impl Memo {
    /// The numbers of the jobs whose results the node's checks took since the last call.
    pub fn take_used(&self) -> Vec<u64> {
        std::mem::take(&mut lock(&self.used))
    }
}

impl Prechecks for Memo {
    fn take_signature(&self, txid: &Txid, signer: &PublicKeyBytes) -> bool {
        let job = lock(&self.signatures).remove(&(*txid, *signer));
        job.map(|job| lock(&self.used).push(job)).is_some()
    }

    fn take_opening(&self, txid: &Txid, binding: &[u8; 32]) -> Option<OpenedAhead> {
        let (opened, job) = lock(&self.openings).remove(&(*txid, *binding))?;
        lock(&self.used).push(job);
        Some(opened)
    }
}

/// What a job does, for one node.
pub(crate) enum Work {
    /// A peer verifies the transfer's signature.
    Verify,
    /// The destination opens the transfer (these are its keys).
    Open(Arc<MemberKeys>),
}

/// One node's check of one transfer.
pub(crate) struct Job {
    /// The prepared member keys.
    pub cache: Arc<MemberCache>,
    /// Where the checking node's rules find the result.
    pub memo: Arc<Memo>,
    /// The node's registry when the job was made.
    pub registry: Arc<Registry>,
    /// The transaction.
    pub tx: Arc<KeyTransferTx>,
    /// Its id.
    pub txid: Txid,
    /// What to do.
    pub work: Work,
}

impl Job {
    /// Runs the check, its result kept under `tag` in the node's memo; returns its
    /// wall-clock duration, seconds.
    fn run(self, tag: u64) -> f64 {
        let started = Instant::now();
        // A failed check keeps nothing: the node does the work again when the protocol
        // reaches it, and refuses the transfer then, at its own (measured) cost.
        let txid = self.txid;
        match &self.work {
            Work::Verify => {
                if let Ok(signer) = verify_ahead(&self.cache, &self.tx, &self.registry) {
                    keep(&self.memo.signatures, (txid, signer), tag);
                }
            }
            Work::Open(keys) => {
                if let Ok((binding, opened)) =
                    open_ahead(&self.cache, &self.tx, keys, &self.registry)
                {
                    keep(&self.memo.openings, (txid, binding), (opened, tag));
                }
            }
        }
        started.elapsed().as_secs_f64()
    }
}

enum Slot {
    Pending(Job),
    Running,
    Done(f64),
}

#[derive(Default)]
struct State {
    /// Signature checks, needed within milliseconds of virtual time, in order of need.
    urgent: VecDeque<u64>,
    /// Openings, needed a collection period later: done when no check waits.
    deferred: VecDeque<u64>,
    slots: HashMap<u64, Slot>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    work: Condvar,
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Verification jobs and the worker threads running them.
pub(crate) struct Ahead {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    next: u64,
}

impl Ahead {
    /// A pool of `workers` threads (none: every job runs when its result is needed).
    pub fn new(workers: usize) -> Self {
        let shared = Arc::new(Shared::default());
        let workers = (0..workers)
            .map(|_| {
                let shared = shared.clone();
                std::thread::spawn(move || work(&shared))
            })
            .collect();
        Self {
            shared,
            workers,
            next: 0,
        }
    }

    /// Queues `job`; returns its number for [`Ahead::finish`] and [`Ahead::collect`].
    pub fn submit(&mut self, job: Job) -> u64 {
        self.next += 1;
        let id = self.next;
        let urgent = matches!(job.work, Work::Verify);
        let mut state = self.shared.lock();
        state.slots.insert(id, Slot::Pending(job));
        if urgent {
            state.urgent.push_back(id);
        } else {
            state.deferred.push_back(id);
        }
        drop(state);
        self.shared.work.notify_one();
        id
    }

    /// Makes sure job `id` has run: runs it here if no worker has started it, waits for
    /// it otherwise.
    pub fn finish(&self, id: u64) {
        let mut state = self.shared.lock();
        loop {
            match state.slots.remove(&id) {
                Some(Slot::Pending(job)) => {
                    state.slots.insert(id, Slot::Running);
                    drop(state);
                    let seconds = job.run(id);
                    self.shared.lock().slots.insert(id, Slot::Done(seconds));
                    return;
                }
                Some(Slot::Running) => {
                    state.slots.insert(id, Slot::Running);
                    // Rather than idle while a worker finishes it, run another job: the
                    // check needed last (workers take the first), else an opening.
                    if let Some((other, job)) = take(&mut state, Take::Steal) {
                        drop(state);
                        let seconds = job.run(other);
                        state = self.shared.lock();
                        state.slots.insert(other, Slot::Done(seconds));
                        continue;
                    }
                    state = self
                        .shared
                        .done
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Some(done @ Slot::Done(_)) => {
                    state.slots.insert(id, done);
                    return;
                }
                None => return,
            }
        }
    }

    /// The measured duration of job `id` (run or waited for first, as by
    /// [`Ahead::finish`]), forgotten after. `None` for an unknown or collected job.
    pub fn collect(&self, id: u64) -> Option<f64> {
        self.finish(id);
        match self.shared.lock().slots.remove(&id) {
            Some(Slot::Done(seconds)) => Some(seconds),
            _ => None,
        }
    }
}

/// Which pending job to take.
#[derive(Clone, Copy)]
enum Take {
    /// A worker's: the check needed first, else the oldest opening.
    Next,
    /// A waiting caller's: the check needed last, else the oldest opening.
    Steal,
}

/// A pending job, marked running.
fn take(state: &mut State, which: Take) -> Option<(u64, Job)> {
    loop {
        let id = match which {
            Take::Next => state.urgent.pop_front(),
            Take::Steal => state.urgent.pop_back(),
        }
        .or_else(|| state.deferred.pop_front())?;
        // The job may have been run by its waiter already (its slot is gone then).
        match state.slots.remove(&id) {
            Some(Slot::Pending(job)) => {
                state.slots.insert(id, Slot::Running);
                return Some((id, job));
            }
            Some(other) => {
                state.slots.insert(id, other);
            }
            None => {}
        }
    }
}

fn work(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if state.closed {
            return;
        }
        if let Some((id, job)) = take(&mut state, Take::Next) {
            drop(state);
            let seconds = job.run(id);
            state = shared.lock();
            state.slots.insert(id, Slot::Done(seconds));
            shared.done.notify_all();
            continue;
        }
        state = shared
            .work
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashSet;

    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use vkm_block::{MemberId, Timestamp};
    use vkm_ledger::Ledger;
    use vkm_transfer::directory::Directory;
    use vkm_transfer::keys::EncryptionScheme;
    use vkm_transfer::rules::KeyTransferRules;
    use vkm_transfer::scenario::Scenario;
    use vkm_transfer::transfer::build_key_transfer;

    use super::*;

    const T0: u64 = 1_700_000_000_000;

    /// Nine jobs (eight peers verify, the destination opens) with `workers` threads:
    /// each runs once, its result is taken by its node's check, and its cost is collected
    /// once.
    fn every_job_runs_once_and_is_collected_once(workers: usize) {
        let mut rng = StdRng::seed_from_u64(3);
        let world = Scenario::new(3, 1, EncryptionScheme::Ieee1609P256, &mut rng);
        let genesis = world.genesis_block(8, Timestamp(T0));
        let ledger = Ledger::in_memory(&genesis, KeyTransferRules::new(1).rule_set()).unwrap();
        let registry = Arc::new(ledger.registry().clone());
        let (from, to) = (MemberId(1), MemberId(2));
        let vehicle = world
            .vehicle(0, Timestamp(T0), 3_600_000, &mut rng)
            .unwrap();
        let tx = Arc::new(
            build_key_transfer(
                world.keys(from).unwrap(),
                from,
                0,
                world.directory.member(to).unwrap(),
                Timestamp(T0),
                &vehicle,
                &mut rng,
            )
            .unwrap(),
        );
        let txid = vkm_block::Transaction::KeyTransfer(tx.as_ref().clone()).txid();
        let cache = Arc::new(MemberCache::default());
        let node = || {
            let memo = Arc::new(Memo::default());
            let rules = KeyTransferRules::with_cache(1, cache.clone()).with_prechecks(memo.clone());
            (rules, memo)
        };
        let peers: Vec<(KeyTransferRules, Arc<Memo>)> = (0..8).map(|_| node()).collect();
        let (destination, destination_memo) = node();
        let mut ahead = Ahead::new(workers);
        let mut jobs: Vec<u64> = peers
            .iter()
            .map(|(_, memo)| {
                ahead.submit(Job {
                    cache: cache.clone(),
                    memo: memo.clone(),
                    registry: registry.clone(),
                    tx: tx.clone(),
                    txid,
                    work: Work::Verify,
                })
            })
            .collect();
        let opening = ahead.submit(Job {
            cache: cache.clone(),
            memo: destination_memo.clone(),
            registry: registry.clone(),
            tx: tx.clone(),
            txid,
            work: Work::Open(Arc::new(world.keys(to).unwrap().clone())),
        });
        // Needed in another order than queued.
        jobs.reverse();
        let seen = HashSet::new();
        for (job, (rules, memo)) in jobs.iter().zip(peers.iter().rev()) {
            ahead.finish(*job);
            rules.check_and_remember(&tx, &registry, &seen).unwrap();
            assert_eq!(memo.take_used(), vec![*job]);
            assert!(ahead.collect(*job).unwrap() > 0.0);
            assert_eq!(ahead.collect(*job), None);
        }
        // No verdict left over (a job run twice would leave one).
        for (rules, memo) in &peers {
            rules.check_and_remember(&tx, &registry, &seen).unwrap();
            assert!(memo.take_used().is_empty());
        }
        ahead.finish(opening);
        let directory = destination.cache().directory(&registry);
        let admitted = destination
            .admit(
                &tx,
                world.keys(to).unwrap(),
                to,
                &directory,
                Timestamp(T0 + 1),
            )
            .unwrap();
        assert_eq!(admitted.materials, vehicle);
        assert_eq!(destination_memo.take_used(), vec![opening]);
        assert!(ahead.collect(opening).is_some());
        assert!(ahead.shared.lock().slots.is_empty());
    }

    #[test]
    fn without_workers_the_caller_runs_every_job() {
        every_job_runs_once_and_is_collected_once(0);
    }

    #[test]
    fn with_workers_every_job_runs_once() {
        every_job_runs_once_and_is_collected_once(1);
        every_job_runs_once_and_is_collected_once(3);
    }
}
