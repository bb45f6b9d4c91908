//! The docker CLI's context store, read exactly as the CLI reads it:
//! `<config>/contexts/meta/<sha256(name)>/meta.json` for the endpoint and
//! `<config>/contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem` for its TLS
//! material, and `currentContext` in `<config>/config.json`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::EndpointError;
use super::host::{normalize, scheme_of, ClientCert, Endpoint, EndpointSource, TlsFiles};

/// The context that is never on disk: DOCKER_HOST, or the usual socket.
pub const DEFAULT_CONTEXT: &str = "default";

/// The TLS files a context may carry, in the order the CLI names them.
const TLS_FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

/// A context's directory name: the hex SHA-256 of its name (the CLI's `contextdirOf`).
pub fn context_id(name: &str) -> String {
    hex::encode(Sha256::digest(name.as_bytes()))
}

/// `<config>/contexts/meta/<id>`.
pub fn meta_dir(config_dir: &Path, name: &str) -> PathBuf {
    config_dir
        .join("contexts")
        .join("meta")
        .join(context_id(name))
}

/// `<config>/contexts/tls/<id>` (its `docker/` holds the endpoint's files).
pub fn tls_dir(config_dir: &Path, name: &str) -> PathBuf {
    config_dir
        .join("contexts")
        .join("tls")
        .join(context_id(name))
}

/// One context as stored, with what `docker context inspect` adds (the TLS
/// files present, and where it lives).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredContext {
    /// Its name.
    pub name: String,
    /// `Metadata.Description`.
    pub description: String,
    /// `Endpoints.docker.Host` (absent in a context without a docker endpoint).
    pub host: Option<String>,
    /// `Endpoints.docker.SkipTLSVerify`.
    pub skip_tls_verify: bool,
    /// The TLS files present for the docker endpoint (`ca.pem`, `cert.pem`, `key.pem`).
    pub tls_material: Vec<String>,
    /// The directory of its meta.json.
    pub meta_path: PathBuf,
    /// The directory of its TLS material (it may not exist).
    pub tls_path: PathBuf,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetaFile {
    name: String,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    endpoints: std::collections::HashMap<String, serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DockerEndpointMeta {
    #[serde(default)]
    host: Option<String>,
    #[serde(default, rename = "SkipTLSVerify")]
    skip_tls_verify: bool,
}

fn parse_meta(meta_dir: &Path, bytes: &[u8], config_dir: &Path) -> Result<StoredContext, String> {
    let m: MetaFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let docker: DockerEndpointMeta = match m.endpoints.get("docker") {
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| format!("Endpoints.docker: {e}"))?
        }
        None => DockerEndpointMeta::default(),
    };
    let description = m
        .metadata
        .as_ref()
        .and_then(|v| v.get("Description"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let tls_path = tls_dir(config_dir, &m.name);
    let tls_material = TLS_FILES
        .iter()
        .filter(|f| tls_path.join("docker").join(f).is_file())
        .map(|f| f.to_string())
        .collect();
    Ok(StoredContext {
        name: m.name,
        description,
        host: docker.host.filter(|h| !h.is_empty()),
        skip_tls_verify: docker.skip_tls_verify,
        tls_material,
        meta_path: meta_dir.to_path_buf(),
        tls_path,
    })
}

/// Reads context `name`; `None` when there is no such context.
///
/// # Errors
/// [`EndpointError::BadContext`] when its meta.json cannot be read or parsed.
pub fn read(config_dir: &Path, name: &str) -> Result<Option<StoredContext>, EndpointError> {
    let dir = meta_dir(config_dir, name);
    let file = dir.join("meta.json");
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(EndpointError::BadContext {
                name: name.into(),
                path: file,
                why: e.to_string(),
            })
        }
    };
    parse_meta(&dir, &bytes, config_dir)
        .map(Some)
        .map_err(|why| EndpointError::BadContext {
            name: name.into(),
            path: file,
            why,
        })
}

