//! `OLLAMA_HOST`, read the way Ollama's own command-line client reads it.
//!
//! The form is `[scheme://]host[:port][/path]`:
//! - no scheme means `http`;
//! - no host means `127.0.0.1`; a bare IPv6 address may be written with or without
//!   brackets (`::1`, `[::1]`, `[::1]:8080`);
//! - no port means 11434, except when a scheme is written out: `http://x` means port 80
//!   and `https://x` port 443, as in any URL;
//! - a port that is not a number from 0 to 65535 is replaced by that default, with a
//!   warning, as Ollama does;
//! - a path is kept (`http://proxy/ollama` reaches `http://proxy/ollama/api/chat`);
//! - the bare word `ollama.com` means `https://ollama.com:443`;
//! - quotes and spaces around the value are ignored.
//!
//! A server told to listen on `0.0.0.0` (or `::`, or an empty host such as `:11434`)
//! listens on every interface; a client cannot connect there, so, like Ollama's client,
//! these become the loopback address of the same family.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Url;

use super::ConfigError;
use super::defaults::DEFAULT_OLLAMA_URL;

/// The environment variable Ollama's clients read.
pub const OLLAMA_HOST_VAR: &str = "OLLAMA_HOST";

const DEFAULT_PORT: &str = "11434";

/// The Ollama server to connect to, from `OLLAMA_HOST`; `http://127.0.0.1:11434` when it
/// is unset or empty.
pub fn ollama_host_from_env() -> Result<Url, ConfigError> {
    ollama_host_from(std::env::var(OLLAMA_HOST_VAR).ok().as_deref())
}

/// The Ollama server to connect to, given the value of `OLLAMA_HOST` (if set).
pub fn ollama_host_from(value: Option<&str>) -> Result<Url, ConfigError> {
    match value {
        Some(value) => parse_ollama_host(value),
        None => Ok(default_ollama_url()),
    }
}

/// `http://127.0.0.1:11434`, where Ollama listens by default.
pub fn default_ollama_url() -> Url {
    // Cannot fail: the constant is a valid URL (a test below parses it too).
    Url::parse(DEFAULT_OLLAMA_URL).expect("DEFAULT_OLLAMA_URL is a valid URL")
}

/// Parse an `OLLAMA_HOST` value into the URL a client connects to. See the module docs for
/// the rules. Fails only when the result is not an `http` or `https` URL with a host.
pub fn parse_ollama_host(value: &str) -> Result<Url, ConfigError> {
    parse_ollama_host_as(value, OLLAMA_HOST_VAR)
}

