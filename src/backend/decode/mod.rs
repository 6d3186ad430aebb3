//! Stream decoders: bytes as they come off the socket, in reads of any size, into lines
//! (NDJSON) or events (server-sent events).
//!
//! Both accept any split of the bytes into reads: a line across reads, many lines in one
//! read, `\r\n` endings, and a last line without its newline. Both refuse a line (or an
//! event) longer than a limit with an error instead of buffering without bound.
//!
//! Lines that arrive whole inside one read are handed out as zero-copy slices of that
//! read; only the piece of a line that straddles two reads is copied, once.

mod lines;
mod sse;

pub use lines::{LineDecoder, NdjsonDecoder};
pub use sse::{SseDecoder, SseEvent};

/// The longest line (or SSE event) a decoder accepts by default: 1 MiB.
pub const DEFAULT_MAX_LINE: usize = 1024 * 1024;

/// Why a decoder refused its input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A line went past the limit before its end was seen.
    #[error("a line is longer than the limit of {limit} bytes")]
    LineTooLong { limit: usize },
    /// An SSE event's `data` lines together went past the limit.
    #[error("an event's data is longer than the limit of {limit} bytes")]
    EventTooLong { limit: usize },
}

#[cfg(test)]
mod tests;
