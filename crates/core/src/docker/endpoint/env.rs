//! The environment the docker CLI reads, captured once, and its TLS rules.
//!
//! Resolution works on an [`EnvSnapshot`] rather than on `std::env`, so it is a
//! pure function the tests drive with any environment.

use std::path::{Path, PathBuf};

use super::error::EndpointError;
use super::host::{ClientCert, EndpointSource, TlsFiles};

/// The variables (and directories) that decide which engine the docker CLI uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvSnapshot {
    /// `DOCKER_HOST` (empty counts as unset).
    pub docker_host: Option<String>,
    /// `DOCKER_CONTEXT` (empty counts as unset).
    pub docker_context: Option<String>,
    /// `DOCKER_TLS_VERIFY` is set to anything non-empty (`0` included, as the CLI reads it).
    pub tls_verify: bool,
    /// `DOCKER_TLS` is set to anything non-empty.
    pub tls: bool,
    /// `DOCKER_CERT_PATH` (empty counts as unset).
    pub cert_path: Option<PathBuf>,
    /// The docker CLI's config directory: `DOCKER_CONFIG`, else `~/.docker`.
    pub config_dir: PathBuf,
    /// The user's home.
    pub home: Option<PathBuf>,
    /// `XDG_RUNTIME_DIR` (rootless Docker and Podman put their sockets there).
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `COLIMA_HOME` (Colima's profiles; default `~/.colima`).
    pub colima_home: Option<PathBuf>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl EnvSnapshot {
    /// This process's environment.
    pub fn capture() -> Self {
        let home = dirs::home_dir();
        let config_dir = var("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".docker")))
            .unwrap_or_else(|| PathBuf::from(".docker"));
        EnvSnapshot {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            tls_verify: var("DOCKER_TLS_VERIFY").is_some(),
            tls: var("DOCKER_TLS").is_some(),
            cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
            config_dir,
            home,
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            colima_home: var("COLIMA_HOME").map(PathBuf::from),
        }
    }

    /// Where `DOCKER_TLS_VERIFY` looks for ca.pem, cert.pem and key.pem:
    /// `DOCKER_CERT_PATH`, else the config directory.
    pub fn cert_dir(&self) -> &Path {
        self.cert_path.as_deref().unwrap_or(&self.config_dir)
    }

    /// Whether any TLS variable asks for TLS.
    pub fn wants_tls(&self) -> bool {
        self.tls_verify || self.tls
    }

    /// The TLS files for the default context's TCP address, by the CLI's rules:
    /// `DOCKER_TLS_VERIFY` (any value) verifies against `<cert dir>/ca.pem`;
    /// `DOCKER_TLS` alone asks to skip verification, which Branchyard cannot do;
    /// `DOCKER_CERT_PATH` alone turns nothing on. `https://` is TLS regardless.
    ///
    /// # Errors
    /// [`EndpointError::SkipVerifyUnsupported`] for `DOCKER_TLS` without `DOCKER_TLS_VERIFY`.
    pub fn tls_files(
        &self,
        host: &str,
        https: bool,
        source: &EndpointSource,
    ) -> Result<Option<TlsFiles>, EndpointError> {
        if self.tls && !self.tls_verify {
            return Err(EndpointError::SkipVerifyUnsupported {
                host: host.to_string(),
                from: source.to_string(),
                asked_by: "DOCKER_TLS without DOCKER_TLS_VERIFY".into(),
            });
        }
        if !self.tls_verify && !https {
            return Ok(None);
        }
        let dir = self.cert_dir();
        let ca = dir.join("ca.pem");
        // https:// without DOCKER_TLS_VERIFY trusts the system roots unless a CA is there.
        let ca = (self.tls_verify || ca.exists()).then_some(ca);
        Ok(Some(TlsFiles {
            ca,
            client: client_cert_in(dir),
        }))
    }
}

/// `cert.pem` and `key.pem` in `dir`, when either is there (the docker CLI goes
/// without a client certificate only when both are absent; one alone is a
/// mistake that the file check reports).
pub fn client_cert_in(dir: &Path) -> Option<ClientCert> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    (cert.exists() || key.exists()).then_some(ClientCert { cert, key })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(dir: &Path) -> EnvSnapshot {
        EnvSnapshot {
            config_dir: dir.join("cfg"),
            ..EnvSnapshot::default()
        }
    }

    #[test]
    fn tls_verify_with_any_value_verifies_against_the_cert_dir() {
        let d = tempfile::tempdir().unwrap();
        let certs = d.path().join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(certs.join(f), "x").unwrap();
        }
        let mut e = env(d.path());
        e.tls_verify = true; // DOCKER_TLS_VERIFY=0 reads the same
        e.cert_path = Some(certs.clone());
        let t = e
            .tls_files("tcp://h:2376", false, &EndpointSource::DockerHost)
            .unwrap()
            .unwrap();
        assert_eq!(t.ca, Some(certs.join("ca.pem")));
        assert_eq!(t.client.unwrap().key, certs.join("key.pem"));
    }

    #[test]
    fn without_cert_path_the_config_dir_holds_the_files() {
        let d = tempfile::tempdir().unwrap();
        let mut e = env(d.path());
        e.tls_verify = true;
        let t = e
            .tls_files("tcp://h:2376", false, &EndpointSource::DockerHost)
            .unwrap()
            .unwrap();
        assert_eq!(
            t.ca,
            Some(d.path().join("cfg/ca.pem")),
            "ca.pem is required even when absent"
        );
        assert_eq!(
            t.client, None,
            "no cert.pem and no key.pem: no client certificate"
        );
    }

    #[test]
    fn cert_path_alone_turns_nothing_on_and_docker_tls_alone_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let mut e = env(d.path());
        e.cert_path = Some(d.path().to_path_buf());
        assert_eq!(
            e.tls_files("tcp://h:2376", false, &EndpointSource::DockerHost)
                .unwrap(),
            None,
            "DOCKER_CERT_PATH without DOCKER_TLS_VERIFY is plain HTTP, as in the CLI"
        );
        e.tls = true;
        let err = e
            .tls_files("tcp://h:2376", false, &EndpointSource::DockerHost)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DOCKER_TLS_VERIFY") && err.contains("tcp://h:2376"),
            "{err}"
        );
        e.tls_verify = true;
        assert!(
            e.tls_files("tcp://h:2376", false, &EndpointSource::DockerHost)
                .is_ok(),
            "DOCKER_TLS with DOCKER_TLS_VERIFY verifies"
        );
    }

    #[test]
    fn https_is_tls_and_trusts_the_system_roots_without_a_ca_file() {
        let d = tempfile::tempdir().unwrap();
        let e = env(d.path());
        let t = e
            .tls_files("https://h:2376", true, &EndpointSource::DockerHost)
            .unwrap()
            .unwrap();
        assert_eq!(t.ca, None);
    }
}
