//! The breaker driven by random sequences of operations on a paused clock, checked step by
//! step against a small reference model of the documented behaviour.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use tokio::sync::broadcast::error::TryRecvError;

use super::*;

const BASE_MS: u64 = 10_000;
const MAX_MS: u64 = 40_000;
const PROBE_TIMEOUT_MS: u64 = 15_000;

#[derive(Clone, Copy, Debug)]
enum Op {
    Acquire,
    /// Report on the held permit at this index (modulo how many are held).
    Success(usize),
    Failure(usize),
    /// Drop a held permit unreported.
    Cancel(usize),
    Trip,
    Reset,
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Acquire),
        2 => any::<usize>().prop_map(Op::Success),
        3 => any::<usize>().prop_map(Op::Failure),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => Just(Op::Trip),
        1 => Just(Op::Reset),
        3 => prop_oneof![0u64..2_000, 0u64..50_000].prop_map(Op::Advance),
    ]
}

/// The reference: the documented rules, written plainly, with time in milliseconds.
#[derive(Debug)]
enum Phase {
    Closed,
    Open { until: u64 },
    HalfOpen { probes: Vec<(u64, u64)> },
}

#[derive(Clone, Copy, Debug)]
enum Ticket {
    Closed { generation: u64 },
    Probe { generation: u64, id: u64 },
}

#[derive(Debug)]
struct Model {
    probes: usize,
    phase: Phase,
    failures: u32,
    period: u64,
    opened: u64,
    generation: u64,
    next_id: u64,
}

impl Model {
    fn new(probes: usize) -> Model {
        Model {
            probes,
            phase: Phase::Closed,
            failures: 0,
            period: BASE_MS,
            opened: 0,
            generation: 0,
            next_id: 0,
        }
    }

