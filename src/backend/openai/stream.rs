//! Reading an OpenAI-style event stream into chunks.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::backend::decode::{DecodeError, SseDecoder, SseEvent};
use crate::backend::http::{self, Protocol};
use crate::backend::{BackendError, Chunk, FinalStats};

/// One `data:` event of a streamed completion. Everything may be absent or null.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StreamChunk {
    choices: Option<Vec<Choice>>,
    usage: Option<Usage>,
    error: Option<Value>,
    /// llama.cpp's server adds its own timings to the last chunk.
    timings: Option<Timings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Choice {
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Delta {
    content: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Timings {
    prompt_ms: Option<f64>,
    predicted_ms: Option<f64>,
}

/// The most of a body kept while looking for a plain JSON error instead of events.
const MAX_PREAMBLE: usize = 64 * 1024;

/// Reads an OpenAI-style event stream. Success on `data: [DONE]`, or on the end of input
/// after a `finish_reason`; an `error` object is the server failing; the end of input with
/// neither is a stream cut short. A role-only or empty delta is not a token.
#[derive(Debug, Default)]
pub(crate) struct OpenAiStream {
    events: SseDecoder,
    stats: FinalStats,
    finished: bool,
    events_seen: u64,
    /// The body's first bytes while no event has come, in case it is a JSON error body
    /// sent with a success status.
    preamble: Vec<u8>,
    /// A final item was given; anything after it is ignored.
    over: bool,
}

type Out = VecDeque<Result<Chunk, BackendError>>;

impl OpenAiStream {
    /// Handles one event; marks the stream over once the answer is.
    fn event(&mut self, data: &[u8], out: &mut Out) {
        self.over = !self.interpret(data, out);
    }

    fn interpret(&mut self, data: &[u8], out: &mut Out) -> bool {
        self.events_seen += 1;
        self.preamble = Vec::new();
        if data.trim_ascii() == b"[DONE]" {
            out.push_back(Ok(Chunk::Done(std::mem::take(&mut self.stats))));
            return false;
        }
        let parsed: StreamChunk = match serde_json::from_slice(data) {
            Ok(parsed) => parsed,
            Err(error) => {
                out.push_back(Err(BackendError::Malformed {
                    message: format!(
                        "event {} is not a completion chunk: {error}",
                        self.events_seen
                    ),
                }));
                return false;
            }
        };
        if let Some(message) = parsed.error.as_ref().and_then(http::message_of) {
            out.push_back(Err(BackendError::StreamError { message }));
            return false;
        }
        for choice in parsed.choices.into_iter().flatten().take(1) {
            if let Some(content) = choice.delta.and_then(|d| d.content)
                && !content.is_empty()
            {
                out.push_back(Ok(Chunk::Delta(content)));
            }
            if let Some(reason) = choice.finish_reason {
                self.stats.done_reason = Some(reason);
                self.finished = true;
            }
        }
        if let Some(usage) = parsed.usage {
            self.stats.prompt_tokens = usage.prompt_tokens.or(self.stats.prompt_tokens);
            self.stats.completion_tokens = usage.completion_tokens.or(self.stats.completion_tokens);
        }
        if let Some(timings) = parsed.timings {
            let millis = |ms: Option<f64>| {
                ms.filter(|ms| ms.is_finite() && *ms >= 0.0)
                    .map(|ms| Duration::from_secs_f64(ms / 1e3))
            };
            self.stats.prompt_eval_duration =
                millis(timings.prompt_ms).or(self.stats.prompt_eval_duration);
            self.stats.eval_duration = millis(timings.predicted_ms).or(self.stats.eval_duration);
        }
        true
    }

    fn refused(&mut self, error: DecodeError, out: &mut Out) {
        self.over = true;
        out.push_back(Err(BackendError::Malformed {
            message: error.to_string(),
        }));
    }

    /// Handles every event `next` gives until it has no more; false once the answer is
    /// over.
    fn drain(
        &mut self,
        out: &mut Out,
        next: fn(&mut SseDecoder) -> Result<Option<SseEvent>, DecodeError>,
    ) -> bool {
        while !self.over {
            match next(&mut self.events) {
                Ok(Some(event)) => self.event(&event.data, out),
                Ok(None) => return true,
                Err(error) => self.refused(error, out),
            }
        }
        false
    }
}

impl Protocol for OpenAiStream {
    fn read(&mut self, bytes: Bytes, out: &mut Out) {
        if self.over {
            return;
        }
        if self.events_seen == 0 && self.preamble.len() + bytes.len() <= MAX_PREAMBLE {
            self.preamble.extend_from_slice(&bytes);
        }
        self.events.push(bytes);
        self.drain(out, SseDecoder::next_event);
    }

    fn end(&mut self, out: &mut Out) {
        if !self.drain(out, SseDecoder::finish) {
            return;
        }
        if self.finished {
            // Some servers close right after the finish chunk, without `[DONE]`.
            out.push_back(Ok(Chunk::Done(std::mem::take(&mut self.stats))));
        } else if self.events_seen == 0
            && let Ok(body) = serde_json::from_slice::<Value>(&self.preamble)
            && let Some(message) = body.get("error").and_then(http::message_of)
        {
            out.push_back(Err(BackendError::StreamError { message }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::http::{check_split, decode_split};

    fn decode(body: &str) -> Vec<Result<Chunk, BackendError>> {
        decode_split::<OpenAiStream>(body.as_bytes(), &[])
    }

    #[test]
    fn llama_cpp_timings_fill_the_durations() {
        let out = decode(concat!(
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],",
            "\"timings\":{\"prompt_ms\":12.5,\"predicted_ms\":250.0}}\n\n",
            "data: [DONE]\n\n"
        ));
        let Ok(Chunk::Done(stats)) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(
            stats.prompt_eval_duration,
            Some(Duration::from_micros(12_500))
        );
        assert_eq!(stats.eval_duration, Some(Duration::from_millis(250)));
        assert_eq!(stats.total_duration, None);
    }

    #[test]
    fn a_finish_reason_then_the_end_of_input_is_done() {
        let out = decode(
            "data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"length\"}]}\n\n",
        );
        assert_eq!(out[0], Ok(Chunk::Delta("a".into())));
        let Ok(Chunk::Done(stats)) = &out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(stats.done_reason.as_deref(), Some("length"));
    }

    #[test]
    fn a_json_error_body_with_a_success_status_is_a_stream_error() {
        let out = decode("{\"error\":{\"message\":\"Loading model\",\"code\":503}}");
        assert_eq!(
            out,
            vec![Err(BackendError::StreamError {
                message: "Loading model".into()
            })]
        );
    }

    proptest::proptest! {
        #[test]
        fn every_split_of_an_answer_gives_the_same_chunks(
            words in proptest::collection::vec("[a-z \\n\"é]{0,6}", 0..8),
            cuts in proptest::collection::vec(proptest::num::usize::ANY, 0..10),
        ) {
            let mut body = String::from(": hello\r\n\r\n");
            for word in &words {
                let chunk = serde_json::json!({"choices": [{"delta": {"content": word}}]});
                body.push_str(&format!("data: {chunk}\r\n\r\n"));
            }
            body.push_str("data: [DONE]\n\n");
            check_split::<OpenAiStream>(body.as_bytes(), &cuts, &words.concat())?;
        }
    }
}
