//! Connecting to an endpoint: TLS files checked first, then the client of its
//! scheme, one round trip to agree on the API version, a ping; and what the
//! engine says about itself (`docker info`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use serde::{Deserialize, Serialize};

use super::error::EndpointError;
use super::host::{scheme_of, Endpoint, Scheme, TlsFiles};
use super::tls;

/// Seconds a request may wait for its response headers (bollard's default).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// How long connecting may take before the engine counts as unreachable (an
/// address that drops packets would otherwise hang for minutes).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// What an engine says about itself (`docker info` and `docker version`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// `Name`: the engine's host name.
    pub name: String,
    /// `ID`: the engine's ID.
    pub id: String,
    /// `ServerVersion`.
    pub server_version: String,
    /// The API version it speaks.
    pub api_version: String,
    /// `OSType` (`linux`, `windows`).
    pub os_type: String,
    /// `Architecture` (`x86_64`, `aarch64`).
    pub architecture: String,
    /// `OperatingSystem` (`Debian GNU/Linux 12`, `Docker Desktop`, `OrbStack`).
    pub operating_system: String,
    /// The engine product when it is not Docker's (`Podman Engine`).
    pub product: Option<String>,
}

impl EngineInfo {
    /// What stays the same for one engine across connections: its ID, except
    /// for Podman, whose compat API gives a new ID on every call, where the
    /// host name and address stand in.
    pub fn identity(&self, endpoint: &Endpoint) -> String {
        match &self.product {
            Some(p) if p.contains("Podman") => format!("podman:{}@{}", self.name, endpoint.host),
            _ => self.id.clone(),
        }
    }

    /// `vm (Docker 20.10.24, linux/x86_64, ID MGEY:…)`.
    pub fn summary(&self) -> String {
        let product = self.product.as_deref().unwrap_or("Docker");
        let product = product.trim_end_matches(" Engine");
        format!(
            "{} ({product} {}, {}/{}, ID {})",
            self.name, self.server_version, self.os_type, self.architecture, self.id
        )
    }
}

/// Connects to `endpoint` and checks an engine answers there.
///
/// # Errors
/// TLS files that do not do, a refused handshake, or no engine answering:
/// each naming the endpoint, who chose it and the fix.
pub async fn connect(endpoint: &Endpoint) -> Result<Docker, EndpointError> {
    tls::check_files(endpoint)?;
    let docker = client(endpoint)?;
    let reached = async {
        let docker = docker.negotiate_version().await?;
        docker.ping().await?;
        Ok::<_, bollard::errors::Error>(docker)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, reached).await {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(explain(endpoint, &e)),
        Err(_) => Err(unreachable(
            endpoint,
            format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        )),
    }
}

/// `docker info` and `docker version`, in one [`EngineInfo`].
///
/// # Errors
/// What Docker said, in words.
pub async fn engine_info(docker: &Docker) -> Result<EngineInfo, String> {
    let info = docker.info().await.map_err(|e| e.to_string())?;
    let version = docker.version().await.map_err(|e| e.to_string())?;
    let product = version
        .components
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .find(|n| n != "Engine" && n.ends_with("Engine"));
    Ok(EngineInfo {
        name: info.name.unwrap_or_default(),
        id: info.id.unwrap_or_default(),
        server_version: info.server_version.unwrap_or_default(),
        api_version: version.api_version.unwrap_or_default(),
        os_type: info.os_type.unwrap_or_default(),
        architecture: info.architecture.unwrap_or_default(),
        operating_system: info.operating_system.unwrap_or_default(),
        product,
    })
}

fn client(endpoint: &Endpoint) -> Result<Docker, EndpointError> {
    let host = endpoint.host.as_str();
    let version = bollard::API_DEFAULT_VERSION;
    let unsupported = |why: &str| EndpointError::Unsupported {
        host: host.to_string(),
        from: endpoint.source.to_string(),
        why: why.to_string(),
    };
    let made = match (scheme_of(host), &endpoint.tls) {
        #[cfg(unix)]
        (Some(Scheme::Unix), _) => Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, version),
        #[cfg(windows)]
        (Some(Scheme::Npipe), _) => Docker::connect_with_named_pipe(host, REQUEST_TIMEOUT_SECS, version),
        #[cfg(not(unix))]
        (Some(Scheme::Unix), _) => return Err(unsupported("unix sockets need a Unix system: use npipe:// or tcp://")),
        #[cfg(not(windows))]
        (Some(Scheme::Npipe), _) => return Err(unsupported("npipe:// is a Windows named pipe: use unix:// or tcp://")),
        (Some(Scheme::Tcp), None) => Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, version),
        (Some(Scheme::Tcp | Scheme::Https), Some(files)) => {
            // ring is the one provider built in; installing it first keeps key
            // loading from finding none (a no-op when it is installed already).
            let _ = rustls::crypto::ring::default_provider().install_default();
            let (key, cert, ca) = ssl_paths(files);
            Docker::connect_with_ssl(host, &key, &cert, &ca, REQUEST_TIMEOUT_SECS, version)
        }
        (Some(Scheme::Https), None) => return Err(unsupported("https:// needs TLS files")),
        #[cfg(unix)]
        (Some(Scheme::Ssh), _) => Docker::connect_with_ssh(host, REQUEST_TIMEOUT_SECS, version, None),
        #[cfg(not(unix))]
        (Some(Scheme::Ssh), _) => return Err(unsupported("ssh:// is not supported on this platform yet: forward the engine's socket (`ssh -L`) and use tcp://")),
        (Some(Scheme::Fd), _) => {
            return Err(unsupported(
                "fd:// is dockerd's own socket activation, not an address a client can use: use unix:///var/run/docker.sock",
            ))
        }
        (None, _) => return Err(unsupported("not an address Branchyard can connect to")),
    };
    made.map_err(|e| explain(endpoint, &e))
}

