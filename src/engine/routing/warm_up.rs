//! The warm-up every figure-driven strategy starts with: round-robin over the first
//! requests, so each model is measured before figures decide.

use super::round_robin::rotation;
use super::{Candidate, ModelView, Observation, RoutingContext, Strategy};

/// The round-robin order for request `seq` while it is within the first `warmup`, with a
/// reason that shows progress (`warm-up round-robin 1/2`); `None` once warm-up is over.
pub(super) fn warm_up_order(models: &[ModelView], seq: u64, warmup: u32) -> Option<Vec<Candidate>> {
    if seq >= u64::from(warmup) {
        return None;
    }
    let mut order = rotation(models, seq, "warm-up round-robin");
    if let Some(first) = order.first_mut() {
        first.reason = format!("warm-up round-robin {}/{}", seq + 1, warmup);
    }
    Some(order)
}

/// Wraps a strategy so that it serves the first `warmup` requests round-robin.
///
/// Without it, a strategy that treats an unmeasured model as no faster than the measured
/// ones keeps sending to the first model and never learns what the others can do.
pub struct WarmUp<S> {
    warmup: u32,
    inner: S,
}

impl<S: Strategy> WarmUp<S> {
    pub fn new(warmup: u32, inner: S) -> WarmUp<S> {
        WarmUp { warmup, inner }
    }
}

impl<S: Strategy> Strategy for WarmUp<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn order(&mut self, models: &[ModelView], cx: RoutingContext) -> Vec<Candidate> {
        warm_up_order(models, cx.seq, self.warmup).unwrap_or_else(|| self.inner.order(models, cx))
    }

    fn observe(&mut self, observation: &Observation) {
        self.inner.observe(observation);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::engine::routing::Ewma;

    #[test]
    fn peak_ewma_visits_every_model_during_warm_up_then_ranks_by_cost() {
        let mut s = WarmUp::new(2, Ewma::peak());
        let models = vec![view(0, None), view(1, None)];

        let first = s.order(&models, cx(0));
        assert_eq!(indices(&first), [0, 1]);
        assert_eq!(first[0].reason, "warm-up round-robin 1/2");
        let second = s.order(&models, cx(1));
        assert_eq!(indices(&second), [1, 0]);
        assert_eq!(second[0].reason, "warm-up round-robin 2/2");

        let third = s.order(&models, cx(2));
        assert!(
            third[0].reason.starts_with("lowest cost"),
            "{}",
            third[0].reason
        );
        assert_eq!(s.name(), "peak-ewma");
    }
}
