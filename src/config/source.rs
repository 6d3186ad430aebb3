//! Where the configuration comes from, in rising precedence: the built-in defaults, the
//! configuration file, the environment, the command line.
//!
//! The file is `--config PATH`, or else `$XDG_CONFIG_HOME/signalbox/config.toml`
//! (`~/.config/signalbox/config.toml` when `XDG_CONFIG_HOME` is unset). A missing
//! default file is not an error: the built-in defaults apply. A missing `--config` file is.
//!
//! `OLLAMA_HOST` (or `--ollama-host`) is the address of every model that names no `url`
//! in the file; a `url` written in the file is a deliberate choice and is kept.

use std::path::{Path, PathBuf};

use super::file::{Draft, OllamaDefault, parse_listen, parse_strategy, read_file};
use super::host::parse_ollama_host_as;
use super::validate::check_log_level;
use super::{Config, ConfigError, ConfigErrors, OLLAMA_HOST_VAR, default_ollama_url};

/// The environment variables that override the file, with the setting each overrides.
pub const CONFIG_ENV_VARS: &[(&str, &str)] = &[
    ("SIGNALBOX_STRATEGY", "routing.strategy"),
    ("SIGNALBOX_LISTEN", "proxy.listen"),
    ("SIGNALBOX_LOG", "log.level"),
    ("SIGNALBOX_LOG_FILE", "log.file"),
    ("OLLAMA_HOST", "the url of models without one"),
];

/// Settings given outside the file: by command-line flags, or by environment variables
/// ([`Overrides::from_env`]). Each is checked as the file's own values are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `routing.strategy`, by name (`p95`, `round-robin`).
    pub strategy: Option<String>,
    /// `proxy.listen`, e.g. `127.0.0.1:11435`.
    pub listen: Option<String>,
    /// `proxy.allow_remote`.
    pub allow_remote: Option<bool>,
    /// `log.level`, a `tracing` filter.
    pub log_level: Option<String>,
    /// `log.file`.
    pub log_file: Option<PathBuf>,
    /// `log.content`.
    pub log_content: Option<bool>,
    /// The Ollama address for models without a `url`, in `OLLAMA_HOST` form.
    pub ollama_host: Option<String>,
}

/// Which layer an override belongs to; names each setting in problems.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    Env,
    Flags,
}

impl Layer {
    fn label(self, flag: &'static str, env: &'static str) -> &'static str {
        match self {
            Layer::Env => env,
            Layer::Flags => flag,
        }
    }
}

impl Overrides {
    /// The overrides set in the environment (see [`CONFIG_ENV_VARS`]).
    pub fn from_env() -> Overrides {
        Overrides::from_env_with(|name| std::env::var(name).ok())
    }

    /// The overrides found by `lookup`, which maps a variable's name to its value.
    /// Empty values count as unset.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Overrides {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Overrides {
            strategy: get("SIGNALBOX_STRATEGY"),
            listen: get("SIGNALBOX_LISTEN"),
            log_level: get("SIGNALBOX_LOG"),
            log_file: get("SIGNALBOX_LOG_FILE").map(PathBuf::from),
            ollama_host: get(OLLAMA_HOST_VAR),
            ..Overrides::default()
        }
    }

    fn apply(&self, layer: Layer, draft: &mut Draft) {
        let problem = |label: &str, why: String| ConfigError::new(label, why);
        if let Some(name) = &self.strategy {
            let label = layer.label("--strategy", "SIGNALBOX_STRATEGY");
            match parse_strategy(name.trim()) {
                Ok(kind) => draft.config.routing.strategy = kind,
                Err(why) => draft.problems.push(problem(label, why)),
            }
            draft.set_origin("routing.strategy", label);
        }
        if let Some(text) = &self.listen {
            let label = layer.label("--listen", "SIGNALBOX_LISTEN");
            match parse_listen(text) {
                Ok(addr) => draft.config.proxy.listen = addr,
                Err(why) => draft.problems.push(problem(label, why)),
            }
            draft.set_origin("proxy.listen", label);
        }
        if let Some(allow) = self.allow_remote {
            draft.config.proxy.allow_remote = allow;
            draft.set_origin(
                "proxy.allow_remote",
                layer.label("--allow-remote", "environment"),
            );
        }
        if let Some(level) = &self.log_level {
            let label = layer.label("--log-level", "SIGNALBOX_LOG");
            match check_log_level(level) {
                Ok(()) => draft.config.log.level = level.clone(),
                Err(why) => draft.problems.push(problem(label, why)),
            }
            draft.set_origin("log.level", label);
        }
        if let Some(file) = &self.log_file {
            draft.config.log.file = Some(file.clone());
            draft.set_origin("log.file", layer.label("--log-file", "SIGNALBOX_LOG_FILE"));
        }
        if let Some(content) = self.log_content {
            draft.config.log.log_content = content;
            draft.set_origin("log.content", layer.label("--log-content", "environment"));
        }
    }
}

