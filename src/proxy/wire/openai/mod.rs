//! OpenAI's chat completions: the request, the SSE chunks and the whole completion, in the
//! shape Ollama's OpenAI-compatible endpoints send (which the official clients accept).

mod request;
mod response;

pub use request::*;
pub use response::*;
