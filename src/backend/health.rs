//! Health checks: is each model's server up, and is the model there?
//!
//! For an Ollama model: `GET /api/version` (is the server up), `/api/tags` (is the model
//! installed), `/api/ps` (is it loaded, how much of it is in VRAM, when it unloads). For an
//! OpenAI-compatible model: `GET /v1/models` (does the server list it).

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use tokio::task::JoinHandle;
use url::Url;

use super::http::{self, BuildError};
use super::{BackendKind, openai};
use crate::config::{Config, ModelConfig};
use crate::events::Health;

/// The longest a single health request may take. A check is not a chat: a server that
/// cannot list its models in this time is reported unreachable.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// An HTTP client for checking one model's server: its connect limit, and its API key
/// when one is configured.
pub fn client_for(model: &ModelConfig) -> Result<reqwest::Client, BuildError> {
    let bearer = match model.backend {
        BackendKind::OpenAi => http::bearer_from_env(model)?,
        BackendKind::Ollama => None,
    };
    http::client(&model.name, &model.base_url, model.timeouts.connect, bearer)
}

/// Check one model's server now.
pub async fn check(model: &ModelConfig, client: &reqwest::Client) -> Health {
    let result = match model.backend {
        BackendKind::Ollama => check_ollama(model, client).await,
        BackendKind::OpenAi => check_openai(model, client).await,
    };
    result.unwrap_or_else(|reason| Health::Unreachable { reason })
}

/// Check every configured model at once, then again every `every`, and tell the engine
/// what each check found.
pub fn spawn_health_checks(
    config: &Config,
    engine: crate::engine::Engine,
    every: Duration,
) -> JoinHandle<()> {
    spawn_health_checks_with(config, every, move |model, health| {
        engine.set_health(model, health)
    })
}

/// Like [`spawn_health_checks`], reporting to any sink (a channel, a test's closure).
pub fn spawn_health_checks_with(
    config: &Config,
    every: Duration,
    sink: impl Fn(&str, Health) + Send + 'static,
) -> JoinHandle<()> {
    let probes: Vec<(ModelConfig, Result<reqwest::Client, String>)> = config
        .models
        .iter()
        .map(|model| {
            (
                model.clone(),
                client_for(model).map_err(|error| error.to_string()),
            )
        })
        .collect();
    let probes = std::sync::Arc::new(probes);
    spawn_loop(
        probes.len(),
        every,
        move |index| {
            let probes = probes.clone();
            async move {
                let (model, client) = &probes[index];
                let health = match client {
                    Ok(client) => check(model, client).await,
                    Err(reason) => Health::Unreachable {
                        reason: reason.clone(),
                    },
                };
                (model.name.clone(), health)
            }
        },
        sink,
    )
}

/// The schedule: every model checked at once, one round now and one per `every`, rounds
/// never overlapping (a slow round delays the next instead of piling up).
fn spawn_loop<F, Fut>(
    models: usize,
    every: Duration,
    check_one: F,
    sink: impl Fn(&str, Health) + Send + 'static,
) -> JoinHandle<()>
where
    F: Fn(usize) -> Fut + Send + 'static,
    Fut: Future<Output = (String, Health)> + Send + 'static,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let round = futures_util::future::join_all((0..models).map(&check_one)).await;
            for (name, health) in round {
                tracing::debug!(model = %name, health = ?health, "health check");
                sink(&name, health);
            }
        }
    })
}

