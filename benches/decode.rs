//! Throughput of the stream decoders on answer-shaped input, in reads of several sizes:
//! 64 KiB (a fast local server), 1460 B (one TCP segment) and 7 B (the worst case).
//!
//! `cargo bench --bench decode`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use signalbox::backend::decode::{NdjsonDecoder, SseDecoder};

const TOTAL: usize = 1024 * 1024;

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

/// Decodes every read; returns the items found.
type Decode = fn(&[Bytes]) -> usize;

fn decoders(c: &mut Criterion) {
    let bodies: [(&str, Vec<u8>, Decode); 2] =
        [("ndjson", ndjson_body(), ndjson), ("sse", sse_body(), sse)];
    for (name, body, decode) in bodies {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.sample_size(20);
        for size in [64 * 1024, 1460, 7] {
            let reads = reads(&body, size);
            group.bench_with_input(BenchmarkId::new("reads of", size), &reads, |b, reads| {
                b.iter(|| decode(reads))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, decoders);
criterion_main!(benches);
