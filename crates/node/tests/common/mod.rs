//! A tiny deterministic driver for the node tests: events in virtual time.
#![allow(dead_code)] // Each test file uses a part.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use vkm_node::sm::Event;

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
