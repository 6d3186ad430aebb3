//! Ollama's native API: `/api/chat` and `/api/generate` requests, their NDJSON lines and
//! final objects, and the listing endpoints.

mod request;
mod response;

pub use request::*;
pub use response::*;