/// [`parse_ollama_host`], naming the setting `key` in any error (`--ollama-host`).
pub(crate) fn parse_ollama_host_as(value: &str, key: &str) -> Result<Url, ConfigError> {
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();

    let mut default_port = DEFAULT_PORT;
    let (scheme, rest) = match value.split_once("://") {
        None if value == "ollama.com" => ("https", "ollama.com:443"),
        None => ("http", value),
        Some(("http", rest)) => {
            default_port = "80";
            ("http", rest)
        }
        Some(("https", rest)) => {
            default_port = "443";
            ("https", rest)
        }
        Some((scheme, rest)) => (scheme, rest),
    };
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));

    let (host, mut port) = match split_host_port(hostport) {
        Some((host, port)) => (host.to_string(), port),
        None => {
            let bare = hostport.trim_start_matches('[').trim_end_matches(']');
            let host = match bare.parse::<IpAddr>() {
                Ok(ip) => ip.to_string(),
                Err(_) if hostport.is_empty() => "127.0.0.1".to_string(),
                Err(_) => hostport.to_string(),
            };
            (host, default_port)
        }
    };
    if !port.parse::<i64>().is_ok_and(|n| (0..=65535).contains(&n)) {
        tracing::warn!(
            key,
            port,
            default = default_port,
            "invalid port, using the default"
        );
        port = default_port;
    }

    let host = connectable(&host);
    let joined = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let text = format!("{scheme}://{joined}/{path}");
    let problem = |why: &str| {
        ConfigError::new(
            key,
            format!(
                "\"{value}\" is not a usable address: {why}; expected [http[s]://]host[:port][/path]"
            ),
        )
    };
    let url = Url::parse(&text).map_err(|e| problem(&e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(problem(&format!(
            "the scheme \"{scheme}\" is not http or https"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(problem("it has no host"));
    }
    Ok(url)
}

/// Go's `net.SplitHostPort`: `host:port` or `[v6]:port`; `None` when there is no port
/// separator or the brackets and colons do not fit that shape.
fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let last = hostport.rfind(':')?;
    let (host, start, end) = if let Some(inner) = hostport.strip_prefix('[') {
        let close = inner.find(']')? + 1;
        if close + 1 != last {
            return None;
        }
        (&hostport[1..close], 1, close + 1)
    } else {
        let host = &hostport[..last];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport[start..].contains('[') || hostport[end..].contains(']') {
        return None;
    }
    Some((host, &hostport[last + 1..]))
}

/// A listen-everywhere host becomes the loopback address a client can reach.
fn connectable(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => Ipv6Addr::LOCALHOST.to_string(),
        _ if host.is_empty() => Ipv4Addr::LOCALHOST.to_string(),
        _ => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &str) -> String {
        parse_ollama_host(value).unwrap().to_string()
    }

    #[test]
    fn unset_or_empty_means_local_default() {
        assert_eq!(
            ollama_host_from(None).unwrap().as_str(),
            "http://127.0.0.1:11434/"
        );
        assert_eq!(parsed(""), "http://127.0.0.1:11434/");
        assert_eq!(parsed("  \"\"  "), "http://127.0.0.1:11434/");
    }

    #[test]
    fn host_alone_gets_http_and_port_11434() {
        assert_eq!(parsed("gpu-box"), "http://gpu-box:11434/");
        assert_eq!(parsed("10.0.0.5"), "http://10.0.0.5:11434/");
    }

    #[test]
    fn host_and_port_without_scheme_get_http() {
        assert_eq!(parsed("gpu-box:8080"), "http://gpu-box:8080/");
        assert_eq!(parsed("127.0.0.1:11435"), "http://127.0.0.1:11435/");
    }

    #[test]
    fn explicit_scheme_without_port_uses_the_scheme_port() {
        // Port 80 and 443 are the schemes' own, so the URL leaves them out.
        let http = parse_ollama_host("http://gpu-box").unwrap();
        assert_eq!(http.port_or_known_default(), Some(80));
        assert_eq!(http.as_str(), "http://gpu-box/");
        let https = parse_ollama_host("https://gpu-box").unwrap();
        assert_eq!(https.port_or_known_default(), Some(443));
    }

    #[test]
    fn explicit_scheme_and_port_are_kept() {
        assert_eq!(parsed("http://gpu-box:11434"), "http://gpu-box:11434/");
        assert_eq!(parsed("https://gpu-box:8443"), "https://gpu-box:8443/");
    }

    #[test]
    fn port_only_means_loopback() {
        assert_eq!(parsed(":11500"), "http://127.0.0.1:11500/");
    }

    #[test]
    fn listen_everywhere_addresses_connect_to_loopback() {
        assert_eq!(parsed("0.0.0.0"), "http://127.0.0.1:11434/");
        assert_eq!(parsed("0.0.0.0:9000"), "http://127.0.0.1:9000/");
        assert_eq!(parsed("http://0.0.0.0:11434"), "http://127.0.0.1:11434/");
        assert_eq!(parsed("[::]:11434"), "http://[::1]:11434/");
        assert_eq!(parsed("::"), "http://[::1]:11434/");
    }

    #[test]
    fn ipv6_with_or_without_brackets() {
        assert_eq!(parsed("[::1]:8080"), "http://[::1]:8080/");
        assert_eq!(parsed("[::1]"), "http://[::1]:11434/");
        assert_eq!(parsed("::1"), "http://[::1]:11434/");
        assert_eq!(parsed("http://[fe80::1]:9"), "http://[fe80::1]:9/");
    }

    #[test]
    fn path_is_kept() {
        assert_eq!(
            parsed("proxy.lan:8080/ollama"),
            "http://proxy.lan:8080/ollama"
        );
        assert_eq!(parsed("https://proxy.lan/a/b"), "https://proxy.lan/a/b");
        assert_eq!(parsed("gpu-box/"), "http://gpu-box:11434/");
    }

    #[test]
    fn invalid_port_falls_back_to_the_default_like_ollama() {
        assert_eq!(parsed("gpu-box:99999"), "http://gpu-box:11434/");
        assert_eq!(parsed("gpu-box:abc"), "http://gpu-box:11434/");
        assert_eq!(parsed("gpu-box:"), "http://gpu-box:11434/");
        assert_eq!(
            parse_ollama_host("http://gpu-box:-1")
                .unwrap()
                .port_or_known_default(),
            Some(80)
        );
    }

    #[test]
    fn quotes_and_spaces_are_ignored() {
        assert_eq!(parsed(" 'gpu-box:8080' "), "http://gpu-box:8080/");
    }

    #[test]
    fn bare_ollama_dot_com_is_the_hosted_service() {
        assert_eq!(parsed("ollama.com"), "https://ollama.com/");
    }

    #[test]
    fn unusable_values_are_errors_naming_the_variable() {
        for bad in ["ftp://gpu-box", "a b c", "host:1:2:3"] {
            let error = parse_ollama_host(bad).unwrap_err();
            assert_eq!(error.key, "OLLAMA_HOST", "{bad}");
            assert!(
                error.message.contains("not a usable address"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn flag_errors_name_the_flag() {
        let error = parse_ollama_host_as("ftp://x", "--ollama-host").unwrap_err();
        assert_eq!(error.key, "--ollama-host");
    }
}
