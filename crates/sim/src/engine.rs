//! The discrete-event core: virtual time, an event queue, and one CPU per node with a
//! first-in first-out queue of work. What a node does with an input, and how long it
//! takes, is the [`Driver`]'s business: the real state machines with measured costs
//! ([`crate::measured`]) or calibrated costs ([`crate::model`]).
//!
//! A driver may take an input without finishing it ([`Driver::start`]) when the input
//! causes no arrival at another node (a transaction received: it only changes the node's
//! own state) and its work is still running elsewhere (on another core). The node is then
//! blocked, and the engine goes on with other nodes' events, conservatively: a blocked
//! node whose next input has arrived at `t` could send nothing that arrives before
//! `t + lookahead` (the least message delay), so events before that are safe; at that
//! horizon, or when nothing else is left, the engine finishes the node
//! ([`Driver::finish`]) and the node's later work runs at its own virtual times. The
//! result is the same as handling every input at once.

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

    /// Offers `input`, due at `now` on `node`, to be started now and finished later:
    /// returns it back to be handled at once (the default), or `None` if the driver took
    /// it. A driver may take only inputs that cause no arrival at another node.
    fn start(&mut self, node: usize, input: Self::Input, now: f64) -> Option<Self::Input> {
        let _ = (node, now);
        Some(input)
    }

    /// Finishes the input [`Driver::start`] took on `node` at `now`; returns its CPU
    /// time, like [`Driver::handle`].
    fn finish(&mut self, node: usize, now: f64, out: &mut Vec<Arrival<Self::Input>>) -> f64 {
        let _ = (node, now, out);
        0.0
    }
}

/// What a node's CPU is doing.
#[derive(Clone, Copy, PartialEq)]
enum Cpu {
    /// Nothing queued.
    Idle,
    /// Working until this time, when it takes its next input.
    Busy(f64),
    /// Free since `free`, its next queued input arriving only at `until` (after a blocked
    /// node is finished, its CPU may be free, in virtual time, before inputs it queued
    /// while blocked arrived); an earlier arrival starts at once.
    Waiting { free: f64, until: f64 },
    /// Its input was started by the driver and not finished; events at or after `horizon`
    /// may depend on it.
    Blocked { start: f64, horizon: f64 },
}

enum Kind<I> {
    Arrive(usize, I),
    /// A node's CPU takes its next input (stale unless its generation is the node's).
    Ready(usize, u64),
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

/// A node's load at the end of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Load {
    /// CPU time spent within the run, seconds.
    pub busy_s: f64,
    /// CPU time of the input being worked on that lies past the end of the run, seconds.
    pub booked_past_s: f64,
    /// Inputs still waiting for the CPU.
    pub queued: usize,
}

/// Virtual time, the event queue and the nodes' CPUs.
pub struct Engine<I> {
    heap: BinaryHeap<Item<I>>,
    seq: u64,
    /// Each node's inputs waiting for its CPU, in order of arrival, with their times.
    queues: Vec<VecDeque<(f64, I)>>,
    cpus: Vec<Cpu>,
    /// How many CPUs are blocked.
    blocked: usize,
    generations: Vec<u64>,
    busy_s: Vec<f64>,
    now: f64,
    processed: u64,
    lookahead: f64,
}

impl<I> Engine<I> {
    /// An engine for `nodes` nodes at time 0, for drivers that never defer an input.
    pub fn new(nodes: usize) -> Self {
        Self::with_lookahead(nodes, 0.0)
    }

    /// An engine for `nodes` nodes at time 0 whose messages between nodes take at least
    /// `lookahead` seconds (how far past a blocked node it may run).
    pub fn with_lookahead(nodes: usize, lookahead: f64) -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
            queues: (0..nodes).map(|_| VecDeque::new()).collect(),
            cpus: vec![Cpu::Idle; nodes],
            blocked: 0,
            generations: vec![0; nodes],
            busy_s: vec![0.0; nodes],
            now: 0.0,
            processed: 0,
            lookahead: lookahead.max(0.0),
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

