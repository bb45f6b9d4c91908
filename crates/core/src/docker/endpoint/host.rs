//! Where an engine is: its address as the docker CLI normalises it, the TLS
//! files that go with it, and where that choice came from.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::EndpointError;

/// One engine's address and how to speak to it: enough to connect, nothing
/// about what runs there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The address, normalised as the docker CLI does (`unix:///var/run/docker.sock`,
    /// `tcp://10.0.0.2:2376`, `ssh://me@box`).
    pub host: String,
    /// TLS files, when the connection is TLS (`None`: a socket or plain TCP).
    pub tls: Option<TlsFiles>,
    /// Who chose this engine.
    pub source: EndpointSource,
}

/// The files a TLS connection uses, where they are (never copied: the client
/// re-reads its key and certificate on every handshake).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFiles {
    /// The CA the engine's certificate must be signed by (`None`: the system's roots).
    pub ca: Option<PathBuf>,
    /// The client certificate and key, for an engine that asks for one.
    pub client: Option<ClientCert>,
}

/// A client certificate and its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCert {
    /// `cert.pem`.
    pub cert: PathBuf,
    /// `key.pem`.
    pub key: PathBuf,
}

/// Who chose the engine, in the docker CLI's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EndpointSource {
    /// `branchyard --context NAME`.
    Flag {
        /// The context named.
        context: String,
    },
    /// `branchyard settings set docker.context NAME` (or `branchyard engine use NAME`).
    Setting {
        /// The context named.
        context: String,
    },
    /// The `DOCKER_HOST` environment variable.
    DockerHost,
    /// `DOCKER_TLS_VERIFY` without `DOCKER_HOST`: the docker CLI's `tcp://localhost:2376`.
    TlsDefault,
    /// The `DOCKER_CONTEXT` environment variable.
    DockerContext {
        /// The context named.
        name: String,
    },
    /// `currentContext` in the docker CLI's config.json (`docker context use NAME`).
    CurrentContext {
        /// The context named.
        name: String,
        /// The config.json it was read from.
        config: PathBuf,
    },
    /// Nothing named an engine: the first well-known socket that answered.
    Probed {
        /// The socket.
        socket: String,
        /// Whose socket that usually is (`Docker Engine`, `OrbStack`, `Podman`, …).
        what: String,
    },
}

impl EndpointSource {
    /// The docker context this source named, if it named one.
    pub fn context(&self) -> Option<&str> {
        match self {
            EndpointSource::Flag { context } | EndpointSource::Setting { context } => Some(context),
            EndpointSource::DockerContext { name }
            | EndpointSource::CurrentContext { name, .. } => Some(name),
            _ => None,
        }
    }

    /// How to stop using this engine, in words.
    pub fn how_to_change(&self) -> String {
        match self {
            EndpointSource::Flag { .. } => "pass another --context".into(),
            EndpointSource::Setting { .. } => {
                "choose another with `branchyard engine use NAME` (`default` for the usual one)".into()
            }
            EndpointSource::DockerHost => "unset DOCKER_HOST or point it at a running engine".into(),
            EndpointSource::TlsDefault => {
                "unset DOCKER_TLS_VERIFY or set DOCKER_HOST to the engine's address".into()
            }
            EndpointSource::DockerContext { .. } => {
                "unset DOCKER_CONTEXT or name a context that runs".into()
            }
            EndpointSource::CurrentContext { .. } => {
                "switch with `docker context use NAME` or `branchyard engine use NAME`".into()
            }
            EndpointSource::Probed { .. } => {
                "start Docker (Docker Desktop, OrbStack, Colima, `dockerd &` or `podman system service`), or name one with DOCKER_HOST or a docker context".into()
            }
        }
    }
}

impl fmt::Display for EndpointSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointSource::Flag { context } => write!(f, "--context {context}"),
            EndpointSource::Setting { context } => {
                write!(f, "the docker.context setting ({context})")
            }
            EndpointSource::DockerHost => f.write_str("DOCKER_HOST"),
            EndpointSource::TlsDefault => f.write_str("DOCKER_TLS_VERIFY without DOCKER_HOST"),
            EndpointSource::DockerContext { name } => write!(f, "DOCKER_CONTEXT={name}"),
            EndpointSource::CurrentContext { name, config } => {
                write!(
                    f,
                    "docker context {name} (currentContext in {})",
                    config.display()
                )
            }
            EndpointSource::Probed { socket, what } => {
                write!(f, "the {what} socket {socket}, probed")
            }
        }
    }
}

/// An address's scheme, as Branchyard connects to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `unix:///path`.
    Unix,
    /// `npipe:////./pipe/name` (Windows).
    Npipe,
    /// `tcp://host:port` (TLS or not, by the TLS settings).
    Tcp,
    /// `https://host:port` (always TLS).
    Https,
    /// `ssh://user@host`.
    Ssh,
    /// `fd://` (systemd socket activation; only meaningful to dockerd itself).
    Fd,
}

