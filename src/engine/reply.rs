//! The reply side of a submitted request.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::mpsc;

use super::types::{AllFailed, Answer, ReplyEvent, RequestId};

/// A submitted request's reply: a stream of [`ReplyEvent`]s ending with exactly one
/// `Done` or `Failed`. Dropping it cancels the request, and the cancellation reaches the
/// server.
pub struct Reply {
    id: RequestId,
    events: mpsc::UnboundedReceiver<ReplyEvent>,
}

impl Reply {
    pub(super) fn new(id: RequestId, events: mpsc::UnboundedReceiver<ReplyEvent>) -> Reply {
        Reply { id, events }
    }

    pub fn id(&self) -> RequestId {
        self.id
    }

    /// Wait for the end and return the answer, or why every model failed.
    pub async fn answer(mut self) -> Result<Answer, AllFailed> {
        while let Some(event) = self.events.recv().await {
            match event {
                ReplyEvent::Done(answer) => return Ok(answer),
                ReplyEvent::Failed(failed) => return Err(failed),
                _ => {}
            }
        }
        // The request task always sends an end before it stops; reaching here means it
        // was torn down with the runtime.
        Err(AllFailed {
            attempts: Vec::new(),
        })
    }
}

impl Stream for Reply {
    type Item = ReplyEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ReplyEvent>> {
        self.events.poll_recv(cx)
    }
}