    /// `node`'s CPU takes its next input at `at` (any earlier plan is void).
    fn ready(&mut self, node: usize, at: f64) {
        self.generations[node] += 1;
        let generation = self.generations[node];
        self.push(at, Kind::Ready(node, generation));
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

    /// Each node's load when a run that stopped at `until` ended: what an overloaded run
    /// leaves behind.
    pub fn loads(&self, until: f64) -> Vec<Load> {
        self.cpus
            .iter()
            .zip(&self.queues)
            .zip(&self.busy_s)
            .map(|((cpu, queue), busy)| {
                // A CPU works on one input at a time, so only the input it was working on
                // when the run stopped reaches past `until`.
                let booked_past_s = match cpu {
                    Cpu::Busy(free_at) => (free_at - until).max(0.0),
                    _ => 0.0,
                };
                Load {
                    busy_s: (busy - booked_past_s).max(0.0),
                    booked_past_s,
                    queued: queue.len(),
                }
            })
            .collect()
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
            // A blocked node is finished before any event at or past its horizon, and
            // before the run stops.
            let next = if next_heap <= until {
                next_heap
            } else {
                f64::INFINITY
            };
            if let Some(node) = self.first_blocked(next) {
                self.finish(driver, node, &mut out);
                continue;
            }
            let Some(item) = self.heap.pop() else { break };
            if item.at > until {
                self.heap.push(item);
                self.now = self.now.max(until);
                break;
            }
            self.now = self.now.max(item.at);
            match item.kind {
                Kind::Arrive(node, input) => self.arrive(node, item.at, input),
                Kind::Ready(node, generation) if generation == self.generations[node] => {
                    self.take_next(driver, node, item.at, &mut out);
                }
                Kind::Ready(..) => {} // superseded
            }
        }
    }

    fn arrive(&mut self, node: usize, at: f64, input: I) {
        // In order of arrival: after a blocked node is finished, its own work at earlier
        // virtual times may add inputs before ones already queued.
        let queue = &mut self.queues[node];
        let position = queue.partition_point(|(queued, _)| *queued <= at);
        queue.insert(position, (at, input));
        match self.cpus[node] {
            Cpu::Idle => self.ready(node, at),
            Cpu::Waiting { free, until } if at < until => {
                self.cpus[node] = Cpu::Waiting {
                    free,
                    until: at.max(free),
                };
                self.ready(node, at.max(free));
            }
            Cpu::Blocked { start, horizon } => {
                // Its next work starts no earlier than this arrival: what it sends then
                // arrives a lookahead later still.
                self.cpus[node] = Cpu::Blocked {
                    start,
                    horizon: horizon.min(at.max(start) + self.lookahead),
                };
            }
            Cpu::Busy(_) | Cpu::Waiting { .. } => {}
        }
    }

    /// `node`'s CPU is free at `at`: it takes its next input, if one has arrived.
    fn take_next<D: Driver<Input = I>>(
        &mut self,
        driver: &mut D,
        node: usize,
        at: f64,
        out: &mut Vec<Arrival<I>>,
    ) {
        let Some(&(arrived, _)) = self.queues[node].front() else {
            self.cpus[node] = Cpu::Idle;
            return;
        };
        if arrived > at {
            self.cpus[node] = Cpu::Waiting {
                free: at,
                until: arrived,
            };
            self.ready(node, arrived);
            return;
        }
        let Some((_, input)) = self.queues[node].pop_front() else {
            return;
        };
        match driver.start(node, input, at) {
            Some(input) => {
                let cost = driver.handle(node, input, at, out).max(0.0);
                self.done(node, at, cost, out);
            }
            None => {
                let horizon = self.queues[node]
                    .front()
                    .map_or(f64::INFINITY, |(queued, _)| queued.max(at) + self.lookahead);
                self.cpus[node] = Cpu::Blocked { start: at, horizon };
                self.blocked += 1;
            }
        }
    }

