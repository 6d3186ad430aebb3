//! Demo mode: the configured models served by the built-in emulator.
//!
//! The emulator runs inside the process on a free loopback port and every model is
//! pointed at it, keeping its backend kind, so the demo goes through the real Ollama (or
//! OpenAI-compatible) client code, breakers and all.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::Config;
use crate::emulator::{self, EmulatorConfig, EmulatorHandle, Profile};

/// How fast the demo's emulated models answer, relative to the real ones (2–8 s for the
/// fast model, 10–40 s for the accurate one).
pub const DEFAULT_SPEED: f64 = 4.0;

/// Start the emulator for `config`'s models and point them at it.
///
/// The first model gets the fast profile and the others the accurate one, mirroring the
/// original pair.
pub async fn start(config: &mut Config, speed: f64, seed: u64) -> std::io::Result<EmulatorHandle> {
    let models = config
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let profile = if i == 0 {
                Profile::fast()
            } else {
                Profile::accurate()
            };
            (m.server_model().to_string(), profile)
        })
        .collect();
    let emulator_config = EmulatorConfig {
        models,
        seed,
        speed,
    };
    let handle = emulator::start(SocketAddr::from(([127, 0, 0, 1], 0)), emulator_config).await?;
    for model in &mut config.models {
        model.base_url = handle.url();
        model.api_key_env = None;
    }
    Ok(handle)
}

/// Whether an Ollama server answers at `url` within a short time.
pub async fn ollama_answers(url: &url::Url) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(800))
        .build()
    else {
        return false;
    };
    let Ok(version) = url.join("api/version") else {
        return false;
    };
    matches!(client.get(version).send().await, Ok(r) if r.status().is_success())
}
