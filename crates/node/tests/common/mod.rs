//! A tiny deterministic driver for the node tests: events in virtual time.
#![allow(dead_code)] // Each test file uses a part.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::AtomicBool;

use rand::rngs::StdRng;
use vkm_block::MemberId;
use vkm_node::sm::{Action, Event};
use vkm_pow::Miner;

/// Events in virtual time, in order of time then insertion.
#[derive(Default)]
pub struct Queue {
    order: BinaryHeap<Reverse<(u64, u64)>>,
    payloads: HashMap<u64, (usize, Event)>,
    next: u64,
}

impl Queue {
    /// Delivers `event` to node `target` at `at` (ms).
    pub fn push(&mut self, at: u64, target: usize, event: Event) {
        self.next += 1;
        self.payloads.insert(self.next, (target, event));
        self.order.push(Reverse((at, self.next)));
    }

    /// The next event, earliest first.
    pub fn pop(&mut self) -> Option<(u64, usize, Event)> {
        let Reverse((at, id)) = self.order.pop()?;
        let (target, event) = self.payloads.remove(&id)?;
        Some((at, target, event))
    }
}

/// Carries out the actions of manager `target` (id `target + 1`) taken at `at` among
/// `managers` managers: messages arrive 2 ms later, a candidate is mined at once and
/// reported 1 ms later, timers are queued. Returns the actions a test records (admissions,
/// rekeys, refusals, commits).
pub fn carry_out(
    queue: &mut Queue,
    at: u64,
    target: usize,
    managers: usize,
    actions: Vec<Action>,
    rng: &mut StdRng,
) -> Vec<Action> {
    let from = MemberId(target as u32 + 1);
    let mut rest = Vec::new();
    for action in actions {
        match action {
            Action::Broadcast(message) => {
                for peer in (0..managers).filter(|&p| p != target) {
                    let message = message.clone();
                    queue.push(at + 2, peer, Event::Received { from, message });
                }
            }
            Action::Send { to, message } => {
                queue.push(at + 2, to.0 as usize - 1, Event::Received { from, message });
            }
            Action::StartMining(mut block) => {
                Miner::default().mine(&mut block, rng, &AtomicBool::new(false));
                queue.push(at + 1, target, Event::Mined(block));
            }
            Action::SetTimer { at: when, timer } => queue.push(when.0, target, Event::Timer(timer)),
            Action::AbortMining => {}
            other => rest.push(other),
        }
    }
    rest
}
