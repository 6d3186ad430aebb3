//! Who may talk to the proxy: loopback only unless allowed, a bearer token compared in
//! constant time, and CORS only for configured origins.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::error::{ApiError, Flavor};
use crate::config::ProxyConfig;

/// Why the proxy will not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(
        "refusing to listen on {addr}: it is not a loopback address; set proxy.allow_remote = true \
         and a token (proxy.token_env) to serve other machines"
    )]
    RemoteNotAllowed { addr: SocketAddr },
    #[error(
        "refusing to listen on {addr} without a token: set proxy.token_env to the name of an \
         environment variable holding the bearer token clients must send"
    )]
    TokenRequired { addr: SocketAddr },
    #[error("proxy.token_env names ${var}, which is unset or empty: export it or remove token_env")]
    TokenMissing { var: String },
    #[error(
        "cannot listen on {addr}: {source}; if another server holds the port, stop it or set \
         proxy.listen (--listen) to a free address"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The bearer token clients must send.
pub struct Token(Vec<u8>);

impl Token {
    /// Constant-time in the token's content. Only a length mismatch returns early, which
    /// tells an attacker the length and nothing about the bytes.
    fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes)
        else {
            return false;
        };
        let Some(sent) = value
            .strip_prefix(b"Bearer ")
            .or_else(|| value.strip_prefix(b"bearer "))
        else {
            return false;
        };
        sent.ct_eq(&self.0).into()
    }
}

/// Check the listen address against the security settings and read the token.
pub fn check(config: &ProxyConfig) -> Result<Option<Token>, ProxyError> {
    let addr = config.listen;
    let remote = !addr.ip().is_loopback();
    if remote && !config.allow_remote {
        return Err(ProxyError::RemoteNotAllowed { addr });
    }
    let token = match &config.token_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(token) if !token.is_empty() => Some(Token(token.into_bytes())),
            _ => return Err(ProxyError::TokenMissing { var: var.clone() }),
        },
    };
    if remote && token.is_none() {
        return Err(ProxyError::TokenRequired { addr });
    }
    Ok(token)
}

/// Paths open without a token: the liveness probes.
fn is_open_path(path: &str) -> bool {
    matches!(path, "/" | "/healthz")
}

/// Refuse requests without the right bearer token, when one is configured.
pub async fn require_token(
    State(token): State<Option<Arc<Token>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    // A CORS preflight never carries credentials; the CORS layer answers it.
    if is_open_path(path) || request.method() == Method::OPTIONS || token.accepts(request.headers())
    {
        return next.run(request).await;
    }
    tracing::warn!(path, "request refused: missing or wrong bearer token");
    ApiError::unauthorized(Flavor::for_path(path)).into_response()
}

/// Add CORS headers for configured origins and answer their preflights; with no origins
/// configured, send no CORS headers at all (browsers then refuse cross-origin reads).
pub async fn cors(
    State(origins): State<Arc<Vec<String>>>,
    request: Request,
    next: Next,
) -> Response {
    if origins.is_empty() {
        return next.run(request).await;
    }
    let origin = request.headers().get(header::ORIGIN).cloned();
    let allowed = origin
        .as_ref()
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| origins.iter().any(|allowed| allowed == "*" || allowed == o));
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);

    let mut response = if preflight {
        let status = if allowed {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::FORBIDDEN
        };
        (status, Body::empty()).into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let (true, Some(origin)) = (allowed, origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if preflight {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, POST, OPTIONS"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(
                    "authorization, content-type, x-signalbox-priority, x-signalbox-fallback",
                ),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        } else {
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(
                    "x-signalbox-model, x-signalbox-fallbacks, x-signalbox-fallback-from",
                ),
            );
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str) -> ProxyConfig {
        ProxyConfig {
            listen: listen.parse().unwrap(),
            ..ProxyConfig::default()
        }
    }

    #[test]
    fn loopback_needs_nothing() {
        assert!(check(&config("127.0.0.1:0")).unwrap().is_none());
        assert!(check(&config("[::1]:0")).unwrap().is_none());
    }

    #[test]
    fn remote_address_is_refused_without_allow_remote() {
        assert!(matches!(
            check(&config("0.0.0.0:0")),
            Err(ProxyError::RemoteNotAllowed { .. })
        ));
    }

    #[test]
    fn remote_address_is_refused_without_a_token() {
        let mut c = config("0.0.0.0:0");
        c.allow_remote = true;
        assert!(matches!(check(&c), Err(ProxyError::TokenRequired { .. })));
    }

    #[test]
    fn unset_token_variable_is_an_error() {
        let mut c = config("127.0.0.1:0");
        c.token_env = Some("SIGNALBOX_TEST_TOKEN_THAT_IS_NEVER_SET".into());
        assert!(matches!(check(&c), Err(ProxyError::TokenMissing { .. })));
    }

    #[test]
    fn token_accepts_only_the_exact_bearer() {
        let token = Token(b"s3cret".to_vec());
        let mut headers = HeaderMap::new();
        assert!(!token.accepts(&headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(token.accepts(&headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3creT"),
        );
        assert!(!token.accepts(&headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret2"),
        );
        assert!(!token.accepts(&headers));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("s3cret"));
        assert!(!token.accepts(&headers));
    }
}
