//! Throughput of the stream decoders on answer-shaped input, in reads of several sizes.
//!
//! `cargo bench --bench decode` prints MB/s and lines (or events) per second.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use signalbox::backend::decode::{NdjsonDecoder, SseDecoder};

const TOTAL: usize = 16 * 1024 * 1024;

fn ndjson_body() -> Vec<u8> {
    let line = r#"{"model":"gemma3:1b","created_at":"2026-08-21T09:14:02.118203771Z","message":{"role":"assistant","content":" token"},"done":false}"#;
    repeat_to(&format!("{line}\n"))
}

fn sse_body() -> Vec<u8> {
    let event = r#"data: {"id":"chatcmpl-417","object":"chat.completion.chunk","created":1787390042,"model":"gemma3:1b","choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}"#;
    repeat_to(&format!("{event}\n\n"))
}

fn repeat_to(unit: &str) -> Vec<u8> {
    unit.repeat(TOTAL / unit.len()).into_bytes()
}

fn reads(body: &[u8], size: usize) -> Vec<Bytes> {
    body.chunks(size).map(Bytes::copy_from_slice).collect()
}

/// Runs `decode` over the reads until at least a second has passed; returns the best pass.
fn measure(reads: &[Bytes], mut decode: impl FnMut(&[Bytes]) -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut items = 0;
    let started = Instant::now();
    for _ in 0..50 {
        let pass = Instant::now();
        items = black_box(decode(reads));
        best = best.min(pass.elapsed());
        if started.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    (best, items)
}

fn ndjson(reads: &[Bytes]) -> usize {
    let mut decoder = NdjsonDecoder::new();
    let mut lines = 0;
    for read in reads {
        decoder.push(read.clone());
        while let Ok(Some(line)) = decoder.next_line() {
            black_box(&line);
            lines += 1;
        }
    }
    lines
}

fn sse(reads: &[Bytes]) -> usize {
    let mut decoder = SseDecoder::new();
    let mut events = 0;
    for read in reads {
        decoder.push(read.clone());
        while let Ok(Some(event)) = decoder.next_event() {
            black_box(&event);
            events += 1;
        }
    }
    events
}

fn report(name: &str, read: usize, bytes: usize, (took, items): (Duration, usize)) {
    let secs = took.as_secs_f64();
    println!(
        "{name:6} reads of {read:>6} B: {:>8.0} MB/s, {:>6.2} M items/s ({items} items)",
        bytes as f64 / secs / 1e6,
        items as f64 / secs / 1e6,
    );
}

fn main() {
    let ndjson_body = ndjson_body();
    let sse_body = sse_body();
    for read in [64 * 1024, 1460, 7] {
        report(
            "ndjson",
            read,
            ndjson_body.len(),
            measure(&reads(&ndjson_body, read), ndjson),
        );
        report(
            "sse",
            read,
            sse_body.len(),
            measure(&reads(&sse_body, read), sse),
        );
    }
}
