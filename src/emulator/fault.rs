//! Scripted faults: what an emulated model does wrong, and for how long.
//!
//! A [`FaultRule`] is set per model, from code through the handle or over the admin
//! endpoint, and lasts for good, for the next N requests, or hits each request with a
//! probability. The JSON form is `{"fault":"hang_after","chunks":3}` plus an optional
//! `"times":N` or `"probability":P`.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Ollama's message when its request queue is full (two spaces after the period).
pub const BUSY_MESSAGE: &str = "server busy, please try again.  maximum pending requests exceeded";

/// Ollama's message when the model runner crashes.
pub const RUNNER_STOPPED_MESSAGE: &str = "model runner has unexpectedly stopped, this may be due \
to resource limitations or an internal error, check ollama server logs for details";

/// The error line a faulty stream ends with unless told otherwise.
pub const MID_STREAM_MESSAGE: &str =
    "an error was encountered while running the model: unexpected EOF";

/// What goes wrong with a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// Nothing: the model answers normally.
    None,
    /// The connection is closed with no response at all. One server serves every model,
    /// so it cannot stop accepting for one model: it accepts, reads the request, sees the
    /// model, and closes the socket without a byte. A client sees the same "connection
    /// closed before a response" as from a server that went away.
    Refuse,
    /// The request is accepted and never answered: no status, no bytes, until the client
    /// gives up.
    NoAnswer,
    /// `chunks` tokens arrive, then nothing more, with the connection held open.
    HangAfter { chunks: u32 },
    /// HTTP 500 with an error body, before any byte of the answer.
    ServerError {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// HTTP 503 with Ollama's "server busy" message.
    Busy,
    /// HTTP 404 "model 'x' not found"; the model also disappears from `/api/tags`.
    NotInstalled,
    /// `chunks` tokens (at least one), then an `{"error":...}` line, and the stream closes
    /// without `done`.
    ErrorMidStream {
        #[serde(default = "one")]
        chunks: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The stream closes without the `done` line: after `chunks` tokens, or after the
    /// whole answer when `chunks` is left out.
    NoDone {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chunks: Option<u32>,
    },
    /// After `chunks` tokens (at least one) comes a line that is not JSON; the answer then
    /// goes on as if nothing happened, so only a client that checks every line notices.
    Malformed {
        #[serde(default = "one")]
        chunks: u32,
    },
    /// Every gap between tokens is `factor` times longer than the profile's.
    SlowDrip { factor: f64 },
    /// Headers at once, then only blank lines (SSE: comment lines) every second, never a
    /// token. Real Ollama never does this; a proxy in front of it might.
    KeepAliveOnly,
    /// Headers at once, then well-formed chunks with empty content every second, never a
    /// token: what a model that only "thinks" looks like to a client that ignores thinking.
    /// A first-token timeout must not be reset by them.
    EmptyChunks,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// The fault a profile's random failures show unless told otherwise: a runner crash.
    pub fn default_failure() -> Self {
        Fault::ServerError { message: None }
    }

    /// A short name for logs and the admin state.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Refuse => "refuse",
            Fault::NoAnswer => "no_answer",
            Fault::HangAfter { .. } => "hang_after",
            Fault::ServerError { .. } => "server_error",
            Fault::Busy => "busy",
            Fault::NotInstalled => "not_installed",
            Fault::ErrorMidStream { .. } => "error_mid_stream",
            Fault::NoDone { .. } => "no_done",
            Fault::Malformed { .. } => "malformed",
            Fault::SlowDrip { .. } => "slow_drip",
            Fault::KeepAliveOnly => "keep_alive_only",
            Fault::EmptyChunks => "empty_chunks",
        }
    }
}

/// How long a fault lasts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every request until cleared.
    Always,
    /// The next N requests, then it clears itself.
    Times(u32),
    /// Each request, independently, with this probability (0–1).
    Probability(f64),
}

/// A fault and how long it lasts.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    pub fault: Fault,
    pub scope: Scope,
}

impl FaultRule {
    /// This fault on every request until cleared.
    pub fn always(fault: Fault) -> Self {
        FaultRule {
            fault,
            scope: Scope::Always,
        }
    }