/// A loaded configuration and the file it came from (`None`: the built-in defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedConfig {
    pub config: Config,
    pub file: Option<PathBuf>,
}

/// The default configuration file: `$XDG_CONFIG_HOME/signalbox/config.toml`, or
/// `~/.config/signalbox/config.toml`; `None` when neither variable is set.
pub fn default_config_path() -> Option<PathBuf> {
    default_config_path_with(&|name| std::env::var_os(name).map(PathBuf::from))
}

fn default_config_path_with(env: &dyn Fn(&str) -> Option<PathBuf>) -> Option<PathBuf> {
    // An empty or relative XDG_CONFIG_HOME is to be ignored, per the XDG spec.
    let xdg = env("XDG_CONFIG_HOME").filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        env("HOME")
            .filter(|h| !h.as_os_str().is_empty())
            .map(|h| h.join(".config"))
    })?;
    Some(base.join("signalbox").join("config.toml"))
}

/// Whether the default configuration file exists. With no file and no Ollama answering,
/// the app starts its demo.
pub fn default_config_exists() -> bool {
    default_config_path().is_some_and(|p| p.is_file())
}

/// Loads the configuration from every layer: the file (`config_path`, or the default
/// file when it exists), then the environment, then `flags`. Every problem in any layer
/// is reported together.
pub fn load(config_path: Option<&Path>, flags: &Overrides) -> Result<LoadedConfig, ConfigErrors> {
    let env = |name: &str| std::env::var(name).ok();
    load_with_env(config_path, flags, &env)
}