/// Every context on disk, by name; one that cannot be read is an `Err` with
/// its meta.json path and why.
pub fn list(config_dir: &Path) -> Vec<Result<StoredContext, (PathBuf, String)>> {
    let root = config_dir.join("contexts").join("meta");
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let file = e.path().join("meta.json");
            std::fs::read(&file)
                .map_err(|err| err.to_string())
                .and_then(|b| parse_meta(&e.path(), &b, config_dir))
                .map_err(|why| (file, why))
        })
        .collect();
    out.sort_by(|a, b| match (a, b) {
        (Ok(a), Ok(b)) => a.name.cmp(&b.name),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(a), Err(b)) => a.0.cmp(&b.0),
    });
    out
}

/// The names a user may choose: `default` and every readable context.
pub fn names(config_dir: &Path) -> Vec<String> {
    std::iter::once(DEFAULT_CONTEXT.to_string())
        .chain(list(config_dir).into_iter().flatten().map(|c| c.name))
        .collect()
}

/// Context `name`, which must exist.
///
/// # Errors
/// [`EndpointError::ContextNotFound`] saying who asked (`from`) and listing the
/// contexts that exist; [`EndpointError::BadContext`] for an unreadable one.
pub fn require(
    config_dir: &Path,
    name: &str,
    from: String,
) -> Result<StoredContext, EndpointError> {
    read(config_dir, name)?.ok_or_else(|| EndpointError::ContextNotFound {
        name: name.into(),
        from,
        known: names(config_dir),
    })
}

/// Checks context `name` exists (`default` always does).
///
/// # Errors
/// As [`require`].
pub fn ensure_exists(config_dir: &Path, name: &str, from: String) -> Result<(), EndpointError> {
    if name == DEFAULT_CONTEXT {
        return Ok(());
    }
    require(config_dir, name, from).map(|_| ())
}

/// `currentContext` in `<config>/config.json` (`docker context use NAME`).
/// A missing file is `Ok(None)`; an unreadable one is `Err(why)`, which the CLI
/// only warns about before going on without it.
pub fn current_context(config_dir: &Path) -> Result<Option<String>, String> {
    let file = config_dir.join("config.json");
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(v.get("currentContext")
        .and_then(|c| c.as_str())
        .filter(|c| !c.is_empty())
        .map(str::to_string))
}

impl StoredContext {
    /// How to reach this context's engine, by the CLI's rules for named
    /// contexts: its own TLS files only (TLS variables do not apply); no files
    /// and no SkipTLSVerify is plain TCP; sockets never use TLS.
    ///
    /// # Errors
    /// No docker endpoint, a bad host, or SkipTLSVerify (which Branchyard cannot honour).
    pub fn endpoint(&self, source: EndpointSource) -> Result<Endpoint, EndpointError> {
        let Some(raw) = &self.host else {
            return Err(EndpointError::BadContext {
                name: self.name.clone(),
                path: self.meta_path.join("meta.json"),
                why: "it has no docker endpoint (Endpoints.docker.Host)".into(),
            });
        };
        let host = normalize(raw, &source)?;
        let socket = scheme_of(&host).is_some_and(|s| s.is_socket());
        let tls = if socket {
            None
        } else if self.skip_tls_verify {
            return Err(EndpointError::SkipVerifyUnsupported {
                host,
                from: source.to_string(),
                asked_by: format!("context {} (SkipTLSVerify)", self.name),
            });
        } else {
            let dir = self.tls_path.join("docker");
            let has = |f: &str| self.tls_material.iter().any(|m| m == f);
            let client = (has("cert.pem") || has("key.pem")).then(|| ClientCert {
                cert: dir.join("cert.pem"),
                key: dir.join("key.pem"),
            });
            let ca = has("ca.pem").then(|| dir.join("ca.pem"));
            let https = host.starts_with("https://");
            (ca.is_some() || client.is_some() || https).then_some(TlsFiles { ca, client })
        };
        Ok(Endpoint { host, tls, source })
    }
}

