//! What each cell of the matrix must show. `docs/fault-matrix.md` renders this table.

use signalbox::backend::{BackendError, TimeoutKind};
use signalbox::engine::AttemptError;

use crate::Protocol::{self, Ollama, OpenAi};

/// How long the engine waits on the faulty model before falling back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GivesUp {
    /// As soon as the server's answer (or its end) arrives.
    AtOnce,
    /// When the first-token limit runs out.
    FirstTokenLimit,
    /// When the stall limit runs out after the last token.
    StallLimit,
}

impl GivesUp {
    pub fn describe(self) -> &'static str {
        match self {
            GivesUp::AtOnce => "at once",
            GivesUp::FirstTokenLimit => "first-token limit",
            GivesUp::StallLimit => "stall limit",
        }
    }
}

/// One cell: a fault over one protocol.
#[derive(Clone, Copy, Debug)]
pub struct Expect {
    pub fault: &'static str,
    pub protocol: Protocol,
    /// The attempt error's variant, as [`kind_of`] names it.
    pub kind: &'static str,
    /// The error's text as the user reads it. `{url}` stands for the model's chat URL,
    /// `{model}` for its name.
    pub text: &'static str,
    /// Counted against the breaker.
    pub counted: bool,
    /// The answer came from the other model.
    pub falls_back: bool,
    pub gives_up: GivesUp,
    /// The engine hung up while the server was still answering, and the server saw it.
    pub server_told: bool,
}

const CONNECT_CLOSED: &str = "cannot connect to {url}: client error (SendRequest): connection closed before message completed";
const FIRST_TOKEN: &str = "timed out after 2 s waiting for the first token";
const STALLED: &str = "stalled: no token for 1 s";
const RUNNER_STOPPED: &str = "HTTP 500: model runner has unexpectedly stopped, this may be due to \
resource limitations or an internal error, check ollama server logs for details";
const BUSY: &str = "server busy: server busy, please try again.  maximum pending requests exceeded";
const NOT_INSTALLED: &str = "not installed; run `ollama pull {model}`";
const MID_STREAM: &str =
    "server error mid-stream: an error was encountered while running the model: unexpected EOF";
const CUT_SHORT: &str = "stream ended before the answer was complete";
const MALFORMED_LINE: &str =
    "malformed stream: line 2 is not a chat chunk: EOF while parsing a value at line 1 column 35";
const MALFORMED_EVENT: &str = "malformed stream: event 2 is not a completion chunk: EOF while parsing a string at line 1 column 16";

/// Shorthand for a row.
#[allow(clippy::too_many_arguments)]
const fn row(
    fault: &'static str,
    protocol: Protocol,
    kind: &'static str,
    text: &'static str,
    counted: bool,
    gives_up: GivesUp,
    server_told: bool,
) -> Expect {
    Expect {
        fault,
        protocol,
        kind,
        text,
        counted,
        falls_back: true,
        gives_up,
        server_told,
    }
}

use GivesUp::{AtOnce, FirstTokenLimit, StallLimit};

