//! `p95`: round-robin warm-up, then the lowest recent p95 of total latency.

use std::time::Duration;

use super::warm_up::warm_up_order;
use super::{Candidate, ModelView, RoutingContext, Strategy};
use crate::backend::fmt_duration as fmt_latency;
use crate::config::RoutingConfig;

/// Round-robin over the first `warmup` requests; then the available model with the lowest
/// recent p95 first and the others in rising p95. A model with no recent samples counts as
/// fastest, once, until it is measured. Every `probe_every` requests the available model
/// chosen least recently goes first once, so a model that slowed and recovered is found
/// again.
pub struct P95 {
    warmup: u32,
    probe_every: u32,
    /// Per model: put first while unmeasured, and not measured since.
    tried_unmeasured: Vec<bool>,
}

impl P95 {
    pub fn new(config: &RoutingConfig) -> P95 {
        P95 {
            warmup: config.warmup,
            probe_every: config.probe_every,
            tried_unmeasured: Vec::new(),
        }
    }

    /// Sort key: unmeasured-and-untried as fastest, unmeasured-but-tried as slowest.
    fn key(&self, m: &ModelView) -> Duration {
        match m.p95 {
            Some(p95) if m.samples > 0 => p95,
            _ if self.tried_unmeasured[m.index] => Duration::MAX,
            _ => Duration::ZERO,
        }
    }

    fn is_probe_turn(&self, seq: u64) -> bool {
        let after_warmup = seq - u64::from(self.warmup);
        self.probe_every > 0 && (after_warmup + 1).is_multiple_of(u64::from(self.probe_every))
    }
}

impl Strategy for P95 {
    fn name(&self) -> &'static str {
        "p95"
    }

    fn order(&mut self, models: &[ModelView], cx: RoutingContext) -> Vec<Candidate> {
        if let Some(order) = warm_up_order(models, cx.seq, self.warmup) {
            return order;
        }

        // Forget "tried" marks of models that have been measured since.
        self.tried_unmeasured.resize(models.len(), false);
        for m in models {
            if m.samples > 0 {
                self.tried_unmeasured[m.index] = false;
            }
        }

        // Available models by rising p95, then the rest the same way.
        let mut order: Vec<usize> = (0..models.len()).collect();
        order.sort_by_key(|&i| (!models[i].available(), self.key(&models[i])));
        if order.is_empty() {
            return Vec::new();
        }
        let mut first_reason = best_reason(models, &order);

        // Now and then, the available model chosen least recently goes first.
        if self.is_probe_turn(cx.seq)
            && let Some(pos) = least_recently_chosen(models, &order)
        {
            let probe = order.remove(pos);
            first_reason = match models[probe].last_chosen {
                Some((seq, _)) => format!("probe: not chosen for {} requests", cx.seq - seq),
                None => "probe: never chosen".to_string(),
            };
            order.insert(0, probe);
        }

        let first = order[0];
        if models[first].samples == 0 {
            self.tried_unmeasured[first] = true;
        }
        order
            .iter()
            .enumerate()
            .map(|(rank, &index)| Candidate {
                index,
                reason: if rank == 0 {
                    first_reason.clone()
                } else {
                    fallback_reason(&models[index])
                },
            })
            .collect()
    }
}

fn best_reason(models: &[ModelView], order: &[usize]) -> String {
    let best = &models[order[0]];
    if !best.available() {
        return "no model available; trying in p95 order".to_string();
    }
    let (Some(p95), true) = (best.p95, best.samples > 0) else {
        return "not measured yet: trying it once".to_string();
    };
    let runner_up = order[1..]
        .iter()
        .map(|&i| &models[i])
        .find(|m| m.available() && m.samples > 0)
        .and_then(|m| m.p95);
    match runner_up {
        Some(other) => format!(
            "lowest p95 ({} vs {})",
            fmt_latency(p95),
            fmt_latency(other)
        ),
        None => format!("lowest p95 ({})", fmt_latency(p95)),
    }
}

fn fallback_reason(m: &ModelView) -> String {
    if m.not_installed {
        "fallback: not installed".to_string()
    } else if !m.admits {
        "fallback: circuit open".to_string()
    } else if let (Some(p95), true) = (m.p95, m.samples > 0) {
        format!("fallback: p95 {}", fmt_latency(p95))
    } else {
        "fallback: not measured".to_string()
    }
}

/// Position in `order` (never 0) of the available model chosen longest ago.
fn least_recently_chosen(models: &[ModelView], order: &[usize]) -> Option<usize> {
    (1..order.len())
        .filter(|&pos| models[order[pos]].available())
        .min_by_key(|&pos| models[order[pos]].last_chosen.map(|(seq, _)| seq))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn config(warmup: u32, probe_every: u32) -> RoutingConfig {
        RoutingConfig {
            warmup,
            probe_every,
            ..RoutingConfig::default()
        }
    }

    #[test]
    fn warms_up_round_robin_then_picks_lowest_p95() {
        let mut s = P95::new(&config(2, 0));
        let models = vec![view(0, Some(4800)), view(1, Some(1200))];
        let c = s.order(&models, cx(0));
        assert_eq!(
            (indices(&c), c[0].reason.as_str()),
            (vec![0, 1], "warm-up round-robin 1/2")
        );
        let c = s.order(&models, cx(1));
        assert_eq!(
            (indices(&c), c[0].reason.as_str()),
            (vec![1, 0], "warm-up round-robin 2/2")
        );
        let c = s.order(&models, cx(2));
        assert_eq!(indices(&c), [1, 0]);
        assert_eq!(c[0].reason, "lowest p95 (1.2 s vs 4.8 s)");
        assert_eq!(c[1].reason, "fallback: p95 4.8 s");
    }

    #[test]
    fn open_and_not_installed_models_go_last() {
        let mut s = P95::new(&config(0, 0));
        let mut models = vec![view(0, Some(100)), view(1, Some(900)), view(2, Some(50))];
        models[2].admits = false;
        models[0].not_installed = true;
        let c = s.order(&models, cx(5));
        assert_eq!(indices(&c), [1, 2, 0]);
        assert_eq!(c[1].reason, "fallback: circuit open");
        assert_eq!(c[2].reason, "fallback: not installed");
    }

    #[test]
    fn unmeasured_model_is_tried_first_only_once_until_measured() {
        let mut s = P95::new(&config(0, 0));
        let mut models = vec![view(0, Some(500)), view(1, None)];
        let c = s.order(&models, cx(0));
        assert_eq!(
            (indices(&c), c[0].reason.as_str()),
            (vec![1, 0], "not measured yet: trying it once")
        );
        assert_eq!(indices(&s.order(&models, cx(1))), [0, 1]);
        // Measured slow: stays second. Its samples age out later: tried once more.
        models[1] = view(1, Some(900));
        assert_eq!(indices(&s.order(&models, cx(2))), [0, 1]);
        models[1] = view(1, None);
        assert_eq!(indices(&s.order(&models, cx(3))), [1, 0]);
    }

    #[test]
    fn probes_the_least_recently_chosen_model_every_n_requests() {
        let mut s = P95::new(&config(0, 5));
        let mut models = vec![view(0, Some(100)), view(1, Some(900))];
        models[1].last_chosen = Some((2, tokio::time::Instant::now()));
        let firsts: Vec<usize> = (0..10)
            .map(|seq| s.order(&models, cx(seq))[0].index)
            .collect();
        assert_eq!(firsts, [0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
        assert_eq!(
            s.order(&models, cx(14))[0].reason,
            "probe: not chosen for 12 requests"
        );
    }
}