/// Writes a context as `docker context create` does (compact meta.json, PEM
/// copies with mode 0600): for tests and for a later `branchyard engine add`.
///
/// # Errors
/// When the files cannot be written.
pub fn write(
    config_dir: &Path,
    name: &str,
    description: &str,
    host: &str,
    skip_tls_verify: bool,
    tls: &[(&str, &Path)],
) -> std::io::Result<()> {
    let dir = meta_dir(config_dir, name);
    std::fs::create_dir_all(&dir)?;
    let meta = serde_json::json!({
        "Name": name,
        "Metadata": if description.is_empty() { serde_json::json!({}) } else { serde_json::json!({"Description": description}) },
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_tls_verify}},
    });
    std::fs::write(dir.join("meta.json"), meta.to_string())?;
    if !tls.is_empty() {
        let docker = tls_dir(config_dir, name).join("docker");
        std::fs::create_dir_all(&docker)?;
        for (file, from) in tls {
            let to = docker.join(file);
            std::fs::copy(from, &to)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_context_directory_is_the_sha256_of_its_name() {
        // The directories `docker context create t1|t2|t3` made (docker-cli.md §1.4).
        assert_eq!(
            context_id("t1"),
            "628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02"
        );
        assert_eq!(
            context_id("t3"),
            "cece8a9cecfb6c7e7ee4f3346d5e2544138bfb6e33bec6042a17333a4d3180b0"
        );
    }

    #[test]
    fn the_clis_own_meta_json_reads_back_with_its_tls_material() {
        let cfg = tempfile::tempdir().unwrap();
        let dir = meta_dir(cfg.path(), "t1");
        std::fs::create_dir_all(&dir).unwrap();
        // Exact bytes the docker CLI 28.2 wrote.
        std::fs::write(
            dir.join("meta.json"),
            r#"{"Name":"t1","Metadata":{"Description":"test ctx"},"Endpoints":{"docker":{"Host":"tcp://10.0.0.1:2376","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
        let tls = tls_dir(cfg.path(), "t1").join("docker");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("ca.pem"), "x").unwrap();
        let c = read(cfg.path(), "t1").unwrap().unwrap();
        assert_eq!(c.description, "test ctx");
        assert_eq!(c.host.as_deref(), Some("tcp://10.0.0.1:2376"));
        assert_eq!(c.tls_material, vec!["ca.pem"]);
        let e = c
            .endpoint(EndpointSource::DockerContext { name: "t1".into() })
            .unwrap();
        let t = e.tls.unwrap();
        assert_eq!(t.ca, Some(tls.join("ca.pem")));
        assert_eq!(t.client, None);
        assert!(read(cfg.path(), "nope").unwrap().is_none());
    }

    #[test]
    fn a_tcp_context_without_tls_files_is_plain_and_skip_verify_is_refused() {
        let cfg = tempfile::tempdir().unwrap();
        write(cfg.path(), "plain", "", "tcp://10.0.0.2:2376", false, &[]).unwrap();
        write(cfg.path(), "skip", "", "tcp://10.0.0.2:2376", true, &[]).unwrap();
        write(cfg.path(), "sock", "", "unix:///x.sock", true, &[]).unwrap();
        let src = |n: &str| EndpointSource::Flag { context: n.into() };
        let plain = read(cfg.path(), "plain").unwrap().unwrap();
        assert_eq!(plain.endpoint(src("plain")).unwrap().tls, None);
        let skip = read(cfg.path(), "skip").unwrap().unwrap();
        let e = skip.endpoint(src("skip")).unwrap_err().to_string();
        assert!(e.contains("skip") || e.contains("Skip"), "{e}");
        let sock = read(cfg.path(), "sock").unwrap().unwrap();
        assert_eq!(
            sock.endpoint(src("sock")).unwrap().tls,
            None,
            "sockets ignore TLS settings"
        );
        let names = names(cfg.path());
        assert_eq!(names, vec!["default", "plain", "skip", "sock"]);
    }

    #[test]
    fn current_context_comes_from_config_json() {
        let cfg = tempfile::tempdir().unwrap();
        assert_eq!(current_context(cfg.path()), Ok(None));
        std::fs::write(
            cfg.path().join("config.json"),
            r#"{"auths":{},"currentContext":"colima"}"#,
        )
        .unwrap();
        assert_eq!(current_context(cfg.path()), Ok(Some("colima".into())));
        std::fs::write(cfg.path().join("config.json"), "{nope").unwrap();
        assert!(current_context(cfg.path()).is_err());
    }
}