/// Every cell, in the order of the document.
#[rustfmt::skip]
pub const MATRIX: &[Expect] = &[
    row("refuse", Ollama, "Connect", CONNECT_CLOSED, true, AtOnce, false),
    row("refuse", OpenAi, "Connect", CONNECT_CLOSED, true, AtOnce, false),
    row("no_answer", Ollama, "Timeout(first token)", FIRST_TOKEN, true, FirstTokenLimit, true),
    row("no_answer", OpenAi, "Timeout(first token)", FIRST_TOKEN, true, FirstTokenLimit, true),
    row("hang_after", Ollama, "Timeout(stall)", STALLED, true, StallLimit, true),
    row("hang_after", OpenAi, "Timeout(stall)", STALLED, true, StallLimit, true),
    row("server_error", Ollama, "Status(500)", RUNNER_STOPPED, true, AtOnce, false),
    row("server_error", OpenAi, "Status(500)", RUNNER_STOPPED, true, AtOnce, false),
    row("busy", Ollama, "Busy", BUSY, false, AtOnce, false),
    row("busy", OpenAi, "Busy", BUSY, false, AtOnce, false),
    row("not_installed", Ollama, "NotInstalled", NOT_INSTALLED, false, AtOnce, false),
    row("not_installed", OpenAi, "NotInstalled", NOT_INSTALLED, false, AtOnce, false),
    row("error_mid_stream", Ollama, "StreamError", MID_STREAM, true, AtOnce, false),
    // Ollama's /v1 layer has no way to report an error mid-stream: it just stops.
    row("error_mid_stream", OpenAi, "CutShort", CUT_SHORT, true, AtOnce, false),
    row("no_done", Ollama, "CutShort", CUT_SHORT, true, AtOnce, false),
    row("no_done", OpenAi, "CutShort", CUT_SHORT, true, AtOnce, false),
    // The server goes on answering after the bad line; the engine hangs up.
    row("malformed", Ollama, "Malformed", MALFORMED_LINE, true, AtOnce, true),
    row("malformed", OpenAi, "Malformed", MALFORMED_EVENT, true, AtOnce, true),
    row("slow_drip", Ollama, "Timeout(stall)", STALLED, true, StallLimit, true),
    row("slow_drip", OpenAi, "Timeout(stall)", STALLED, true, StallLimit, true),
    // Filler resets no limit.
    row("keep_alive_only", Ollama, "Timeout(first token)", FIRST_TOKEN, true, FirstTokenLimit, true),
    row("keep_alive_only", OpenAi, "Timeout(first token)", FIRST_TOKEN, true, FirstTokenLimit, true),
    row("empty_chunks", Ollama, "Timeout(first token)", FIRST_TOKEN, true, FirstTokenLimit, true),
    row("empty_chunks", OpenAi, "Timeout(first token)", FIRST_TOKEN, true, FirstTokenLimit, true),
];

/// The cell for a fault over a protocol.
pub fn cell(fault: &str, protocol: Protocol) -> Expect {
    *MATRIX
        .iter()
        .find(|e| e.fault == fault && e.protocol == protocol)
        .unwrap_or_else(|| panic!("the matrix has no row for {fault} over {protocol:?}"))
}

/// The attempt error's variant as the matrix names it.
pub fn kind_of(error: &AttemptError) -> String {
    match error {
        AttemptError::CircuitOpen { .. } => "CircuitOpen".into(),
        AttemptError::BulkheadFull { .. } => "BulkheadFull".into(),
        AttemptError::NotInstalled { .. } => "NotInstalled".into(),
        AttemptError::UnknownModel(_) => "UnknownModel".into(),
        AttemptError::Backend(error) => match error {
            BackendError::Connect { .. } => "Connect".into(),
            BackendError::Timeout { kind, .. } => format!("Timeout({kind})"),
            BackendError::Status { status, .. } => format!("Status({status})"),
            BackendError::Busy { .. } => "Busy".into(),
            BackendError::NotInstalled { .. } => "Backend(NotInstalled)".into(),
            BackendError::StreamError { .. } => "StreamError".into(),
            BackendError::Malformed { .. } => "Malformed".into(),
            BackendError::CutShort => "CutShort".into(),
            BackendError::BadRequest { status, .. } => format!("BadRequest({status})"),
        },
    }
}

/// The limit a timeout names, for checking when it fired.
pub fn timeout_kind(error: &AttemptError) -> Option<TimeoutKind> {
    match error {
        AttemptError::Backend(BackendError::Timeout { kind, .. }) => Some(*kind),
        _ => None,
    }
}

/// Whether `text` reads as `pattern` says, with `{url}` and `{model}` filled in.
pub fn text_matches(pattern: &str, text: &str, url: &str, model: &str) -> bool {
    text == pattern.replace("{url}", url).replace("{model}", model)
}
