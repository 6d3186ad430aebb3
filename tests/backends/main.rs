//! The real backends against real sockets on 127.0.0.1.

mod health;
mod ollama;
mod openai;
mod server;

use std::time::Duration;

use futures_util::StreamExt;
use signalbox::backend::{BackendError, Chunk, ChunkStream};

/// Every item of a stream, waiting at most 10 s in all.
pub async fn collect(stream: ChunkStream) -> Vec<Result<Chunk, BackendError>> {
    tokio::time::timeout(Duration::from_secs(10), stream.collect::<Vec<_>>())
        .await
        .expect("the stream did not end within 10 s")
}

/// The text of every delta, joined.
pub fn text(items: &[Result<Chunk, BackendError>]) -> String {
    items
        .iter()
        .filter_map(|item| match item {
            Ok(Chunk::Delta(text)) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}
