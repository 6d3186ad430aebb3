//! The HTTP side: the routes, and an accept loop on hyper that can close a connection
//! without a response when a model's fault is `refuse`.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service as _;

use super::respond::RefuseConnection;
use super::state::Shared;
use super::{admin, api, info, openai};

/// Every route the emulator serves.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(info::root))
        .route("/api/chat", post(api::chat))
        .route("/api/generate", post(api::generate))
        .route("/api/tags", get(info::tags))
        .route("/api/ps", get(info::ps))
        .route("/api/version", get(info::version))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(info::openai_models))
        .route(
            "/admin/fault",
            post(admin::set_fault).delete(admin::clear_all),
        )
        .route("/admin/fault/{model}", delete(admin::clear_fault))
        .route("/admin/state", get(admin::state))
        .fallback(page_not_found)
        .with_state(shared)
}

/// gin's answer for an unknown route.
async fn page_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain")],
        "404 page not found",
    )
        .into_response()
}

/// The error that makes hyper drop a connection without writing a response.
#[derive(Debug)]
struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection refused by a scripted fault")
    }
}

impl std::error::Error for Refused {}

/// Accepts connections until `shutdown`, serving each on its own task. On shutdown the
/// open connections are dropped too, hanging streams included.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(%error, "emulator accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut router = router.clone();
                async move {
                    let response: Response<Body> = router
                        .call(req)
                        .await
                        .unwrap_or_else(|never: Infallible| match never {});
                    if response.extensions().get::<RefuseConnection>().is_some() {
                        return Err(Refused);
                    }
                    Ok(response)
                }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
}