impl Scheme {
    /// Whether the address is a local socket, where TLS settings do not apply.
    pub fn is_socket(self) -> bool {
        matches!(self, Scheme::Unix | Scheme::Npipe | Scheme::Fd)
    }
}

/// The scheme of a normalised address.
pub fn scheme_of(host: &str) -> Option<Scheme> {
    let (proto, _) = host.split_once("://")?;
    Some(match proto {
        "unix" => Scheme::Unix,
        "npipe" => Scheme::Npipe,
        "tcp" | "http" => Scheme::Tcp,
        "https" => Scheme::Https,
        "ssh" => Scheme::Ssh,
        "fd" => Scheme::Fd,
        _ => return None,
    })
}

/// Normalises an address as the docker CLI's `ParseHost` does: no scheme means
/// tcp, tcp without a port is `:2375` (even with TLS), an empty socket path is
/// the default socket. Also takes `http://` and `https://`, as the Engine API
/// client libraries do.
///
/// # Errors
/// [`EndpointError::BadHost`] for any other scheme or a bad port.
pub fn normalize(raw: &str, source: &EndpointSource) -> Result<String, EndpointError> {
    let raw = raw.trim();
    let bad = |why: &str| EndpointError::BadHost {
        host: raw.to_string(),
        from: source.to_string(),
        why: why.to_string(),
    };
    let (proto, rest) = match raw.split_once("://") {
        Some((p, r)) => (p, r),
        None => ("tcp", raw),
    };
    match proto {
        "unix" => Ok(if rest.is_empty() {
            "unix:///var/run/docker.sock".into()
        } else {
            format!("unix://{rest}")
        }),
        "npipe" => Ok(if rest.is_empty() {
            "npipe:////./pipe/docker_engine".into()
        } else {
            format!("npipe://{rest}")
        }),
        "ssh" | "fd" => Ok(raw.to_string()),
        "tcp" | "http" | "https" => {
            // Only host:port matters to the Engine API; a trailing path is dropped.
            let authority = rest.split('/').next().unwrap_or("");
            let (host, port) = split_host_port(authority).map_err(|w| bad(&w))?;
            let host = match host {
                "" => "localhost".to_string(),
                h if h.contains(':') => format!("[{h}]"),
                h => h.to_string(),
            };
            let port = match port {
                Some(p) => p,
                None if proto == "https" => 2376,
                None => 2375,
            };
            let proto = if proto == "http" { "tcp" } else { proto };
            Ok(format!("{proto}://{host}:{port}"))
        }
        other => Err(bad(&format!(
            "unknown scheme {other}:// (use unix://, tcp://, https://, ssh://{})",
            if cfg!(windows) { " or npipe://" } else { "" }
        ))),
    }
}

/// `host:port`, `[v6]:port`, `host`; the port checked.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => return Err("an IPv6 address needs its closing ]".into()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port number"))?,
        ),
    };
    Ok((host, port))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> String {
        normalize(raw, &EndpointSource::DockerHost).unwrap()
    }

    #[test]
    fn addresses_are_normalised_as_the_docker_cli_does() {
        assert_eq!(
            norm("tcp://10.0.0.9"),
            "tcp://10.0.0.9:2375",
            "no port is 2375, even with TLS"
        );
        assert_eq!(
            norm("10.0.0.9:2376"),
            "tcp://10.0.0.9:2376",
            "no scheme is tcp"
        );
        assert_eq!(norm("tcp://:2376"), "tcp://localhost:2376");
        assert_eq!(norm("tcp://[::1]:2376"), "tcp://[::1]:2376");
        assert_eq!(norm("http://h:1"), "tcp://h:1");
        assert_eq!(norm("https://h"), "https://h:2376");
        assert_eq!(norm("unix://"), "unix:///var/run/docker.sock");
        assert_eq!(norm("unix:///tmp/x.sock"), "unix:///tmp/x.sock");
        assert_eq!(norm("npipe://"), "npipe:////./pipe/docker_engine");
        assert_eq!(norm("ssh://me@box:22"), "ssh://me@box:22");
        let e = normalize("ftp://x", &EndpointSource::DockerHost)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ftp://") && e.contains("DOCKER_HOST"), "{e}");
        let e = normalize("tcp://h:port", &EndpointSource::DockerHost)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a port"), "{e}");
    }

    #[test]
    fn sockets_are_told_apart_from_network_addresses() {
        assert!(scheme_of("unix:///x").unwrap().is_socket());
        assert!(!scheme_of("tcp://h:1").unwrap().is_socket());
        assert_eq!(scheme_of("https://h:1"), Some(Scheme::Https));
        assert_eq!(scheme_of("nope"), None);
    }
}
