//! Round-robin: each request starts one model further along.

use super::{Candidate, ModelView, RoutingContext, Strategy, available_first};

/// Rotates the starting model per request; models that cannot take it go last.
pub struct RoundRobin;

impl Strategy for RoundRobin {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn order(&mut self, models: &[ModelView], cx: RoutingContext) -> Vec<Candidate> {
        rotation(models, cx.seq, "round-robin")
    }
}

/// Models rotated to start at `seq`, available ones first.
pub(super) fn rotation(models: &[ModelView], seq: u64, label: &str) -> Vec<Candidate> {
    let n = models.len();
    if n == 0 {
        return Vec::new();
    }
    let start = (seq % n as u64) as usize;
    let mut order: Vec<usize> = (0..n).map(|k| (start + k) % n).collect();
    available_first(models, &mut order);
    order
        .into_iter()
        .enumerate()
        .map(|(rank, index)| Candidate {
            index,
            reason: if rank == 0 {
                format!("{label} {}/{n}", start + 1)
            } else {
                format!("{label} fallback {}", rank)
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn rotates_and_puts_unavailable_models_last() {
        let mut s = RoundRobin;
        let mut models = vec![view(0, None), view(1, None), view(2, None)];
        assert_eq!(indices(&s.order(&models, cx(0))), [0, 1, 2]);
        assert_eq!(indices(&s.order(&models, cx(1))), [1, 2, 0]);
        let c = s.order(&models, cx(2));
        assert_eq!(indices(&c), [2, 0, 1]);
        assert_eq!(c[0].reason, "round-robin 3/3");
        models[0].admits = false;
        assert_eq!(indices(&s.order(&models, cx(3))), [1, 2, 0]);
    }
}
