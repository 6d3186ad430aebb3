//! The EWMA strategies: preference, spikes, gradual recovery, idle decay, failures, load.

use super::super::test_support::*;
use super::*;
use crate::engine::metrics::Sample;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn answered(index: usize, total_ms: u64, ttft_ms: u64) -> Observation {
    Observation {
        index,
        at: Instant::now(),
        sample: Some(Sample {
            total: ms(total_ms),
            ttft: Some(ms(ttft_ms)),
            tokens_per_sec: Some(20.0),
        }),
        failed: false,
        took: ms(total_ms),
    }
}

fn first(s: &mut Ewma, models: &[ModelView]) -> usize {
    s.order(models, cx(0))[0].index
}

#[tokio::test(start_paused = true)]
async fn peak_ewma_prefers_the_faster_model() {
    let mut s = Ewma::peak();
    let models = vec![view(0, None), view(1, None)];
    for _ in 0..5 {
        s.observe(&answered(0, 4000, 800));
        s.observe(&answered(1, 1200, 300));
        tokio::time::advance(ms(500)).await;
    }
    let c = s.order(&models, cx(0));
    assert_eq!(indices(&c), [1, 0]);
    assert!(c[0].reason.starts_with("lowest cost: latency ~1."), "{c:?}");
}

#[tokio::test(start_paused = true)]
async fn peak_ewma_spreads_load_when_the_faster_is_busy() {
    let mut s = Ewma::peak();
    let mut models = vec![view(0, None), view(1, None)];
    s.observe(&answered(0, 3000, 500));
    s.observe(&answered(1, 1000, 200));
    assert_eq!(first(&mut s, &models), 1);
    // 1 s × (3 + 1) busy is dearer than 3 s × 1.
    models[1].in_flight = 3;
    assert_eq!(first(&mut s, &models), 0);
}

#[tokio::test(start_paused = true)]
async fn peak_ewma_reacts_at_once_to_a_spike() {
    let mut s = Ewma::peak();
    let models = vec![view(0, None), view(1, None)];
    for _ in 0..20 {
        s.observe(&answered(0, 1000, 200));
        s.observe(&answered(1, 2000, 400));
        tokio::time::advance(ms(500)).await;
    }
    assert_eq!(first(&mut s, &models), 0);
    // One slow answer from the favourite, and it is no longer first.
    s.observe(&answered(0, 9000, 5000));
    assert_eq!(first(&mut s, &models), 1);
}

#[tokio::test(start_paused = true)]
async fn peak_ewma_lower_samples_pull_the_estimate_down_gradually() {
    let mut s = Ewma::peak();
    s.observe(&answered(0, 8000, 1000));
    tokio::time::advance(ms(1000)).await;
    s.observe(&answered(0, 1000, 200));
    let now = Instant::now();
    let after_one = s.latency(0, now).unwrap();
    // One second after an 8 s sample, a 1 s sample moves it by 1 - e^(-1/10) only.
    assert!(after_one > 7.0 && after_one < 7.8, "{after_one}");
    for _ in 0..60 {
        tokio::time::advance(ms(1000)).await;
        s.observe(&answered(0, 1000, 200));
    }
    let settled = s.latency(0, Instant::now()).unwrap();
    assert!(settled < 1.05, "{settled}");
}

#[tokio::test(start_paused = true)]
async fn peak_ewma_returns_to_a_recovered_model_by_itself() {
    let mut s = Ewma::peak();
    let models = vec![view(0, None), view(1, None)];
    // Model 0 was fast, then very slow; model 1 stays at 3 s and takes the traffic.
    s.observe(&answered(0, 1000, 200));
    s.observe(&answered(0, 30_000, 20_000));
    s.observe(&answered(1, 3000, 600));
    assert_eq!(first(&mut s, &models), 1);
    let mut waited = Duration::ZERO;
    while first(&mut s, &models) == 1 {
        tokio::time::advance(ms(1000)).await;
        waited += ms(1000);
        s.observe(&answered(1, 3000, 600));
        assert!(waited < Duration::from_secs(300), "never tried again");
    }
    // 30 s decays below 3 s after about 30 × ln(10) ≈ 69 s of idleness.
    assert!(
        waited > Duration::from_secs(60) && waited < Duration::from_secs(80),
        "{waited:?}"
    );
    // It answers fast again, and keeps the traffic.
    s.observe(&answered(0, 1000, 200));
    tokio::time::advance(ms(1000)).await;
    s.observe(&answered(1, 3000, 600));
    assert_eq!(first(&mut s, &models), 0);
}

