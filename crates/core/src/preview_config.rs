//! What a preview runs and where it answers: `branchyard.toml` when the repo
//! has one ([`file`]), else the compose files found by compose's own names,
//! else a lone `Dockerfile` ([`discover`]); which services the gateway routes
//! under which host names, and the extra environment naming them ([`routes`]).

mod discover;
mod file;
mod routes;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;

use crate::compose::model::Project;
use crate::compose::{load, ComposeError, LoadOptions};

pub use discover::{discover, COMPOSE_FILES};
pub use file::{
    parse as parse_toml, read as read_toml, FilesToml, HealthToml, PreviewToml, RouteToml, Timeout,
    FILE_NAME as TOML_FILE,
};

/// Seconds `up` waits for health when `[health] timeout` is not given.
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;

/// How URLs are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UrlBase {
    /// `http` (or `https`).
    pub scheme: String,
    /// The gateway's port when not the scheme's default.
    pub port: Option<u16>,
}

impl UrlBase {
    /// The URL of `host`.
    pub fn url(&self, host: &str) -> String {
        match self.port {
            Some(p) => format!("{}://{host}:{p}", self.scheme),
            None => format!("{}://{host}", self.scheme),
        }
    }
}

/// What [`resolve`] needs.
#[derive(Debug, Clone)]
pub struct ResolveInput {
    /// The checked-out branch (worktree).
    pub dir: PathBuf,
    /// Compose project name.
    pub project_name: String,
    /// Repo name (DNS-safe).
    pub repo_slug: String,
    /// Branch name.
    pub branch: String,
    /// Branch slug (DNS-safe).
    pub branch_slug: String,
    /// Commit.
    pub sha: String,
    /// Lift safety refusals.
    pub trusted: bool,
    /// Process environment.
    pub env: IndexMap<String, String>,
    /// URL shape.
    pub base: UrlBase,
    /// Profiles asked for on the command line (added to branchyard.toml's).
    pub profiles: Vec<String>,
}

/// One routed service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteTarget {
    /// Compose service.
    pub service: String,
    /// Container port.
    pub port: u16,
    /// Host name.
    pub host: String,
    /// URL.
    pub url: String,
}

/// The readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthSpec {
    /// HTTP path checked through the gateway, if any.
    pub path: Option<String>,
    /// Seconds `up` waits for health.
    pub timeout_secs: u64,
}

/// The preview as it would run.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    /// The compose project.
    pub project: Project,
    /// Routed services; the first is the preview's main URL (`{url}`).
    pub routes: Vec<RouteTarget>,
    /// Readiness.
    pub health: HealthSpec,
    /// Things the user should know about routing (the project has its own `warnings`).
    pub warnings: Vec<String>,
}

/// `[health]` as a [`HealthSpec`].
fn health(h: &HealthToml, toml_file: &str) -> Result<HealthSpec, ComposeError> {
    let invalid = |key: &str, message: String| ComposeError::Invalid {
        file: toml_file.to_string(),
        where_: "[health]".into(),
        key: key.into(),
        message,
    };
    if let Some(p) = &h.path {
        if !p.starts_with('/') {
            return Err(invalid(
                "path",
                format!("{p:?} must start with /, e.g. \"/healthz\""),
            ));
        }
    }
    let timeout_secs = match &h.timeout {
        None => DEFAULT_TIMEOUT_SECS,
        Some(Timeout::Seconds(s)) => *s,
        Some(Timeout::Text(t)) => {
            let ns = crate::compose::load::duration_ns(t).ok_or_else(|| {
                invalid(
                    "timeout",
                    format!("{t:?} is not a duration like \"120s\" or \"2m\""),
                )
            })?;
            (ns as u64).div_ceil(1_000_000_000)
        }
    };
    if timeout_secs == 0 {
        return Err(invalid("timeout", "must be at least one second".into()));
    }
    Ok(HealthSpec {
        path: h.path.clone(),
        timeout_secs,
    })
}

/// The compose files `toml` lists (each must exist), else the discovered ones.
fn compose_files(
    dir: &Path,
    toml: &PreviewToml,
    toml_file: &str,
) -> Result<Vec<PathBuf>, ComposeError> {
    if toml.compose.is_empty() {
        return Ok(discover(dir));
    }
    toml.compose
        .iter()
        .map(|f| {
            let path = dir.join(f);
            if path.is_file() {
                Ok(path)
            } else {
                Err(ComposeError::Invalid {
                    file: toml_file.to_string(),
                    where_: "top level".into(),
                    key: "compose".into(),
                    message: format!("{f:?} does not exist in {}", dir.display()),
                })
            }
        })
        .collect()
}

