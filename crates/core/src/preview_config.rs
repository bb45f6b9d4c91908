//! What a preview runs: `branchyard.toml` when the repo has one, else the
//! compose files found by compose's own names, else a lone `Dockerfile`; and
//! which services are routed under which host names.
//!
//! Routing without `branchyard.toml`: services declaring `ports` or `expose`
//! are routed in file order; the first gets `<branch>.<repo>.localhost`, the
//! others `<service>.<branch>.<repo>.localhost`.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::compose::model::{Build, Project, Service};
use crate::compose::{load, ComposeError, LoadOptions};

/// Compose file names, in compose's order of preference.
const COMPOSE_FILES: [&str; 4] = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];

/// `branchyard.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewToml {
    /// Compose files in merge order.
    #[serde(default)]
    pub compose: Vec<String>,
    /// Active compose profiles.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Routed services (default: automatic).
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteToml>,
    /// Readiness check through the gateway.
    #[serde(default)]
    pub health: HealthToml,
    /// Extra environment for every service; `{branch}`, `{branch_slug}`, `{url}`, `{sha}`, `{repo}` are replaced.
    #[serde(default)]
    pub env: IndexMap<String, String>,
}

/// One `[[route]]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteToml {
    /// Compose service.
    pub service: String,
    /// Container port (default: its first `ports`/`expose` entry).
    pub port: Option<u16>,
    /// `""` for `<branch>.<repo>.localhost`, `"api"` for `api.<branch>.<repo>.localhost`.
    #[serde(default)]
    pub subdomain: String,
}

/// `[health]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthToml {
    /// Path that must answer below 500 through the gateway.
    pub path: Option<String>,
    /// How long `up` waits, e.g. `"120s"` (default 120 s).
    pub timeout: Option<String>,
}

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
    /// Branch slug.
    pub branch_slug: String,
    /// Commit.
    pub sha: String,
    /// Lift safety refusals.
    pub trusted: bool,
    /// Process environment.
    pub env: IndexMap<String, String>,
    /// URL shape.
    pub base: UrlBase,
    /// Profiles asked for on the command line.
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
    /// Routed services.
    pub routes: Vec<RouteTarget>,
    /// Readiness.
    pub health: HealthSpec,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

fn syntax(file: &Path, e: toml::de::Error, text: &str) -> ComposeError {
    let (line, column) = e
        .span()
        .map(|s| {
            let before = &text[..s.start.min(text.len())];
            (before.lines().count().max(1), before.rsplit('\n').next().map(|l| l.len() + 1).unwrap_or(1))
        })
        .unwrap_or((0, 0));
    ComposeError::Syntax { file: file.display().to_string(), line, column, message: e.message().to_string() }
}

/// Reads `branchyard.toml` in `dir`, if any.
///
/// # Errors
/// Unreadable, malformed, or with unknown keys.
pub fn read_toml(dir: &Path) -> Result<Option<PreviewToml>, ComposeError> {
    let path = dir.join("branchyard.toml");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| ComposeError::Io { file: path.display().to_string(), message: e.to_string() })?;
    toml::from_str(&text).map(Some).map_err(|e| syntax(&path, e, &text))
}