    /// The blocked node with the earliest horizon, if that horizon is not after `next`.
    fn first_blocked(&self, next: f64) -> Option<usize> {
        if self.blocked == 0 {
            return None;
        }
        self.cpus
            .iter()
            .enumerate()
            .filter_map(|(node, cpu)| match cpu {
                Cpu::Blocked { horizon, .. } if *horizon <= next || next.is_infinite() => {
                    Some((node, *horizon))
                }
                _ => None,
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(node, _)| node)
    }

    fn finish<D: Driver<Input = I>>(
        &mut self,
        driver: &mut D,
        node: usize,
        out: &mut Vec<Arrival<I>>,
    ) {
        if let Cpu::Blocked { start, .. } = self.cpus[node] {
            self.blocked -= 1;
            let cost = driver.finish(node, start, out).max(0.0);
            self.done(node, start, cost, out);
        }
    }

    /// Books `cost` of work started at `start` on `node` and schedules what it caused and
    /// the node's next input (at its own virtual time, which is before `now` if the node
    /// was blocked).
    fn done(&mut self, node: usize, start: f64, cost: f64, out: &mut Vec<Arrival<I>>) {
        self.processed += 1;
        self.busy_s[node] += cost;
        for a in out.drain(..) {
            if a.node < self.queues.len() {
                self.push(a.at.max(start), Kind::Arrive(a.node, a.input));
            }
        }
        self.cpus[node] = Cpu::Busy(start + cost);
        self.ready(node, start + cost);
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

    /// A network of nodes passing tokens: a token's work and what it sends follow from its
    /// value only, so any correct schedule handles the same tokens at the same times.
    /// "Quiet" tokens send nothing; `defer` makes the driver take them and
    /// finish them later.
    struct Tokens {
        nodes: usize,
        defer: bool,
        taken: Vec<Option<u64>>,
        log: Vec<(usize, u64, u64)>,
    }

    const LOOKAHEAD: f64 = 0.001;

    /// Two tokens in five send nothing.
    fn quiet(token: u64) -> bool {
        token % 5 >= 3
    }

    fn mix(x: u64) -> u64 {
        let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(x: u64) -> f64 {
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    impl Tokens {
        fn work(&mut self, node: usize, token: u64, now: f64, out: &mut Vec<Arrival<u64>>) -> f64 {
            // Times in nanoseconds, so the logs compare exactly.
            self.log.push((node, token, (now * 1e9).round() as u64));
            let cost = unit(mix(token)) * 0.004;
            if !quiet(token) && now < 0.1 {
                for k in 1..=2 {
                    let next = mix(token ^ k);
                    let to = (next % self.nodes as u64) as usize;
                    let delay = if to == node {
                        unit(mix(next)) * 0.002 // a timer: may be shorter than the lookahead
                    } else {
                        LOOKAHEAD + unit(mix(next)) * 0.003
                    };
                    out.push(Arrival {
                        at: now + cost + delay,
                        node: to,
                        input: next,
                    });
                }
            }
            cost
        }
    }

    impl Driver for Tokens {
        type Input = u64;
        fn handle(
            &mut self,
            node: usize,
            token: u64,
            now: f64,
            out: &mut Vec<Arrival<u64>>,
        ) -> f64 {
            self.work(node, token, now, out)
        }
        fn start(&mut self, node: usize, token: u64, _now: f64) -> Option<u64> {
            if self.defer && quiet(token) {
                self.taken[node] = Some(token);
                None
            } else {
                Some(token)
            }
        }
        fn finish(&mut self, node: usize, now: f64, out: &mut Vec<Arrival<u64>>) -> f64 {
            let token = self.taken[node].take().expect("a token was taken");
            let cost = self.work(node, token, now, out);
            assert!(out.is_empty(), "a quiet token sends nothing");
            cost
        }
    }

    fn run_tokens(nodes: usize, seeds: &[u64], defer: bool) -> (Vec<(usize, u64, u64)>, u64) {
        let mut engine = Engine::with_lookahead(nodes, LOOKAHEAD);
        let mut driver = Tokens {
            nodes,
            defer,
            taken: vec![None; nodes],
            log: Vec::new(),
        };
        let mut arrivals: Vec<Arrival<u64>> = seeds
            .iter()
            .map(|&s| Arrival {
                at: unit(mix(s)) * 0.05,
                node: (s % nodes as u64) as usize,
                input: mix(s),
            })
            .collect();
        arrivals.sort_by(|a, b| a.at.total_cmp(&b.at));
        let mut arrivals = arrivals.into_iter();
        engine.run(&mut driver, 2.0, &mut |_| arrivals.next());
        (driver.log, engine.processed())
    }

    #[test]
    fn a_blocked_node_lets_the_others_run_ahead() {
        let seeds: Vec<u64> = (0..10).collect();
        let (immediate, n) = run_tokens(4, &seeds, false);
        let (deferred, m) = run_tokens(4, &seeds, true);
        let in_time_order = |log: &[(usize, u64, u64)]| log.windows(2).all(|w| w[0].2 <= w[1].2);
        assert!(in_time_order(&immediate));
        // Handled out of virtual-time order: the engine went on past blocked nodes...
        assert!(!in_time_order(&deferred));
        // ... and every token was handled at the same virtual time all the same.
        let (mut immediate, mut deferred) = (immediate, deferred);
        immediate.sort_unstable();
        deferred.sort_unstable();
        assert!(immediate.len() > 100);
        assert_eq!(immediate, deferred);
        assert_eq!(n, m);
    }

    proptest::proptest! {
        #[test]
        fn deferring_quiet_inputs_changes_no_virtual_time(
            nodes in 2usize..6,
            seeds in proptest::collection::vec(proptest::prelude::any::<u64>(), 1..12),
        ) {
            let (mut immediate, n) = run_tokens(nodes, &seeds, false);
            let (mut deferred, m) = run_tokens(nodes, &seeds, true);
            immediate.sort_unstable();
            deferred.sort_unstable();
            proptest::prop_assert!(immediate.len() >= seeds.len());
            let first_difference = immediate.iter().zip(&deferred).find(|(a, b)| a != b);
            proptest::prop_assert_eq!(first_difference, None);
            proptest::prop_assert_eq!(immediate.len(), deferred.len());
            proptest::prop_assert_eq!(n, m);
        }
    }
}
