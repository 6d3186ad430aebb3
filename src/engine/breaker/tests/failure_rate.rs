//! The optional failure-rate rule over a window of recent calls.

use tokio::time::advance;

use super::*;
use crate::config::FailureRateConfig;

fn rate_config() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 100,
        failure_rate: Some(FailureRateConfig {
            window: 10,
            min_calls: 5,
            threshold: 0.5,
        }),
        ..BreakerConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn failure_rate_opens_once_enough_calls_are_judged() {
    let (b, mut rx) = breaker_with(rate_config());
    succeed(&b);
    fail(&b);
    succeed(&b);
    fail(&b);
    assert_eq!(
        b.state(),
        BreakerState::Closed,
        "4 calls are fewer than min_calls"
    );

    fail(&b);

    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(
        transitions(&mut rx),
        vec![(
            BreakerState::Closed,
            BreakerState::Open,
            "failure rate 60 % over the last 5 calls; last: connection refused".into(),
            Some(secs(10)),
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn failure_rate_below_the_threshold_stays_closed() {
    let (b, _rx) = breaker_with(rate_config());
    for _ in 0..10 {
        succeed(&b);
        succeed(&b);
        fail(&b);
    }
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn failure_rate_counts_only_the_last_window_of_calls() {
    let (b, _rx) = breaker_with(rate_config());
    for _ in 0..10 {
        succeed(&b);
    }
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(b.state(), BreakerState::Closed, "4 of the last 10 failed");
    // 5 of all 15 calls would be 33 %; 5 of the last 10 is 50 %.
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open, "5 of the last 10 failed");
}

#[tokio::test(start_paused = true)]
async fn failure_rate_window_starts_afresh_after_a_clean_close() {
    let (b, _rx) = breaker_with(rate_config());
    for _ in 0..4 {
        succeed(&b);
    }
    fail(&b);
    fail(&b);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
    advance(secs(10)).await;
    succeed(&b);
    // Had the old window survived, this failure would make 5 of 9.
    fail(&b);
    assert_eq!(b.state(), BreakerState::Closed);
}