#[tokio::test(start_paused = true)]
async fn an_idle_model_decays_to_its_recent_median_not_below() {
    let mut s = Ewma::peak();
    // Model 0 is always slow (recent median 20 s); model 1 answers in 3 s.
    let models = vec![view(0, Some(20_000)), view(1, Some(3000))];
    s.observe(&answered(0, 25_000, 5000));
    s.observe(&answered(1, 3000, 600));
    for _ in 0..600 {
        tokio::time::advance(ms(1000)).await;
        s.observe(&answered(1, 3000, 600));
        assert_eq!(first(&mut s, &models), 1);
    }
    let settled = s.latency(0, Instant::now()).unwrap();
    assert!((settled - 20.0).abs() < 0.01, "{settled}");
}

#[tokio::test(start_paused = true)]
async fn a_failure_makes_a_model_dearer() {
    let mut s = Ewma::peak();
    let models = vec![view(0, None), view(1, None)];
    s.observe(&answered(0, 300, 100));
    s.observe(&answered(1, 900, 200));
    assert_eq!(first(&mut s, &models), 0);
    s.observe(&Observation {
        index: 0,
        at: Instant::now(),
        sample: None,
        failed: true,
        took: Duration::ZERO,
    });
    assert_eq!(first(&mut s, &models), 1);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_counts_as_at_least_as_slow_as_the_wait() {
    let mut s = Ewma::first_token();
    let models = vec![view(0, None), view(1, None)];
    s.observe(&answered(0, 3000, 300));
    s.observe(&answered(1, 6000, 2000));
    assert_eq!(first(&mut s, &models), 0);
    s.observe(&Observation {
        index: 0,
        at: Instant::now(),
        sample: None,
        failed: true,
        took: Duration::from_secs(15),
    });
    let estimate = s.latency(0, Instant::now()).unwrap();
    assert!(estimate >= 15.0, "{estimate}");
    assert_eq!(first(&mut s, &models), 1);
}

#[tokio::test(start_paused = true)]
async fn unavailable_models_go_last_and_unmeasured_ones_are_tried() {
    let mut s = Ewma::peak();
    let mut models = vec![view(0, None), view(1, None), view(2, None)];
    s.observe(&answered(0, 300, 100));
    s.observe(&answered(1, 900, 200));
    models[0].admits = false;
    let c = s.order(&models, cx(0));
    // Unmeasured 2 costs like the cheapest measured (0.3 s): ahead of 1.
    assert_eq!(indices(&c), [2, 1, 0]);
    assert_eq!(c[2].reason, "fallback: circuit open");
}

#[tokio::test(start_paused = true)]
async fn ttft_ewma_ranks_by_first_token_not_total() {
    let mut s = Ewma::first_token();
    let models = vec![view(0, None), view(1, None)];
    // Model 0 starts fast but writes long answers; model 1 starts slow, short answers.
    for _ in 0..5 {
        s.observe(&answered(0, 9000, 300));
        s.observe(&answered(1, 2000, 1500));
        tokio::time::advance(ms(500)).await;
    }
    assert_eq!(first(&mut s, &models), 0);
    let mut peak = Ewma::peak();
    for _ in 0..5 {
        peak.observe(&answered(0, 9000, 300));
        peak.observe(&answered(1, 2000, 1500));
    }
    assert_eq!(first(&mut peak, &models), 1);
    assert_eq!(s.name(), "ttft-ewma");
    assert_eq!(peak.name(), "peak-ewma");
}

#[tokio::test(start_paused = true)]
async fn failures_in_a_row_leave_a_bounded_estimate() {
    let mut s = Ewma::peak();
    let models = vec![view(0, None), view(1, None)];
    s.observe(&answered(1, 5000, 1000));
    for _ in 0..5000 {
        s.observe(&Observation {
            index: 0,
            at: Instant::now(),
            sample: None,
            failed: true,
            took: Duration::ZERO,
        });
    }
    let estimate = s.latency(0, Instant::now()).unwrap();
    assert_eq!(estimate, MAX_ESTIMATE.as_secs_f64());
    let c = s.order(&models, cx(0));
    assert_eq!(indices(&c), [1, 0]);
    assert_eq!(c[1].reason, "fallback: latency ~3600 s, 0 busy");
}
