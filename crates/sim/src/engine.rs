//! The discrete-event core: virtual time, an event queue, and one CPU per node with a
//! first-in first-out queue of work. What a node does with an input, and how long it
//! takes, is the [`Driver`]'s business: the real state machines with measured costs
//! ([`crate::measured`]) or calibrated costs ([`crate::model`]).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// Something arriving at a node at a virtual time (seconds).
#[derive(Debug)]
pub struct Arrival<I> {
    /// When, seconds since the start of the run.
    pub at: f64,
    /// Which node.
    pub node: usize,
    /// What.
    pub input: I,
}

/// What runs on the nodes.
pub trait Driver {
    /// What a node receives (a crossing, a peer's message, a timer, a solved block...).
    type Input;

    /// Node `node` handles `input`, starting at virtual time `now` on its CPU. Returns the
    /// CPU time the work took (seconds); what it causes goes into `out`, timed at or after
    /// `now` plus that time.
    fn handle(
        &mut self,
        node: usize,
        input: Self::Input,
        now: f64,
        out: &mut Vec<Arrival<Self::Input>>,
    ) -> f64;
}

enum Kind<I> {
    Arrive(usize, I),
    Ready(usize),
}

struct Item<I> {
    at: f64,
    seq: u64,
    kind: Kind<I>,
}

impl<I> PartialEq for Item<I> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<I> Eq for Item<I> {}
impl<I> PartialOrd for Item<I> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<I> Ord for Item<I> {
    /// Earliest first (a max-heap of reversed order), then first scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at
            .total_cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Virtual time, the event queue and the nodes' CPUs.
pub struct Engine<I> {
    heap: BinaryHeap<Item<I>>,
    seq: u64,
    queues: Vec<VecDeque<I>>,
    busy: Vec<bool>,
    busy_s: Vec<f64>,
    now: f64,
    processed: u64,
}

impl<I> Engine<I> {
    /// An engine for `nodes` nodes at time 0.
    pub fn new(nodes: usize) -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
            queues: (0..nodes).map(|_| VecDeque::new()).collect(),
            busy: vec![false; nodes],
            busy_s: vec![0.0; nodes],
            now: 0.0,
            processed: 0,
        }
    }

    fn push(&mut self, at: f64, kind: Kind<I>) {
        self.seq += 1;
        self.heap.push(Item {
            at,
            seq: self.seq,
            kind,
        });
    }

    /// Schedules `input` to arrive at `node` at `at` (not before the current time).
    pub fn schedule(&mut self, arrival: Arrival<I>) {
        if arrival.node < self.queues.len() {
            let at = arrival.at.max(self.now);
            self.push(at, Kind::Arrive(arrival.node, arrival.input));
        }
    }

    /// The current virtual time, seconds.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// CPU time each node spent so far, seconds.
    pub fn busy_seconds(&self) -> &[f64] {
        &self.busy_s
    }

    /// Inputs handled so far.
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// Runs until virtual time `until` or until nothing is left. Before each event,
    /// `source` is asked for external arrivals due no later than it (the traffic).
    pub fn run<D: Driver<Input = I>>(
        &mut self,
        driver: &mut D,
        until: f64,
        source: &mut dyn FnMut(f64) -> Option<Arrival<I>>,
    ) {
        let mut out = Vec::new();
        let mut pending: Option<Arrival<I>> = source(until);
        loop {
            let next_heap = self.heap.peek().map_or(f64::INFINITY, |i| i.at);
            if let Some(a) = pending.take_if(|a| a.at <= next_heap && a.at <= until) {
                self.schedule(a);
                pending = source(until);
                continue;
            }
            let Some(item) = self.heap.pop() else { break };
            if item.at > until {
                self.heap.push(item);
                self.now = until;
                break;
            }
            self.now = item.at;
            match item.kind {
                Kind::Arrive(node, input) => {
                    self.queues[node].push_back(input);
                    if !self.busy[node] {
                        self.busy[node] = true;
                        self.push(self.now, Kind::Ready(node));
                    }
                }
                Kind::Ready(node) => match self.queues[node].pop_front() {
                    Some(input) => {
                        let cost = driver.handle(node, input, self.now, &mut out).max(0.0);
                        self.processed += 1;
                        self.busy_s[node] += cost;
                        for a in out.drain(..) {
                            self.schedule(a);
                        }
                        self.push(self.now + cost, Kind::Ready(node));
                    }
                    None => self.busy[node] = false,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input costs one second and, if positive, sends its value minus one to the
    /// next node after half a second.
    struct Countdown(Vec<(usize, f64)>);

    impl Driver for Countdown {
        type Input = u32;
        fn handle(
            &mut self,
            node: usize,
            input: u32,
            now: f64,
            out: &mut Vec<Arrival<u32>>,
        ) -> f64 {
            self.0.push((node, now));
            if input > 0 {
                out.push(Arrival {
                    at: now + 1.5,
                    node: (node + 1) % 2,
                    input: input - 1,
                });
            }
            1.0
        }
    }

    #[test]
    fn work_queues_behind_a_busy_cpu_in_arrival_order() {
        let mut engine = Engine::new(2);
        let mut driver = Countdown(Vec::new());
        // Three inputs reach node 0 at once: they run at 0, 1 and 2.
        let mut arrivals = vec![(0.0, 0, 0), (0.0, 0, 0), (0.0, 0, 2)].into_iter();
        engine.run(&mut driver, 100.0, &mut |_| {
            arrivals
                .next()
                .map(|(at, node, input)| Arrival { at, node, input })
        });
        // The third sends 1 to node 1 at 2 + 1.5, which sends 0 back at 3.5 + 1.5.
        assert_eq!(
            driver.0,
            vec![(0, 0.0), (0, 1.0), (0, 2.0), (1, 3.5), (0, 5.0)]
        );
        assert_eq!(engine.busy_seconds(), &[4.0, 1.0]);
        assert_eq!(engine.processed(), 5);
    }

    #[test]
    fn stops_at_the_horizon_and_resumes() {
        let mut engine = Engine::new(2);
        let mut driver = Countdown(Vec::new());
        let mut once = Some(Arrival {
            at: 0.0,
            node: 0,
            input: 10,
        });
        engine.run(&mut driver, 4.0, &mut |_| once.take());
        assert_eq!(driver.0.len(), 3);
        assert_eq!(engine.now(), 4.0);
        engine.run(&mut driver, f64::INFINITY, &mut |_| None);
        assert_eq!(driver.0.len(), 11);
    }
}