    /// This fault on the next `n` requests.
    pub fn times(fault: Fault, n: u32) -> Self {
        FaultRule {
            fault,
            scope: Scope::Times(n),
        }
    }

    /// This fault on each request with probability `p`.
    pub fn probability(fault: Fault, p: f64) -> Self {
        FaultRule {
            fault,
            scope: Scope::Probability(p.clamp(0.0, 1.0)),
        }
    }
}

impl From<Fault> for FaultRule {
    fn from(fault: Fault) -> Self {
        FaultRule::always(fault)
    }
}

/// One model's current fault rule.
#[derive(Debug, Default)]
pub(crate) struct FaultSlot {
    rule: Mutex<Option<FaultRule>>,
}

impl FaultSlot {
    /// Replaces the rule; `Fault::None` (or `Times(0)`) clears it.
    pub(crate) fn set(&self, rule: FaultRule) {
        let keep = rule.fault != Fault::None && rule.scope != Scope::Times(0);
        *self.lock() = keep.then_some(rule);
    }

    pub(crate) fn clear(&self) {
        *self.lock() = None;
    }

    pub(crate) fn current(&self) -> Option<FaultRule> {
        self.lock().clone()
    }

    /// The fault this request gets, if any, counting down a `Times` rule. `roll` is the
    /// request's uniform draw in [0, 1), compared against a `Probability` rule.
    pub(crate) fn take(&self, roll: f64) -> Option<Fault> {
        let mut rule = self.lock();
        let current = rule.as_mut()?;
        match &mut current.scope {
            Scope::Always => Some(current.fault.clone()),
            Scope::Probability(p) => (roll < *p).then(|| current.fault.clone()),
            Scope::Times(n) => {
                *n = n.saturating_sub(1);
                let fault = current.fault.clone();
                if *n == 0 {
                    *rule = None;
                }
                Some(fault)
            }
        }
    }

    /// Whether the model currently looks uninstalled (it is left out of `/api/tags`).
    pub(crate) fn hides_model(&self) -> bool {
        matches!(self.lock().as_ref(), Some(r) if r.fault == Fault::NotInstalled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<FaultRule>> {
        // A panic while holding this lock cannot leave the rule half-written (each write
        // is one assignment), so a poisoned lock is still safe to use.
        self.rule
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_json_uses_snake_case_tags_and_fields() {
        let f: Fault = serde_json::from_str(r#"{"fault":"hang_after","chunks":3}"#).unwrap();
        assert_eq!(f, Fault::HangAfter { chunks: 3 });
        let f: Fault = serde_json::from_str(r#"{"fault":"error_mid_stream"}"#).unwrap();
        assert_eq!(
            f,
            Fault::ErrorMidStream {
                chunks: 1,
                message: None
            }
        );
        assert_eq!(
            serde_json::to_string(&Fault::Busy).unwrap(),
            r#"{"fault":"busy"}"#
        );
    }

    #[test]
    fn times_rule_clears_itself_after_n_requests() {
        let slot = FaultSlot::default();
        slot.set(FaultRule::times(Fault::Busy, 2));
        assert_eq!(slot.take(0.5), Some(Fault::Busy));
        assert_eq!(slot.take(0.5), Some(Fault::Busy));
        assert_eq!(slot.take(0.5), None);
        assert_eq!(slot.current(), None);
    }

    #[test]
    fn probability_rule_hits_only_rolls_below_p() {
        let slot = FaultSlot::default();
        slot.set(FaultRule::probability(Fault::Refuse, 0.25));
        assert_eq!(slot.take(0.1), Some(Fault::Refuse));
        assert_eq!(slot.take(0.3), None);
        assert!(slot.current().is_some());
    }

    #[test]
    fn setting_none_clears_the_rule() {
        let slot = FaultSlot::default();
        slot.set(FaultRule::always(Fault::NotInstalled));
        assert!(slot.hides_model());
        slot.set(FaultRule::always(Fault::None));
        assert!(!slot.hides_model());
        assert_eq!(slot.take(0.0), None);
    }
}
