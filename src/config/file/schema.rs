//! Which tables and keys the file may hold. Anything else is reported as unknown.

use super::reader::Shape;
use Shape::Value as V;

const BULKHEAD: &[(&str, Shape)] = &[("max_in_flight", V), ("queue_capacity", V)];
const FAILURE_RATE: &[(&str, Shape)] = &[("window", V), ("min_calls", V), ("threshold", V)];
const BREAKER: &[(&str, Shape)] = &[
    ("failure_threshold", V),
    ("open_base", V),
    ("open_max", V),
    ("half_open_probes", V),
    ("probe_timeout", V),
    ("failure_rate", Shape::Table(FAILURE_RATE)),
];
/// The keys a model takes, after `first`: `[defaults]` holds them too, so the two lists
/// cannot drift apart.
macro_rules! model_keys {
    ($($first:expr),*) => {
        &[
            $($first,)*
            ("backend", V),
            ("url", V),
            ("api_key_env", V),
            ("timeout", V),
            ("first_token_timeout", V),
            ("stall_timeout", V),
            ("connect_timeout", V),
            ("keep_alive", V),
            ("bulkhead", Shape::Table(BULKHEAD)),
            ("breaker", Shape::Table(BREAKER)),
            ("options", Shape::AnyTable),
        ]
    };
}
const DEFAULTS: &[(&str, Shape)] = model_keys!();
const MODEL: &[(&str, Shape)] = model_keys!(("name", V), ("server_model", V));
const ROUTING: &[(&str, Shape)] = &[
    ("strategy", V),
    ("warmup", V),
    ("window", V),
    ("probe_every", V),
    ("hedge", V),
    ("hedge_budget", V),
];
const PROXY: &[(&str, Shape)] = &[
    ("listen", V),
    ("allow_remote", V),
    ("token_env", V),
    ("cors_origins", V),
    ("max_body_bytes", V),
    ("shutdown_grace", V),
];
const LOG: &[(&str, Shape)] = &[("level", V), ("file", V), ("content", V)];
pub(super) const ROOT: &[(&str, Shape)] = &[
    ("routing", Shape::Table(ROUTING)),
    ("defaults", Shape::Table(DEFAULTS)),
    ("model", Shape::Tables(MODEL)),
    ("proxy", Shape::Table(PROXY)),
    ("log", Shape::Table(LOG)),
];