/// Loads what a preview of `input.dir` runs, and its routes.
///
/// # Errors
/// Nothing to run, bad branchyard.toml, or any compose error.
pub fn resolve(input: &ResolveInput) -> Result<Resolved, ComposeError> {
    let dir = &input.dir;
    let toml = read_toml(dir)?.unwrap_or_default();
    let toml_file = dir.join("branchyard.toml").display().to_string();
    let mut warnings = Vec::new();
    let files: Vec<PathBuf> = if !toml.compose.is_empty() {
        toml.compose.iter().map(|f| dir.join(f)).collect()
    } else {
        discover(dir)
    };
    let mut project = if files.is_empty() {
        dockerfile_project(input)?
    } else {
        for f in &files {
            if !f.is_file() {
                return Err(ComposeError::Io { file: f.display().to_string(), message: format!("listed in {toml_file} but missing") });
            }
        }
        let mut profiles = toml.profiles.clone();
        profiles.extend(input.profiles.iter().cloned());
        load(&LoadOptions {
            project_name: input.project_name.clone(),
            working_dir: files[0].parent().unwrap_or(dir).to_path_buf(),
            files,
            env: input.env.clone(),
            env_file: None,
            profiles,
            trusted: input.trusted,
            confine_to: dir.clone(),
        })?
    };

    let host = |sub: &str| {
        if sub.is_empty() {
            format!("{}.{}.localhost", input.branch_slug, input.repo_slug)
        } else {
            format!("{sub}.{}.{}.localhost", input.branch_slug, input.repo_slug)
        }
    };
    let mut routes = Vec::new();
    if toml.routes.is_empty() {
        for (name, svc) in &project.services {
            if let Some(port) = svc.routable_ports().first() {
                let sub = if routes.is_empty() { String::new() } else { crate::git::slugify(name) };
                let h = host(&sub);
                routes.push(RouteTarget { service: name.clone(), port: *port, url: input.base.url(&h), host: h });
            }
        }
    } else {
        for r in &toml.routes {
            let svc = project.services.get(&r.service).ok_or_else(|| ComposeError::Invalid {
                file: toml_file.clone(),
                where_: "[[route]]".into(),
                key: "service".into(),
                message: format!("there is no service {:?} in the compose project", r.service),
            })?;
            let port = r.port.or_else(|| svc.routable_ports().first().copied()).ok_or_else(|| ComposeError::Invalid {
                file: toml_file.clone(),
                where_: "[[route]]".into(),
                key: "port".into(),
                message: format!("service {:?} declares no ports or expose: give `port =`", r.service),
            })?;
            let h = host(&r.subdomain);
            routes.push(RouteTarget { service: r.service.clone(), port, url: input.base.url(&h), host: h });
        }
    }
    if routes.is_empty() {
        warnings.push("no service declares ports or expose: nothing is routed through the gateway".to_string());
    }

    // Extra environment with placeholders.
    let url = routes.first().map(|r| r.url.clone()).unwrap_or_default();
    for (k, v) in &toml.env {
        let value = v
            .replace("{branch_slug}", &input.branch_slug)
            .replace("{branch}", &input.branch)
            .replace("{url}", &url)
            .replace("{sha}", &input.sha)
            .replace("{repo}", &input.repo_slug);
        for svc in project.services.values_mut() {
            svc.environment.insert(k.clone(), Some(value.clone()));
        }
    }
    let timeout_secs = match &toml.health.timeout {
        Some(t) => (crate::compose::load::typed::duration_ns(t).ok_or_else(|| ComposeError::Invalid {
            file: toml_file.clone(),
            where_: "[health]".into(),
            key: "timeout".into(),
            message: format!("{t:?} is not a duration like 120s"),
        })? / 1_000_000_000) as u64,
        None => 120,
    };
    Ok(Resolved { project, routes, health: HealthSpec { path: toml.health.path.clone(), timeout_secs }, warnings })
}

/// The first compose file by compose's names, plus its override.
pub fn discover(dir: &Path) -> Vec<PathBuf> {
    let Some(main) = COMPOSE_FILES.iter().map(|f| dir.join(f)).find(|p| p.is_file()) else {
        return Vec::new();
    };
    let stem = if main.file_name().is_some_and(|n| n.to_string_lossy().starts_with("docker-")) { "docker-compose" } else { "compose" };
    let mut files = vec![main];
    if let Some(o) = ["yaml", "yml"].iter().map(|ext| dir.join(format!("{stem}.override.{ext}"))).find(|p| p.is_file()) {
        files.push(o);
    }
    files
}