/// A file that reads as empty: bollard wants paths for every TLS file, and an
/// empty CA adds nothing to the system roots, an empty key means no client key.
fn empty_file() -> PathBuf {
    if cfg!(windows) {
        PathBuf::from("NUL")
    } else {
        PathBuf::from("/dev/null")
    }
}

fn ssl_paths(files: &TlsFiles) -> (PathBuf, PathBuf, PathBuf) {
    let or_empty = |p: Option<&Path>| p.map(Path::to_path_buf).unwrap_or_else(empty_file);
    let client = files.client.as_ref();
    (
        or_empty(client.map(|c| c.key.as_path())),
        or_empty(client.map(|c| c.cert.as_path())),
        or_empty(files.ca.as_deref()),
    )
}

fn unreachable(endpoint: &Endpoint, reason: String) -> EndpointError {
    EndpointError::Unreachable {
        host: endpoint.host.clone(),
        from: endpoint.source.to_string(),
        reason,
        fix: format!("start it, or {}", endpoint.source.how_to_change()),
    }
}

/// A bollard failure while connecting, as the error the user can act on.
fn explain(endpoint: &Endpoint, e: &bollard::errors::Error) -> EndpointError {
    if let Some(files) = &endpoint.tls {
        if let Some((problem, fix)) = tls::describe_handshake(e, files) {
            return EndpointError::TlsRejected {
                host: endpoint.host.clone(),
                from: endpoint.source.to_string(),
                problem,
                fix,
            };
        }
    }
    if let bollard::errors::Error::DockerResponseServerError { message, .. } = e {
        if message.contains("HTTPS server") {
            return EndpointError::TlsRejected {
                host: endpoint.host.clone(),
                from: endpoint.source.to_string(),
                problem: "the engine speaks TLS at this address and we spoke plain HTTP".into(),
                fix: "set DOCKER_TLS_VERIFY=1 with the engine's ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH (or use a context with its TLS files)".into(),
            };
        }
    }
    let reason = match e {
        bollard::errors::Error::SocketNotFoundError(path) => {
            format!("there is no socket at {path}")
        }
        other => tls::root_cause(other),
    };
    unreachable(endpoint, reason)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::host::EndpointSource;
    use super::*;

    #[tokio::test]
    async fn a_closed_port_is_unreachable_and_names_where_it_came_from() {
        // Port 9 (discard) on loopback: nothing listens there on these machines.
        let e = Endpoint {
            host: "tcp://127.0.0.1:9".into(),
            tls: None,
            source: EndpointSource::DockerHost,
        };
        let text = connect(&e).await.unwrap_err().to_string();
        assert!(
            text.contains("tcp://127.0.0.1:9")
                && text.contains("DOCKER_HOST")
                && text.contains("does not fall back"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_missing_socket_says_so() {
        let e = Endpoint {
            host: "unix:///nonexistent/docker.sock".into(),
            tls: None,
            source: EndpointSource::Setting {
                context: "gone".into(),
            },
        };
        let text = connect(&e).await.unwrap_err().to_string();
        assert!(
            text.contains("no socket at /nonexistent/docker.sock") && text.contains("engine use"),
            "{text}"
        );
    }

    #[test]
    fn podman_is_known_by_name_and_address_since_its_id_changes_per_call() {
        let info = EngineInfo {
            name: "vm".into(),
            id: "78f73ba8-f27a-4ea3-8ced-dfb967689f8b".into(),
            server_version: "4.3.1".into(),
            api_version: "1.41".into(),
            os_type: "linux".into(),
            architecture: "amd64".into(),
            operating_system: "debian".into(),
            product: Some("Podman Engine".into()),
        };
        let e = Endpoint {
            host: "unix:///run/podman/podman.sock".into(),
            tls: None,
            source: EndpointSource::DockerHost,
        };
        assert_eq!(
            info.identity(&e),
            "podman:vm@unix:///run/podman/podman.sock"
        );
        let docker = EngineInfo {
            product: None,
            ..info
        };
        assert_eq!(docker.identity(&e), docker.id);
        assert!(
            docker
                .summary()
                .starts_with("vm (Docker 4.3.1, linux/amd64"),
            "{}",
            docker.summary()
        );
    }
}
