//! Splitting a byte stream into lines.

use bytes::{Buf, Bytes, BytesMut};

use super::{DEFAULT_MAX_LINE, DecodeError};

/// Splits bytes, pushed in reads of any size, into lines.
///
/// A line ends at `\n`; a `\r` just before it is dropped. With [`LineDecoder::lone_cr`]
/// a `\r` alone also ends a line (as server-sent events require), and a `\r\n` counts
/// once even when the two bytes arrive in different reads.
///
/// Use: [`push`](Self::push) a read, call [`next_line`](Self::next_line) until it returns
/// `Ok(None)`, push the next read; at the end of input call [`finish`](Self::finish) for a
/// last line that had no newline. After an error the decoder is empty and the input
/// should be abandoned.
#[derive(Debug)]
pub struct LineDecoder {
    /// The read being consumed; lines found whole inside it are sliced out without copying.
    front: Bytes,
    /// The start of a line that began in an earlier read. Holds no line terminator.
    carry: BytesMut,
    max_line: usize,
    lone_cr: bool,
    /// The last line ended with `\r` at the very end of a read: a `\n` first in the next
    /// read belongs to it.
    skip_lf: bool,
}

impl Default for LineDecoder {
    fn default() -> Self {
        LineDecoder::new()
    }
}

impl LineDecoder {
    /// A decoder that ends lines at `\n` (or `\r\n`), with the default 1 MiB limit.
    pub fn new() -> Self {
        LineDecoder::with_max_line(DEFAULT_MAX_LINE)
    }

    /// A decoder that refuses lines longer than `max_line` bytes (terminator excluded).
    pub fn with_max_line(max_line: usize) -> Self {
        LineDecoder {
            front: Bytes::new(),
            carry: BytesMut::new(),
            max_line,
            lone_cr: false,
            skip_lf: false,
        }
    }

    /// Also end lines at a `\r` on its own.
    pub fn lone_cr(mut self) -> Self {
        self.lone_cr = true;
        self
    }

    /// The limit this decoder enforces.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Add the next read.
    pub fn push(&mut self, read: Bytes) {
        if self.front.is_empty() {
            self.front = read;
        } else {
            // The caller pushed before draining; keep every byte, in order.
            let mut joined = BytesMut::with_capacity(self.front.len() + read.len());
            joined.extend_from_slice(&self.front);
            joined.extend_from_slice(&read);
            self.front = joined.freeze();
        }
    }

    /// The next complete line, without its terminator, or `None` until more is pushed.
    pub fn next_line(&mut self) -> Result<Option<Bytes>, DecodeError> {
        if self.skip_lf && !self.front.is_empty() {
            if self.front[0] == b'\n' {
                self.front.advance(1);
            }
            self.skip_lf = false;
        }
        if self.front.is_empty() {
            return Ok(None);
        }
        let found = if self.lone_cr {
            memchr::memchr2(b'\n', b'\r', &self.front)
        } else {
            memchr::memchr(b'\n', &self.front)
        };
        let Some(end) = found else {
            if self.carry.len() + self.front.len() > self.max_line {
                return Err(self.refuse());
            }
            self.carry.extend_from_slice(&self.front);
            self.front = Bytes::new();
            return Ok(None);
        };
        if self.carry.len() + end > self.max_line {
            return Err(self.refuse());
        }
        let terminator = self.front[end];
        let mut line = if self.carry.is_empty() {
            self.front.split_to(end)
        } else {
            self.carry.extend_from_slice(&self.front[..end]);
            self.front.advance(end);
            self.carry.split().freeze()
        };
        self.front.advance(1);
        if terminator == b'\r' {
            match self.front.first() {
                Some(b'\n') => self.front.advance(1),
                Some(_) => {}
                None => self.skip_lf = true,
            }
        } else if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        Ok(Some(line))
    }

    /// At the end of input: the last line if it had no terminator. Call after
    /// [`next_line`](Self::next_line) has returned `Ok(None)`.
    pub fn finish(&mut self) -> Result<Option<Bytes>, DecodeError> {
        if !self.front.is_empty() {
            // Not drained: hand out what is left line by line, the tail last.
            if let Some(line) = self.next_line()? {
                return Ok(Some(line));
            }
        }
        if self.carry.is_empty() {
            return Ok(None);
        }
        let mut line = self.carry.split().freeze();
        if !self.lone_cr && line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        Ok(Some(line))
    }

    fn refuse(&mut self) -> DecodeError {
        self.front = Bytes::new();
        self.carry = BytesMut::new();
        self.skip_lf = false;
        DecodeError::LineTooLong {
            limit: self.max_line,
        }
    }
}

/// Newline-delimited JSON: lines, with blank lines skipped. Parsing each line is the
/// caller's job, so each protocol keeps its own types.
#[derive(Debug, Default)]
pub struct NdjsonDecoder {
    lines: LineDecoder,
}

impl NdjsonDecoder {
    pub fn new() -> Self {
        NdjsonDecoder {
            lines: LineDecoder::new(),
        }
    }

    pub fn with_max_line(max_line: usize) -> Self {
        NdjsonDecoder {
            lines: LineDecoder::with_max_line(max_line),
        }
    }

    pub fn push(&mut self, read: Bytes) {
        self.lines.push(read);
    }

    /// The next non-blank line, or `None` until more is pushed.
    pub fn next_line(&mut self) -> Result<Option<Bytes>, DecodeError> {
        while let Some(line) = self.lines.next_line()? {
            if !is_blank(&line) {
                return Ok(Some(line));
            }
        }
        Ok(None)
    }

    /// At the end of input: the remaining non-blank lines, one per call.
    pub fn finish(&mut self) -> Result<Option<Bytes>, DecodeError> {
        while let Some(line) = self.lines.finish()? {
            if !is_blank(&line) {
                return Ok(Some(line));
            }
        }
        Ok(None)
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}
