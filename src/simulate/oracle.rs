//! The oracle: a strategy that reads the scenario's ground truth instead of measuring.
//!
//! It ranks the models by the expected time to first token of their true profile now,
//! stretched by the load they carry (as the simulated model will stretch it), with models
//! that are down or hanging last. It knows the profiles, not each request's draws, so it
//! is a yardstick for "routing on perfect knowledge of the present", not a lower bound:
//! a measuring strategy can beat it on a given run, for instance by luck of the draws or
//! because the oracle's greedy choice crowds a model a little more than ideal.

use std::sync::Arc;

use super::model::{World, load_factor};
use crate::engine::routing::{Candidate, ModelView, RoutingContext, Strategy};

/// Expected first-token seconds are multiplied by this per unit of failure share, so a
/// model that fails often ranks behind a slower healthy one.
const FAILURE_WEIGHT: f64 = 10.0;

pub struct Oracle {
    world: Arc<World>,
}

impl Oracle {
    pub fn new(world: Arc<World>) -> Oracle {
        Oracle { world }
    }

    /// The model's expected first-token time now, given its load; infinite when down.
    fn cost(&self, m: &ModelView) -> f64 {
        let profile = self.world.profile(m.index);
        let t = self.world.elapsed();
        let unusable =
            profile.down_at(t) || profile.state == super::scenario::State::Hang || !m.available();
        if unusable {
            return f64::INFINITY;
        }
        let bad = profile.error + profile.hang + profile.refuse;
        let load = load_factor(profile, m.in_flight + m.queued + 1);
        profile.first_token.mean() * load * (1.0 + FAILURE_WEIGHT * bad)
    }
}

impl Strategy for Oracle {
    fn name(&self) -> &'static str {
        "oracle"
    }

    fn order(&mut self, models: &[ModelView], _cx: RoutingContext) -> Vec<Candidate> {
        let costs: Vec<f64> = models.iter().map(|m| self.cost(m)).collect();
        let mut order: Vec<usize> = (0..models.len()).collect();
        order.sort_by(|&a, &b| costs[a].total_cmp(&costs[b]));
        order
            .into_iter()
            .map(|index| Candidate {
                index,
                reason: "oracle: best true profile now".to_string(),
            })
            .collect()
    }
}
