use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use signalbox::backend::BackendKind;
use signalbox::backend::health::{check, client_for, spawn_health_checks_with};
use signalbox::config::{Config, ModelConfig};
use signalbox::events::Health;
use url::Url;

use crate::server::dead_url;

async fn start(app: Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = Url::parse(&format!("http://{}", listener.local_addr().expect("addr"))).expect("URL");
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// An Ollama with `gemma3:1b` and `llama3.2:latest` installed, `gemma3:1b` loaded.
fn ollama(ps: bool) -> Router {
    let app = Router::new()
        .route(
            "/api/version",
            get(|| async { Json(json!({"version": "0.33.0"})) }),
        )
        .route(
            "/api/tags",
            get(|| async {
                Json(json!({"models": [
                    {"name": "gemma3:1b", "model": "gemma3:1b", "size": 815319791},
                    {"name": "llama3.2:latest", "model": "llama3.2:latest", "size": 2019393189},
                ]}))
            }),
        );
    if !ps {
        return app;
    }
    app.route(
        "/api/ps",
        get(|| async {
            Json(json!({"models": [{
                "name": "gemma3:1b", "model": "gemma3:1b", "size": 1_200_000_000u64,
                "size_vram": 1_000_000_000u64, "expires_at": "2318-08-21T09:24:02.16-07:00",
            }]}))
        }),
    )
}

fn model(name: &str, url: &Url) -> ModelConfig {
    ModelConfig::ollama(name, url.clone(), Duration::from_secs(20))
}

async fn check_model(config: &ModelConfig) -> Health {
    let client = client_for(config).expect("client");
    tokio::time::timeout(Duration::from_secs(10), check(config, &client))
        .await
        .expect("check ended")
}

#[tokio::test]
async fn a_loaded_ollama_model_is_ready_with_version_vram_and_time_to_unload() {
    let url = start(ollama(true)).await;
    let Health::Ready {
        server_version,
        loaded,
        vram_bytes,
        expires_in,
    } = check_model(&model("gemma3:1b", &url)).await
    else {
        panic!("not ready");
    };
    assert_eq!(server_version.as_deref(), Some("0.33.0"));
    assert_eq!(loaded, Some(true));
    assert_eq!(vram_bytes, Some(1_000_000_000));
    assert!(
        expires_in.is_some_and(|left| left > Duration::from_secs(86_400)),
        "{expires_in:?}"
    );
}

#[tokio::test]
async fn an_installed_model_that_is_not_loaded_is_ready_but_cold() {
    let url = start(ollama(true)).await;
    let health = check_model(&model("llama3.2", &url)).await;
    assert_eq!(
        health,
        Health::Ready {
            server_version: Some("0.33.0".into()),
            loaded: Some(false),
            vram_bytes: None,
            expires_in: None
        }
    );
}

#[tokio::test]
async fn a_model_missing_from_tags_is_not_installed_with_the_pull_command() {
    let url = start(ollama(true)).await;
    let health = check_model(&model("gemma2:2b", &url)).await;
    assert_eq!(
        health,
        Health::NotInstalled {
            fix: "ollama pull gemma2:2b".into()
        }
    );
}

#[tokio::test]
async fn the_server_model_name_is_what_is_looked_for() {
    let url = start(ollama(true)).await;
    let mut config = model("fast", &url);
    config.server_model = Some("gemma3:1b".into());
    assert!(matches!(
        check_model(&config).await,
        Health::Ready {
            loaded: Some(true),
            ..
        }
    ));
}

#[tokio::test]
async fn a_server_without_api_ps_is_ready_with_loading_unknown() {
    let url = start(ollama(false)).await;
    let health = check_model(&model("gemma3:1b", &url)).await;
    assert!(
        matches!(
            health,
            Health::Ready {
                loaded: None,
                vram_bytes: None,
                ..
            }
        ),
        "{health:?}"
    );
}

#[tokio::test]
async fn a_server_that_is_down_is_unreachable_naming_the_url() {
    let url = dead_url().await;
    let Health::Unreachable { reason } = check_model(&model("gemma3:1b", &url)).await else {
        panic!("expected unreachable");
    };
    assert!(
        reason.contains(url.join("api/version").expect("URL").as_str()),
        "{reason}"
    );
}

#[tokio::test]
async fn a_server_that_is_not_ollama_is_unreachable_with_its_answer() {
    let url = start(Router::new()).await;
    let Health::Unreachable { reason } = check_model(&model("gemma3:1b", &url)).await else {
        panic!("expected unreachable");
    };
    assert!(reason.contains("HTTP 404"), "{reason}");
}

fn openai_server() -> Router {
    Router::new().route(
        "/v1/models",
        get(|headers: HeaderMap| async move {
            let key = std::env::var("PATH").unwrap_or_default();
            let sent = headers.get("authorization").and_then(|v| v.to_str().ok());
            if sent != Some(format!("Bearer {}", key.trim()).as_str()) {
                let error = json!({"error": {"message": "Invalid API Key", "type": "authentication_error"}});
                return (StatusCode::UNAUTHORIZED, Json(error));
            }
            let list: Value = json!({"object": "list", "data": [{"id": "gemma-270m", "object": "model"}]});
            (StatusCode::OK, Json(list))
        }),
    )
}

fn openai_model(name: &str, url: &Url, key: bool) -> ModelConfig {
    let mut config = model(name, url);
    config.backend = BackendKind::OpenAi;
    config.api_key_env = key.then(|| "PATH".to_string());
    config
}

#[tokio::test]
async fn an_openai_server_listing_the_model_is_ready_and_gets_the_api_key() {
    let url = start(openai_server()).await;
    for base in [url.clone(), url.join("v1").expect("URL")] {
        let health = check_model(&openai_model("gemma-270m", &base, true)).await;
        assert_eq!(
            health,
            Health::Ready {
                server_version: None,
                loaded: None,
                vram_bytes: None,
                expires_in: None
            },
            "base {base}"
        );
    }
}

#[tokio::test]
async fn an_openai_server_rejecting_the_key_is_unreachable_with_its_message() {
    let url = start(openai_server()).await;
    let Health::Unreachable { reason } =
        check_model(&openai_model("gemma-270m", &url, false)).await
    else {
        panic!("expected unreachable");
    };
    assert!(reason.contains("HTTP 401: Invalid API Key"), "{reason}");
}

#[tokio::test]
async fn an_openai_server_not_listing_the_model_says_which_it_has() {
    let url = start(openai_server()).await;
    let Health::NotInstalled { fix } = check_model(&openai_model("qwen", &url, true)).await else {
        panic!("expected not installed");
    };
    assert!(fix.contains("gemma-270m"), "{fix}");
}

#[tokio::test]
async fn the_periodic_checks_report_every_configured_model() {
    let url = start(ollama(true)).await;
    let mut config = Config::default_for(url);
    config.models[1] = model("absent:1b", &config.models[0].base_url);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle =
        spawn_health_checks_with(&config, Duration::from_secs(3600), move |name, health| {
            let _ = tx.send((name.to_string(), health));
        });
    let mut round = Vec::new();
    for _ in 0..2 {
        let report = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a report");
        round.push(report.expect("the loop runs"));
    }
    handle.abort();
    round.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(round[0].0, "absent:1b");
    assert_eq!(
        round[0].1,
        Health::NotInstalled {
            fix: "ollama pull absent:1b".into()
        }
    );
    assert_eq!(round[1].0, "gemma3:1b");
    assert!(matches!(
        round[1].1,
        Health::Ready {
            loaded: Some(true),
            ..
        }
    ));
}