#[derive(Debug, Deserialize)]
struct Version {
    version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ModelList {
    #[serde(default)]
    models: Option<Vec<ListedModel>>,
}

#[derive(Debug, Deserialize)]
struct ListedModel {
    #[serde(default)]
    name: String,
    #[serde(default)]
    model: String,
    size_vram: Option<u64>,
    expires_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OpenAiModels {
    #[serde(default)]
    data: Option<Vec<OpenAiModel>>,
}

#[derive(Debug, Deserialize)]
struct OpenAiModel {
    id: String,
}

async fn check_ollama(model: &ModelConfig, client: &reqwest::Client) -> Result<Health, String> {
    let version: Version = get(client, &model.base_url, "api/version").await?;
    let tags: ModelList = get(client, &model.base_url, "api/tags").await?;
    let wanted = model.server_model();
    let installed = tags.models.unwrap_or_default();
    if !installed
        .iter()
        .any(|m| same_model(&m.name, wanted) || same_model(&m.model, wanted))
    {
        return Ok(Health::NotInstalled {
            fix: format!("ollama pull {wanted}"),
        });
    }
    // An older server without /api/ps is still ready; what is loaded is then unknown.
    let (loaded, vram_bytes, expires_in) =
        match get::<ModelList>(client, &model.base_url, "api/ps").await {
            Ok(ps) => {
                let running = ps.models.unwrap_or_default();
                match running
                    .iter()
                    .find(|m| same_model(&m.name, wanted) || same_model(&m.model, wanted))
                {
                    Some(m) => (
                        Some(true),
                        m.size_vram,
                        m.expires_at.as_deref().and_then(time_left),
                    ),
                    None => (Some(false), None, None),
                }
            }
            Err(reason) => {
                tracing::debug!(model = %model.name, %reason, "no /api/ps");
                (None, None, None)
            }
        };
    Ok(Health::Ready {
        server_version: version.version,
        loaded,
        vram_bytes,
        expires_in,
    })
}

async fn check_openai(model: &ModelConfig, client: &reqwest::Client) -> Result<Health, String> {
    let root = openai::api_root(&model.base_url)
        .ok_or_else(|| format!("base URL {} cannot be used for HTTP", model.base_url))?;
    let list: OpenAiModels = get(client, &root, "models").await?;
    let wanted = model.server_model();
    let listed: Vec<String> = list
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.id)
        .collect();
    if listed.iter().any(|id| same_model(id, wanted)) {
        return Ok(Health::Ready {
            server_version: None,
            loaded: None,
            vram_bytes: None,
            expires_in: None,
        });
    }
    let fix = if listed.is_empty() {
        format!(
            "the server at {} lists no models; start it with model '{wanted}'",
            model.base_url
        )
    } else {
        format!(
            "the server at {} does not list '{wanted}'; set server_model to one of: {}",
            model.base_url,
            listed.join(", ")
        )
    };
    Ok(Health::NotInstalled { fix })
}

/// GET `base` + `path` as JSON; any failure as a reason a person can read.
async fn get<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    base: &Url,
    path: &str,
) -> Result<T, String> {
    let url = http::endpoint(base, path)
        .ok_or_else(|| format!("base URL {base} cannot be used for HTTP"))?;
    let response = client
        .get(url.clone())
        .timeout(CHECK_TIMEOUT)
        .send()
        .await
        .map_err(|error| {
            if error.is_timeout() {
                format!(
                    "{url}: no answer within {}",
                    humantime::format_duration(CHECK_TIMEOUT)
                )
            } else {
                format!("{url}: {}", http::root_cause(&error))
            }
        })?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|error| format!("{url}: {}", http::root_cause(&error)))?;
    if !status.is_success() {
        return Err(format!(
            "{url}: HTTP {}: {}",
            status.as_u16(),
            http::error_message(&body)
        ));
    }
    serde_json::from_slice(&body).map_err(|error| format!("{url}: unexpected answer: {error}"))
}

/// Whether two model names mean the same model, as Ollama matches them: case-insensitive,
/// a missing tag meaning `latest`, the default registry and namespace optional.
pub fn same_model(a: &str, b: &str) -> bool {
    !a.is_empty() && canonical(a) == canonical(b)
}

fn canonical(name: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    let name = name.strip_prefix("registry.ollama.ai/").unwrap_or(&name);
    let name = name.strip_prefix("library/").unwrap_or(name);
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    if last_segment.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// Time from now until an RFC 3339 instant; zero when it has passed.
fn time_left(expires_at: &str) -> Option<Duration> {
    use time::format_description::well_known::Rfc3339;
    let at = time::OffsetDateTime::parse(expires_at, &Rfc3339).ok()?;
    let left = at - time::OffsetDateTime::now_utc();
    Some(left.try_into().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn names_compare_as_ollama_compares_them() {
        assert!(same_model("gemma3:1b", "gemma3:1b"));
        assert!(same_model("llama3.2", "llama3.2:latest"));
        assert!(same_model("Llama3.2:Latest", "llama3.2"));
        assert!(same_model(
            "registry.ollama.ai/library/gemma3:1b",
            "gemma3:1b"
        ));
        assert!(same_model("me/custom", "me/custom:latest"));
        assert!(!same_model("gemma3:1b", "gemma3:4b"));
        assert!(!same_model("gemma3", "gemma3:1b"));
        assert!(!same_model("", ":latest"));
    }

    #[test]
    fn time_left_reads_offsets_and_clamps_the_past_to_zero() {
        assert_eq!(time_left("2001-01-01T00:00:00-07:00"), Some(Duration::ZERO));
        let left = time_left("2318-01-01T00:00:00.5+02:00").unwrap();
        assert!(left > Duration::from_secs(200 * 365 * 86_400));
        assert_eq!(time_left("tomorrow"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_checks_every_model_now_and_then_once_per_period() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            move |name: &str, health: Health| seen.lock().unwrap().push((name.to_string(), health))
        };
        let handle = spawn_loop(
            2,
            Duration::from_secs(30),
            |i| async move {
                (
                    format!("m{i}"),
                    Health::Unreachable {
                        reason: "down".into(),
                    },
                )
            },
            sink,
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(seen.lock().unwrap().len(), 2, "one round at start");
        tokio::time::sleep(Duration::from_secs(29)).await;
        assert_eq!(
            seen.lock().unwrap().len(),
            2,
            "nothing before the period is up"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            seen.lock().unwrap().len(),
            4,
            "a second round after one period"
        );
        let names: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        assert_eq!(names, ["m0", "m1", "m0", "m1"]);
        handle.abort();
    }
}
