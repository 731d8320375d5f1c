//! The mining worker of a real-time driver: one thread that mines the candidates a
//! security manager asks for (Algorithm 1), abortable when a peer's block arrives, and
//! reports each solved block through a callback. The in-process network and the
//! peer-to-peer node both run one per manager.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::Block;
use vkm_pow::{Miner, MiningOutcome};

/// A mining thread: [`MiningWorker::start`] hands it a candidate, [`MiningWorker::abort`]
/// stops the one in progress; dropping the worker ends the thread once its current job
/// stops.
#[derive(Debug)]
pub struct MiningWorker {
    jobs: Option<Sender<Block>>,
    abort: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MiningWorker {
    /// Starts the thread. Nonces are searched in an order drawn from `seed`; each job
    /// reports the block (`Some` when solved, `None` when aborted) and the time spent to
    /// `done`.
    pub fn spawn(
        seed: u64,
        mut done: impl FnMut(Option<Block>, Duration) + Send + 'static,
    ) -> Self {
        let (jobs, queue) = channel::<Block>();
        let abort = Arc::new(AtomicBool::new(false));
        let flag = abort.clone();
        let thread = std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(seed);
            for mut block in queue {
                let started = Instant::now();
                let outcome = Miner::default().mine(&mut block, &mut rng, &flag);
                let solved = matches!(outcome, MiningOutcome::Mined(_));
                done(solved.then_some(block), started.elapsed());
            }
        });
        Self {
            jobs: Some(jobs),
            abort,
            thread: Some(thread),
        }
    }

    /// Mines `candidate` (after the job in progress, if any).
    pub fn start(&self, candidate: Block) {
        self.abort.store(false, Ordering::Relaxed);
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(candidate);
        }
    }

    /// Stops the job in progress.
    pub fn abort(&self) {
        self.abort.store(true, Ordering::Relaxed);
    }
}

impl Drop for MiningWorker {
    fn drop(&mut self) {
        self.abort.store(true, Ordering::Relaxed);
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