/// Loads what a preview of `input.dir` runs, its routes and its readiness check.
///
/// # Errors
/// Nothing to run (naming every file looked for), a bad branchyard.toml
/// (naming the file and key), or any compose error, including safety
/// refusals for untrusted repos.
pub fn resolve(input: &ResolveInput) -> Result<Resolved, ComposeError> {
    let _span = tracing::info_span!("preview_config", dir = %input.dir.display()).entered();
    let dir = &input.dir;
    let toml = read_toml(dir)?.unwrap_or_default();
    let toml_file = dir.join(file::FILE_NAME).display().to_string();
    let health = health(&toml.health, &toml_file)?;
    let files = compose_files(dir, &toml, &toml_file)?;
    let mut project = match files.first() {
        None => discover::dockerfile_project(dir, &input.project_name)?,
        Some(first) => {
            let mut profiles = toml.profiles.clone();
            profiles.extend(
                input
                    .profiles
                    .iter()
                    .filter(|p| !toml.profiles.contains(p))
                    .cloned(),
            );
            load(&LoadOptions {
                project_name: input.project_name.clone(),
                // Compose's project directory: the first file's folder.
                working_dir: first.parent().unwrap_or(dir).to_path_buf(),
                files: files.clone(),
                env: input.env.clone(),
                env_file: None,
                profiles,
                trusted: input.trusted,
                confine_to: dir.clone(),
            })?
        }
    };
    let mut warnings = Vec::new();
    let routes = routes::routes(&project, &toml.routes, input, &toml_file, &mut warnings)?;
    let url = routes.first().map(|r| r.url.clone()).unwrap_or_default();
    routes::inject_env(&mut project, &toml.env, input, &url);
    tracing::debug!(
        services = project.services.len(),
        routes = routes.len(),
        "preview resolved"
    );
    Ok(Resolved {
        project,
        routes,
        health,
        warnings,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn input(dir: &Path) -> ResolveInput {
        ResolveInput {
            dir: dir.to_path_buf(),
            project_name: "shop--feature-x".into(),
            repo_slug: "shop".into(),
            branch: "feature/x".into(),
            branch_slug: "feature-x".into(),
            sha: "abc".into(),
            trusted: false,
            env: IndexMap::new(),
            base: UrlBase {
                scheme: "http".into(),
                port: Some(8080),
            },
            profiles: Vec::new(),
        }
    }

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (p, c) in files {
            let path = dir.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, c).unwrap();
        }
    }

    #[test]
    fn without_branchyard_toml_routable_services_get_hosts_in_file_order() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), &[("compose.yaml", "services:\n  web:\n    image: x\n    expose: [8080]\n  worker:\n    image: x\n  api:\n    image: x\n    ports: ['3000']\n")]);
        let r = resolve(&input(d.path())).unwrap();
        let hosts: Vec<_> = r
            .routes
            .iter()
            .map(|r| (r.service.as_str(), r.host.as_str(), r.port))
            .collect();
        assert_eq!(
            hosts,
            vec![
                ("web", "feature-x.shop.localhost", 8080),
                ("api", "api.feature-x.shop.localhost", 3000)
            ]
        );
        assert_eq!(r.routes[0].url, "http://feature-x.shop.localhost:8080");
        assert_eq!(
            r.health,
            HealthSpec {
                path: None,
                timeout_secs: 120
            }
        );
    }

    #[test]
    fn the_override_is_merged_when_discovered() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &[
                ("compose.yaml", "services:\n  web:\n    image: x\n"),
                (
                    "compose.override.yaml",
                    "services:\n  web:\n    expose: [81]\n",
                ),
            ],
        );
        let r = resolve(&input(d.path())).unwrap();
        assert_eq!(r.routes[0].port, 81);
        assert_eq!(r.project.config_files.len(), 2);
    }

    #[test]
    fn branchyard_toml_picks_files_profiles_routes_health_and_env() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &[
                ("compose.yaml", "services:\n  ignored:\n    image: z\n"),
                ("base.yaml", "services:\n  web:\n    image: x\n    expose: [80]\n  api:\n    image: y\n  tools:\n    image: t\n    profiles: [tools]\n"),
                ("preview.yaml", "services:\n  web:\n    environment: {APP_URL: overwritten}\n"),
                (
                    "branchyard.toml",
                    "compose = [\"base.yaml\", \"preview.yaml\"]\nprofiles = [\"tools\"]\n[[route]]\nservice = \"api\"\nport = 9000\nsubdomain = \"api\"\n[health]\npath = \"/healthz\"\ntimeout = \"30s\"\n[env]\nAPP_URL = \"{url}\"\nBRANCH = \"{branch}@{sha}\"\n",
                ),
            ],
        );
        let r = resolve(&input(d.path())).unwrap();
        assert!(
            !r.project.services.contains_key("ignored"),
            "the listed files replace discovery"
        );
        assert!(
            r.project.services.contains_key("tools"),
            "profiles from the file are active"
        );
        assert_eq!(r.routes.len(), 1);
        assert_eq!(r.routes[0].host, "api.feature-x.shop.localhost");
        assert_eq!(
            r.health,
            HealthSpec {
                path: Some("/healthz".into()),
                timeout_secs: 30
            }
        );
        for svc in ["web", "api", "tools"] {
            let env = &r.project.services[svc].environment;
            assert_eq!(
                env["APP_URL"].as_deref(),
                Some("http://api.feature-x.shop.localhost:8080"),
                "{svc}"
            );
            assert_eq!(env["BRANCH"].as_deref(), Some("feature/x@abc"));
        }
    }

    #[test]
    fn a_typo_in_branchyard_toml_is_reported_with_file_and_key() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &[
                ("compose.yaml", "services: {}\n"),
                ("branchyard.toml", "compose = []\n[helth]\npath = \"/\"\n"),
            ],
        );
        let e = resolve(&input(d.path())).unwrap_err().to_string();
        assert!(e.contains("branchyard.toml") && e.contains("helth"), "{e}");
    }

    #[test]
    fn bad_values_in_branchyard_toml_are_named() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &[("compose.yaml", "services:\n  web:\n    image: x\n")],
        );
        for (toml, needle) in [
            ("compose = [\"missing.yaml\"]\n", "missing.yaml"),
            ("[health]\npath = \"healthz\"\n", "must start with /"),
            ("[health]\ntimeout = \"soon\"\n", "timeout"),
            ("[health]\ntimeout = 0\n", "timeout"),
        ] {
            write(d.path(), &[("branchyard.toml", toml)]);
            let e = resolve(&input(d.path())).unwrap_err().to_string();
            assert!(
                e.contains("branchyard.toml") && e.contains(needle),
                "{toml}: {e}"
            );
        }
        write(d.path(), &[("branchyard.toml", "[health]\ntimeout = 45\n")]);
        assert_eq!(resolve(&input(d.path())).unwrap().health.timeout_secs, 45);
    }

    #[test]
    fn a_lone_dockerfile_runs_on_its_exposed_port() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &[("Dockerfile", "FROM scratch\nEXPOSE 3000/tcp\n")],
        );
        let r = resolve(&input(d.path())).unwrap();
        assert_eq!(
            (r.routes[0].service.as_str(), r.routes[0].port),
            ("app", 3000)
        );
        assert_eq!(r.routes[0].host, "feature-x.shop.localhost");
    }

    #[test]
    fn nothing_usable_says_what_was_looked_for_where() {
        let d = tempfile::tempdir().unwrap();
        let e = resolve(&input(d.path())).unwrap_err().to_string();
        for name in [
            "compose.yaml",
            "compose.yml",
            "docker-compose.yaml",
            "docker-compose.yml",
            "Dockerfile",
            "branchyard.toml",
        ] {
            assert!(e.contains(name), "{name}: {e}");
        }
        assert!(e.contains(&d.path().display().to_string()), "{e}");
    }

    #[test]
    fn safety_refusals_come_through_unless_the_repo_is_trusted() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &[(
                "compose.yaml",
                "services:\n  web:\n    image: x\n    privileged: true\n",
            )],
        );
        let e = resolve(&input(d.path())).unwrap_err();
        assert_eq!(e.code(), crate::error::Code::Unsafe);
        let mut trusted = input(d.path());
        trusted.trusted = true;
        assert!(resolve(&trusted).is_ok());
    }
}