/// [`load`], reading environment variables through `env` (for tests and embedding).
pub fn load_with_env(
    config_path: Option<&Path>,
    flags: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<LoadedConfig, ConfigErrors> {
    let env_overrides = Overrides::from_env_with(env);

    // The Ollama address: the flag, else OLLAMA_HOST, else the default.
    let ollama = match (&flags.ollama_host, &env_overrides.ollama_host) {
        (Some(value), _) => OllamaDefault {
            url: parse_ollama_host_as(value, "--ollama-host"),
            origin: Some("--ollama-host".into()),
        },
        (None, Some(value)) => OllamaDefault {
            url: parse_ollama_host_as(value, OLLAMA_HOST_VAR),
            origin: Some(OLLAMA_HOST_VAR.into()),
        },
        (None, None) => OllamaDefault {
            url: Ok(default_ollama_url()),
            origin: None,
        },
    };

    let file = match config_path {
        Some(path) => Some(path.to_path_buf()),
        None => {
            let env_path = |name: &str| env(name).map(PathBuf::from);
            default_config_path_with(&env_path).filter(|p| p.is_file())
        }
    };
    let mut draft = match &file {
        Some(path) => {
            let text = read_file(path)?;
            Draft::from_toml(&text, &path.display().to_string(), &ollama)
        }
        None => Draft::from_defaults(&ollama),
    };
    env_overrides.apply(Layer::Env, &mut draft);
    flags.apply(Layer::Flags, &mut draft);
    let config = draft.finish()?;
    Ok(LoadedConfig { config, file })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;
    use crate::config::StrategyKind;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("signalbox-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn default_path_prefers_xdg_config_home() {
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| PathBuf::from(v))
            }
        };
        let both = lookup(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(
            default_config_path_with(&both),
            Some(PathBuf::from("/x/signalbox/config.toml"))
        );
        let home = lookup(&[("HOME", "/h")]);
        assert_eq!(
            default_config_path_with(&home),
            Some(PathBuf::from("/h/.config/signalbox/config.toml"))
        );
        let relative = lookup(&[("XDG_CONFIG_HOME", "rel"), ("HOME", "/h")]);
        assert_eq!(
            default_config_path_with(&relative),
            Some(PathBuf::from("/h/.config/signalbox/config.toml"))
        );
        assert_eq!(default_config_path_with(&lookup(&[])), None);
    }

    #[test]
    fn no_file_gives_the_defaults_at_ollama_host() {
        let dir = temp_dir("nofile");
        let env = env(&[
            ("XDG_CONFIG_HOME", dir.to_str().unwrap()),
            ("OLLAMA_HOST", "gpu-box:9999"),
        ]);
        let loaded = load_with_env(None, &Overrides::default(), &env).unwrap();
        assert_eq!(loaded.file, None);
        assert_eq!(loaded.config.models.len(), 2);
        assert_eq!(
            loaded.config.models[0].base_url.as_str(),
            "http://gpu-box:9999/"
        );
    }

    #[test]
    fn the_default_file_is_found_under_xdg_config_home() {
        let dir = temp_dir("xdg");
        std::fs::create_dir_all(dir.join("signalbox")).unwrap();
        let file = dir.join("signalbox/config.toml");
        std::fs::write(&file, "[[model]]\nname = \"only\"\n").unwrap();
        let env = env(&[("XDG_CONFIG_HOME", dir.to_str().unwrap())]);
        let loaded = load_with_env(None, &Overrides::default(), &env).unwrap();
        assert_eq!(loaded.file, Some(file));
        assert_eq!(loaded.config.models[0].name, "only");
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let errors = load_with_env(
            Some(Path::new("/nonexistent/signalbox.toml")),
            &Overrides::default(),
            &env(&[]),
        )
        .unwrap_err();
        assert!(
            errors
                .to_string()
                .starts_with("/nonexistent/signalbox.toml: cannot read"),
            "{errors}"
        );
    }

    #[test]
    fn precedence_is_defaults_then_file_then_env_then_flags() {
        let dir = temp_dir("layers");
        let file = dir.join("c.toml");
        let text = "[routing]\nstrategy = \"round-robin\"\nwarmup = 7\n[proxy]\nlisten = \"127.0.0.1:1000\"\n\
                    [log]\nlevel = \"warn\"\n[[model]]\nname = \"a\"\n[[model]]\nname = \"b\"\nurl = \"http://10.0.0.9:11434\"\n";
        std::fs::write(&file, text).unwrap();
        let env = env(&[
            ("SIGNALBOX_LISTEN", "127.0.0.1:2000"),
            ("SIGNALBOX_LOG", "debug"),
            ("OLLAMA_HOST", "envhost:1"),
        ]);
        let flags = Overrides {
            listen: Some("127.0.0.1:3000".into()),
            ollama_host: Some("flaghost:2".into()),
            ..Overrides::default()
        };
        let config = load_with_env(Some(&file), &flags, &env).unwrap().config;
        assert_eq!(
            config.routing.strategy,
            StrategyKind::RoundRobin,
            "file over defaults"
        );
        assert_eq!(config.routing.warmup, 7);
        assert_eq!(config.log.level, "debug", "env over file");
        assert_eq!(config.proxy.listen.port(), 3000, "flags over env");
        assert_eq!(config.models[0].base_url.as_str(), "http://flaghost:2/");
        assert_eq!(
            config.models[1].base_url.as_str(),
            "http://10.0.0.9:11434/",
            "a url in the file is kept"
        );
        assert_eq!(config.models[0].timeouts.total, Duration::from_secs(20));
    }

    #[test]
    fn bad_overrides_are_reported_with_the_file_problems() {
        let dir = temp_dir("badover");
        let file = dir.join("c.toml");
        std::fs::write(&file, "[[model]]\nname = \"a\"\ntimeout = \"0s\"\n").unwrap();
        let env = env(&[
            ("SIGNALBOX_STRATEGY", "fastest"),
            ("OLLAMA_HOST", "ftp://x"),
        ]);
        let flags = Overrides {
            listen: Some("0.0.0.0:80".into()),
            log_level: Some("=".into()),
            ..Overrides::default()
        };
        let errors = load_with_env(Some(&file), &flags, &env).unwrap_err();
        let text = errors.to_string();
        let keys: Vec<&str> = errors.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "model[0].timeout",
                "OLLAMA_HOST",
                "SIGNALBOX_STRATEGY",
                "--log-level",
                "--listen"
            ],
            "{text}"
        );
        assert!(
            text.contains("c.toml:3:11: model[0].timeout: \"0s\" must be more than zero"),
            "{text}"
        );
        assert!(
            text.contains("--listen: 0.0.0.0:80 is reachable from other machines"),
            "{text}"
        );
        assert!(text.contains("choose one of: p95, round-robin"), "{text}");
    }

    #[test]
    fn an_unusable_ollama_host_is_reported_once_by_name() {
        let dir = temp_dir("badhost");
        let env = env(&[
            ("XDG_CONFIG_HOME", dir.to_str().unwrap()),
            ("OLLAMA_HOST", "https://gpu-box"),
        ]);
        let result = load_with_env(None, &Overrides::default(), &env);
        if cfg!(feature = "tls") {
            assert!(result.is_ok());
        } else {
            let errors = result.unwrap_err();
            assert_eq!(errors.len(), 1, "{errors}");
            assert_eq!(errors.problems()[0].key, "OLLAMA_HOST");
            assert!(
                errors.to_string().contains("rebuild with --features tls"),
                "{errors}"
            );
        }
    }
}
