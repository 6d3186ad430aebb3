//! The real backends against real sockets on 127.0.0.1.

mod health;
mod ollama;
mod openai;
mod server;

use std::time::Duration;

use futures_util::StreamExt;
use signalbox::backend::{Backend, BackendError, ChatRequest, Chunk, ChunkStream};
use url::Url;

use server::{Step, serve};

/// Every item of a stream, waiting at most 10 s in all.
pub async fn collect(stream: ChunkStream) -> Vec<Result<Chunk, BackendError>> {
    tokio::time::timeout(Duration::from_secs(10), stream.collect::<Vec<_>>())
        .await
        .expect("the stream did not end within 10 s")
}

/// What the backend `backend` builds for a server that plays `steps` answers to `request`.
pub async fn answer_from<B: Backend>(
    steps: Vec<Step>,
    backend: impl FnOnce(&Url) -> B,
    request: ChatRequest,
) -> Vec<Result<Chunk, BackendError>> {
    let server = serve(steps).await;
    collect(backend(&server.url).chat(request)).await
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
