//! Reading a request body within the configured limit.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use futures_util::StreamExt;

use super::error::{ApiError, Flavor};

/// The whole body, or 413 past `limit` bytes (checked against `Content-Length` first, so a
/// declared oversize body is refused without reading it), or Ollama's 400 when empty.
pub async fn read(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    flavor: Flavor,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(flavor, limit));
    }
    let mut data = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(flavor, format!("cannot read the request body: {e}"))
        })?;
        if data.len() + chunk.len() > limit {
            return Err(ApiError::too_large(flavor, limit));
        }
        data.extend_from_slice(&chunk);
    }
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(flavor, "missing request body"));
    }
    Ok(Bytes::from(data))
}

/// Parse JSON, with the decoder's message as the 400's text (as Ollama does).
pub fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], flavor: Flavor) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(flavor, e.to_string()))
}
