//! Server-sent events: lines into events.

use bytes::{Buf, Bytes, BytesMut};

use super::lines::LineDecoder;
use super::{DEFAULT_MAX_LINE, DecodeError};

/// One dispatched server-sent event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when the server named the event type.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: Bytes,
    /// The last `id:` field seen.
    pub id: Option<String>,
}

/// Parses server-sent events from bytes pushed in reads of any size.
///
/// Follows the event-stream format: lines end at `\n`, `\r\n` or `\r`; a blank line
/// dispatches the event; `data:` lines accumulate; a line starting with `:` is a comment
/// (a keep-alive) and is ignored; one space after the colon is dropped; unknown fields and
/// `retry:` are ignored (this client never reconnects); a leading byte-order mark is
/// dropped; an event with no data is not dispatched.
///
/// One deliberate difference: at the end of input an event whose blank line never came is
/// still dispatched, so a server that closes right after `data: [DONE]` is not mistaken
/// for one that cut the stream short.
#[derive(Debug)]
pub struct SseDecoder {
    lines: LineDecoder,
    data: BytesMut,
    /// The only data line so far, kept as a zero-copy slice until a second one comes.
    single: Option<Bytes>,
    has_data: bool,
    event: Option<String>,
    id: Option<String>,
    first_line: bool,
}

impl Default for SseDecoder {
    fn default() -> Self {
        SseDecoder::new()
    }
}

impl SseDecoder {
    /// A decoder with the default 1 MiB limit per line and per event.
    pub fn new() -> Self {
        SseDecoder::with_max_line(DEFAULT_MAX_LINE)
    }

    /// A decoder that refuses a line, or an event's joined data, longer than `max` bytes.
    pub fn with_max_line(max: usize) -> Self {
        SseDecoder {
            lines: LineDecoder::with_max_line(max).lone_cr(),
            data: BytesMut::new(),
            single: None,
            has_data: false,
            event: None,
            id: None,
            first_line: true,
        }
    }

    pub fn push(&mut self, read: Bytes) {
        self.lines.push(read);
    }

    /// The next complete event, or `None` until more is pushed.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, DecodeError> {
        while let Some(line) = self.lines.next_line()? {
            if let Some(event) = self.line(line)? {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    /// At the end of input: the remaining events, one per call, including one whose
    /// closing blank line never came.
    pub fn finish(&mut self) -> Result<Option<SseEvent>, DecodeError> {
        while let Some(line) = self.lines.finish()? {
            if let Some(event) = self.line(line)? {
                return Ok(Some(event));
            }
        }
        Ok(self.dispatch())
    }

    fn line(&mut self, mut line: Bytes) -> Result<Option<SseEvent>, DecodeError> {
        if std::mem::take(&mut self.first_line) && line.starts_with(b"\xEF\xBB\xBF") {
            line.advance(3);
        }
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        // `data:` is nearly every line; take it without slicing (no reference counting).
        if line.starts_with(b"data:") {
            line.advance(if line.get(5) == Some(&b' ') { 6 } else { 5 });
            self.add_data(line)?;
            return Ok(None);
        }
        if line[0] == b':' {
            return Ok(None);
        }
        let (name_len, value_start) = match memchr::memchr(b':', &line) {
            Some(colon) if line.get(colon + 1) == Some(&b' ') => (colon, colon + 2),
            Some(colon) => (colon, colon + 1),
            None => (line.len(), line.len()),
        };
        let value = &line[value_start..];
        match &line[..name_len] {
            b"data" => self.add_data(line.slice(value_start..))?,
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" if !value.contains(&0) => {
                self.id = Some(String::from_utf8_lossy(value).into_owned());
            }
            _ => {}
        }
        Ok(None)
    }

    fn add_data(&mut self, value: Bytes) -> Result<(), DecodeError> {
        let limit = self.lines.max_line();
        if !self.has_data {
            self.has_data = true;
            self.single = Some(value);
            return Ok(());
        }
        if let Some(first) = self.single.take() {
            self.data.extend_from_slice(&first);
        }
        if self.data.len() + 1 + value.len() > limit {
            self.clear();
            return Err(DecodeError::EventTooLong { limit });
        }
        self.data.extend_from_slice(b"\n");
        self.data.extend_from_slice(&value);
        Ok(())
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if !self.has_data {
            self.event = None;
            return None;
        }
        let data = match self.single.take() {
            Some(only) => only,
            None => self.data.split().freeze(),
        };
        self.has_data = false;
        Some(SseEvent {
            event: self.event.take(),
            data,
            id: self.id.clone(),
        })
    }

    fn clear(&mut self) {
        self.data = BytesMut::new();
        self.single = None;
        self.has_data = false;
        self.event = None;
    }
}