/// No compose file: a lone Dockerfile becomes service `app` on its first EXPOSE.
fn dockerfile_project(input: &ResolveInput) -> Result<Project, ComposeError> {
    let dir = &input.dir;
    let df = dir.join("Dockerfile");
    if !df.is_file() {
        let mut looked: Vec<String> = COMPOSE_FILES.iter().map(|s| s.to_string()).collect();
        looked.push("Dockerfile".into());
        looked.push("branchyard.toml".into());
        return Err(ComposeError::NothingToRun { dir: dir.display().to_string(), looked_for: looked.join(", ") });
    }
    let text = std::fs::read_to_string(&df).map_err(|e| ComposeError::Io { file: df.display().to_string(), message: e.to_string() })?;
    let port = text
        .lines()
        .map(str::trim)
        .find_map(|l| {
            let rest = l.strip_prefix("EXPOSE ").or_else(|| l.strip_prefix("expose "))?;
            rest.split_whitespace().next()?.split('/').next()?.parse::<u16>().ok()
        })
        .ok_or_else(|| ComposeError::Invalid {
            file: df.display().to_string(),
            where_: "Dockerfile".into(),
            key: "EXPOSE".into(),
            message: "no EXPOSE line: add one (e.g. `EXPOSE 8080`) or a branchyard.toml with a [[route]]".into(),
        })?;
    let svc = Service {
        source_file: df.clone(),
        build: Some(Build { context: dir.clone(), dockerfile: "Dockerfile".into(), ..Build::default() }),
        expose: vec![port],
        init: Some(true),
        networks: [("default".to_string(), Default::default())].into_iter().collect(),
        ..Service::default()
    };
    Ok(Project {
        name: input.project_name.clone(),
        working_dir: dir.clone(),
        config_files: vec![df],
        services: [("app".to_string(), svc)].into_iter().collect(),
        networks: [("default".to_string(), Default::default())].into_iter().collect(),
        volumes: IndexMap::new(),
        secrets: IndexMap::new(),
        configs: IndexMap::new(),
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(dir: &Path) -> ResolveInput {
        ResolveInput {
            dir: dir.to_path_buf(),
            project_name: "shop--feature-x".into(),
            repo_slug: "shop".into(),
            branch: "feature/x".into(),
            branch_slug: "feature-x".into(),
            sha: "abc".into(),
            trusted: false,
            env: IndexMap::new(),
            base: UrlBase { scheme: "http".into(), port: Some(8080) },
            profiles: Vec::new(),
        }
    }

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (p, c) in files {
            std::fs::write(dir.join(p), c).unwrap();
        }
    }

    #[test]
    fn routable_services_get_hosts_in_file_order() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), &[("compose.yaml", "services:\n  web:\n    image: x\n    expose: [8080]\n  worker:\n    image: x\n  api:\n    image: x\n    ports: ['3000']\n")]);
        let r = resolve(&input(d.path())).unwrap();
        let hosts: Vec<_> = r.routes.iter().map(|r| (r.service.as_str(), r.host.as_str(), r.port)).collect();
        assert_eq!(hosts, vec![("web", "feature-x.shop.localhost", 8080), ("api", "api.feature-x.shop.localhost", 3000)]);
        assert_eq!(r.routes[0].url, "http://feature-x.shop.localhost:8080");
    }

    #[test]
    fn compose_files_are_found_by_compose_names_with_their_override() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), &[("docker-compose.yml", "services: {}\n"), ("docker-compose.override.yml", "services: {}\n"), ("compose.yml", "services: {}\n")]);
        let f: Vec<_> = discover(d.path()).iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
        assert_eq!(f, vec!["compose.yml"], "compose.yml comes before docker-compose.yml and has no override here");
    }

    #[test]
    fn branchyard_toml_picks_files_routes_health_and_env() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            &[
                ("base.yaml", "services:\n  web:\n    image: x\n    expose: [80]\n  api:\n    image: y\n"),
                ("branchyard.toml", "compose = [\"base.yaml\"]\n[[route]]\nservice = \"api\"\nport = 9000\nsubdomain = \"api\"\n[health]\npath = \"/healthz\"\ntimeout = \"30s\"\n[env]\nAPP_URL = \"{url}\"\nBRANCH = \"{branch}@{sha}\"\n"),
            ],
        );
        let r = resolve(&input(d.path())).unwrap();
        assert_eq!(r.routes.len(), 1);
        assert_eq!(r.routes[0].host, "api.feature-x.shop.localhost");
        assert_eq!(r.health, HealthSpec { path: Some("/healthz".into()), timeout_secs: 30 });
        let env = &r.project.services["web"].environment;
        assert_eq!(env["APP_URL"].as_deref(), Some("http://api.feature-x.shop.localhost:8080"));
        assert_eq!(env["BRANCH"].as_deref(), Some("feature/x@abc"));
    }

    #[test]
    fn a_typo_in_branchyard_toml_is_reported_with_file_and_key() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), &[("compose.yaml", "services: {}\n"), ("branchyard.toml", "compose = []\n[helth]\npath = \"/\"\n")]);
        let e = resolve(&input(d.path())).unwrap_err().to_string();
        assert!(e.contains("branchyard.toml") && e.contains("helth"), "{e}");
    }

    #[test]
    fn a_lone_dockerfile_runs_on_its_exposed_port() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), &[("Dockerfile", "FROM scratch\nEXPOSE 3000/tcp\n")]);
        let r = resolve(&input(d.path())).unwrap();
        assert_eq!(r.routes[0].service, "app");
        assert_eq!(r.routes[0].port, 3000);
    }

    #[test]
    fn nothing_usable_says_what_was_looked_for_where() {
        let d = tempfile::tempdir().unwrap();
        let e = resolve(&input(d.path())).unwrap_err().to_string();
        assert!(e.contains("compose.yaml") && e.contains("Dockerfile") && e.contains(&d.path().display().to_string()), "{e}");
    }
}