    fn state(&self) -> BreakerState {
        match self.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn open(&mut self, at: u64, period: u64) {
        if !matches!(self.phase, Phase::Open { .. }) {
            self.opened += 1;
        }
        self.period = period;
        self.phase = Phase::Open { until: at + period };
        self.generation += 1;
    }

    fn close(&mut self) {
        self.phase = Phase::Closed;
        self.failures = 0;
        self.period = BASE_MS;
        self.generation += 1;
    }

    fn doubled(&self) -> u64 {
        (self.period * 2).min(MAX_MS)
    }

    fn settle(&mut self, now: u64) {
        loop {
            match &self.phase {
                Phase::Open { until } if *until <= now => {
                    self.phase = Phase::HalfOpen { probes: Vec::new() };
                    self.generation += 1;
                }
                Phase::HalfOpen { probes } => {
                    match probes.iter().map(|&(_, d)| d).filter(|&d| d <= now).min() {
                        Some(expired) => {
                            self.failures += 1;
                            self.open(expired, self.doubled());
                        }
                        None => return,
                    }
                }
                _ => return,
            }
        }
    }

    fn acquire(&mut self, now: u64) -> Result<Ticket, u64> {
        self.settle(now);
        let generation = self.generation;
        match &mut self.phase {
            Phase::Closed => Ok(Ticket::Closed { generation }),
            Phase::Open { until } => Err(*until - now),
            Phase::HalfOpen { probes } if probes.len() < self.probes => {
                let id = self.next_id;
                self.next_id += 1;
                probes.push((id, now + PROBE_TIMEOUT_MS));
                Ok(Ticket::Probe { generation, id })
            }
            Phase::HalfOpen { probes } => Err(probes.iter().map(|&(_, d)| d).min().unwrap() - now),
        }
    }

    fn current(&self, ticket: Ticket) -> bool {
        match (ticket, &self.phase) {
            (Ticket::Closed { generation }, Phase::Closed) => generation == self.generation,
            (Ticket::Probe { generation, id }, Phase::HalfOpen { probes }) => {
                generation == self.generation && probes.iter().any(|&(p, _)| p == id)
            }
            _ => false,
        }
    }

    fn report(&mut self, ticket: Ticket, ok: bool, now: u64) {
        self.settle(now);
        if !self.current(ticket) {
            return;
        }
        match (ticket, ok) {
            (Ticket::Closed { .. }, true) => self.failures = 0,
            (Ticket::Closed { .. }, false) => {
                self.failures += 1;
                if self.failures >= 2 {
                    self.open(now, BASE_MS);
                }
            }
            (Ticket::Probe { .. }, true) => self.close(),
            (Ticket::Probe { .. }, false) => {
                self.failures += 1;
                self.open(now, self.doubled());
            }
        }
    }

    fn cancel(&mut self, ticket: Ticket, now: u64) {
        self.settle(now);
        if let (Ticket::Probe { id, .. }, true) = (ticket, self.current(ticket))
            && let Phase::HalfOpen { probes } = &mut self.phase
        {
            probes.retain(|&(p, _)| p != id);
        }
    }

    fn view(&mut self, now: u64) -> BreakerView {
        self.settle(now);
        let (next_probe_in, open_period) = match &self.phase {
            Phase::Closed => (None, BASE_MS),
            Phase::Open { until } => (Some(ms(*until - now)), self.period),
            Phase::HalfOpen { .. } => (None, self.doubled()),
        };
        BreakerView {
            state: self.state(),
            consecutive_failures: self.failures,
            next_probe_in,
            open_period: ms(open_period),
            times_opened: self.opened,
        }
    }

    fn probes_in_flight(&self) -> usize {
        match &self.phase {
            Phase::HalfOpen { probes } => probes.len(),
            _ => 0,
        }
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn run(probes: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(async move {
        let config = BreakerConfig {
            half_open_probes: probes,
            probe_timeout: ms(PROBE_TIMEOUT_MS),
            ..BreakerConfig::default()
        };
        let bus = EventBus::new(4096);
        let mut events = bus.subscribe();
        let breaker = Breaker::new(Arc::from("m"), config, bus);
        let mut model = Model::new(probes as usize);
        let mut held: Vec<(BreakerPermit, Ticket)> = Vec::new();
        let mut now = 0u64;
        let mut last_state = BreakerState::Closed;

        for op in ops {
            match op {
                Op::Acquire => {
                    let real = breaker.try_acquire();
                    let expected = model.acquire(now);
                    match (real, expected) {
                        (Ok(permit), Ok(ticket)) => {
                            prop_assert_eq!(
                                permit.is_probe(),
                                matches!(ticket, Ticket::Probe { .. })
                            );
                            held.push((permit, ticket));
                        }
                        (Err(wait), Err(expected)) => prop_assert_eq!(wait, ms(expected)),
                        (real, expected) => prop_assert!(
                            false,
                            "acquire at {} ms: breaker {:?}, model {:?}",
                            now,
                            real.map(|p| p.is_probe()),
                            expected
                        ),
                    }
                }
                Op::Success(i) | Op::Failure(i) | Op::Cancel(i) if !held.is_empty() => {
                    let (permit, ticket) = held.remove(i % held.len());
                    match op {
                        Op::Success(_) => {
                            permit.success();
                            model.report(ticket, true, now);
                        }
                        Op::Failure(_) => {
                            permit.failure("refused");
                            model.report(ticket, false, now);
                        }
                        _ => {
                            drop(permit);
                            model.cancel(ticket, now);
                        }
                    }
                }
                Op::Success(_) | Op::Failure(_) | Op::Cancel(_) => {}
                Op::Trip => {
                    breaker.trip();
                    model.settle(now);
                    model.open(now, model.period);
                }
                Op::Reset => {
                    breaker.reset();
                    model.settle(now);
                    model.close();
                }
                Op::Advance(by) => {
                    tokio::time::advance(ms(by)).await;
                    now += by;
                }
            }

            // The breaker agrees with the model, and never exceeds its probes.
            let view = breaker.view();
            prop_assert_eq!(&view, &model.view(now), "after {:?} at {} ms", op, now);
            prop_assert!(breaker.probes_in_flight() <= probes as usize);
            prop_assert_eq!(breaker.probes_in_flight(), model.probes_in_flight());
            prop_assert_eq!(
                view.next_probe_in.is_some(),
                view.state == BreakerState::Open
            );
            if view.state == BreakerState::Open {
                prop_assert!(breaker.try_acquire().is_err(), "admitted while open");
            }

            // The published transitions form one unbroken path ending in the current state.
            loop {
                match events.try_recv() {
                    Ok(Event::Breaker {
                        from, to, open_for, ..
                    }) => {
                        prop_assert_eq!(from, last_state);
                        prop_assert_eq!(open_for.is_some(), to == BreakerState::Open);
                        last_state = to;
                    }
                    Ok(_) => {}
                    Err(TryRecvError::Empty) => break,
                    Err(other) => prop_assert!(false, "event bus: {:?}", other),
                }
            }
            prop_assert_eq!(last_state, view.state);
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn breaker_follows_the_reference_model(
        probes in 1u32..=3,
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        run(probes, ops)?;
    }
}
