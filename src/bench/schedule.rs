//! Open-loop arrivals: request `k` is due at `start + k / rate`, whatever happened to the
//! requests before it.
//!
//! A sender that falls behind does not skip or shift arrivals: the late ones fire at once
//! and keep their due time, and latency is measured from the due time. A slow server then
//! shows up as latency, as it would for real users arriving on their own clock, instead
//! of quietly lowering the offered load (coordinated omission).

use std::time::Duration;

use tokio::time::Instant;

/// Arrival times at a fixed rate.
#[derive(Clone, Debug)]
pub struct Schedule {
    start: Instant,
    rate: f64,
    next: u64,
}

impl Schedule {
    /// Arrivals at `rate` per second from `start`; `rate` must be above zero.
    pub fn new(start: Instant, rate: f64) -> Schedule {
        Schedule {
            start,
            rate,
            next: 0,
        }
    }

    /// When the next arrival is due (without waiting).
    pub fn due(&self) -> Instant {
        // From the start each time, so rounding does not accumulate over many arrivals.
        let offset = self.next as f64 / self.rate;
        // Capped (about 30 years) so a degenerate rate cannot overflow the clock.
        self.start + Duration::try_from_secs_f64(offset.min(1e9)).unwrap_or(Duration::ZERO)
    }

    /// Wait until the next arrival is due and return its due time; at once if it is past.
    pub async fn tick(&mut self) -> Instant {
        let due = self.due();
        self.next += 1;
        tokio::time::sleep_until(due).await;
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn arrivals_come_at_the_rate_from_the_start() {
        let start = Instant::now();
        let mut schedule = Schedule::new(start, 10.0);
        for k in 0..5 {
            let due = schedule.tick().await;
            assert_eq!(due - start, ms(100 * k));
            assert_eq!(Instant::now(), due, "woke exactly when due");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_sender_that_falls_behind_catches_up_without_moving_due_times() {
        let start = Instant::now();
        let mut schedule = Schedule::new(start, 100.0);
        assert_eq!(schedule.tick().await, start);
        // Stuck for 35 ms: the arrivals due at 10, 20 and 30 ms fire at once, dated when
        // they were due, so their latency counts the wait; the next one waits for 40 ms.
        tokio::time::advance(ms(35)).await;
        for k in 1..=3 {
            assert_eq!(schedule.tick().await - start, ms(10 * k));
            assert_eq!(Instant::now() - start, ms(35));
        }
        assert_eq!(schedule.tick().await - start, ms(40));
        assert_eq!(Instant::now() - start, ms(40));
    }

    #[tokio::test(start_paused = true)]
    async fn due_times_do_not_drift_over_many_arrivals() {
        let start = Instant::now();
        // 1/3000 s does not divide evenly in nanoseconds.
        let mut schedule = Schedule::new(start, 3000.0);
        for _ in 0..30_000 {
            schedule.next += 1;
        }
        let due = schedule.tick().await;
        let off = (due - start).as_secs_f64() - 10.0;
        assert!(off.abs() < 1e-8, "{off}");
    }
}
