//! `branchyard.toml`: its shape, read strictly so a typo is reported with the
//! file, the line and the key rather than silently ignored.

use std::path::Path;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::compose::ComposeError;

/// The file's name, at the worktree's root.
pub const FILE_NAME: &str = "branchyard.toml";

/// `branchyard.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewToml {
    /// Compose files in merge order, relative to the worktree.
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
    /// Gitignored files carried from the repo's main working directory.
    #[serde(default)]
    pub files: FilesToml,
}

/// `[files]`: root-relative globs of gitignored files to carry into the
/// preview's worktree (see [`crate::carry`]).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilesToml {
    /// Copied, and refreshed on `up` while the worktree's copy is unchanged.
    #[serde(default)]
    pub copy: Vec<String>,
    /// Symlinked to the main working directory's file (copied in untrusted repos).
    #[serde(default)]
    pub link: Vec<String>,
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
    /// How long `up` waits: `"120s"`, `"2m"`, or a number of seconds (default 120 s).
    pub timeout: Option<Timeout>,
}

/// `timeout = "90s"` or `timeout = 90`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Timeout {
    /// Whole seconds.
    Seconds(u64),
    /// A duration like `90s` or `1m30s`.
    Text(String),
}

/// A TOML error with its 1-based line and column.
fn syntax(file: &Path, e: &toml::de::Error, text: &str) -> ComposeError {
    let (line, column) = e
        .span()
        .map(|s| {
            let before = &text[..s.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            (line, column)
        })
        .unwrap_or((0, 0));
    ComposeError::Syntax {
        file: file.display().to_string(),
        line,
        column,
        message: e.message().to_string(),
    }
}

/// Reads `branchyard.toml` in `dir`, if there is one.
///
/// # Errors
/// [`ComposeError::Io`] when unreadable, [`ComposeError::Syntax`] (with the
/// key's name in the message) when malformed or holding an unknown key.
pub fn read(dir: &Path) -> Result<Option<PreviewToml>, ComposeError> {
    let path = dir.join(FILE_NAME);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| ComposeError::Io {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse(&path, &text).map(Some)
}

/// Parses `text`, naming `path` in errors.
///
/// # Errors
/// As [`read`].
pub fn parse(path: &Path, text: &str) -> Result<PreviewToml, ComposeError> {
    toml::from_str(text).map_err(|e| syntax(path, &e, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<PreviewToml, ComposeError> {
        parse(Path::new("/w/branchyard.toml"), text)
    }

    #[test]
    fn every_section_parses() {
        let t = p("compose = [\"compose.yaml\", \"compose.preview.yaml\"]\nprofiles = [\"web\"]\n\n[[route]]\nservice = \"web\"\nport = 8080\nsubdomain = \"\"\n\n[[route]]\nservice = \"api\"\nsubdomain = \"api\"\n\n[health]\npath = \"/healthz\"\ntimeout = \"120s\"\n\n[env]\nAPP_URL = \"{url}\"\n").unwrap();
        assert_eq!(
            t.compose,
            vec!["compose.yaml".to_string(), "compose.preview.yaml".into()]
        );
        assert_eq!(t.profiles, vec!["web".to_string()]);
        assert_eq!(
            t.routes[0],
            RouteToml {
                service: "web".into(),
                port: Some(8080),
                subdomain: String::new()
            }
        );
        assert_eq!(
            t.routes[1],
            RouteToml {
                service: "api".into(),
                port: None,
                subdomain: "api".into()
            }
        );
        assert_eq!(
            t.health,
            HealthToml {
                path: Some("/healthz".into()),
                timeout: Some(Timeout::Text("120s".into()))
            }
        );
        assert_eq!(t.env["APP_URL"], "{url}");
        assert_eq!(
            p("[health]\ntimeout = 90\n").unwrap().health.timeout,
            Some(Timeout::Seconds(90))
        );
        assert_eq!(p("").unwrap(), PreviewToml::default());
    }

    #[test]
    fn a_typo_is_reported_with_file_line_and_key() {
        let e = p("compose = []\n[helth]\npath = \"/\"\n").unwrap_err();
        let ComposeError::Syntax {
            file,
            line,
            message,
            ..
        } = &e
        else {
            panic!("{e}")
        };
        assert_eq!(file, "/w/branchyard.toml");
        assert_eq!(*line, 2);
        assert!(message.contains("helth"), "{message}");
        let e = p("[[route]]\nservice = \"web\"\nprot = 80\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("branchyard.toml: line 3") && e.contains("prot"),
            "{e}"
        );
        let e = p("[[route]]\nport = 80\n").unwrap_err().to_string();
        assert!(e.contains("service"), "a missing key is named: {e}");
        let e = p("[env]\nN = 1\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
