//! Everything that can be wrong with a compose project or `branchyard.toml`,
//! each naming the file, the service (or top level) and the key, and saying
//! what to do about it.

use crate::error::Code;

/// Errors loading or checking a compose project or branchyard.toml.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A file could not be read.
    #[error("{file}: cannot read it: {message}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
    /// YAML or TOML syntax.
    #[error("{file}: line {line}, column {column}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A key Branchyard does not support.
    #[error("{file}: {where_}: key {key:?} is not supported by Branchyard{hint}")]
    UnsupportedKey {
        /// The file.
        file: String,
        /// `service "web"` or `top level`.
        where_: String,
        /// The key, dotted when nested (`deploy.replicas`).
        key: String,
        /// What is supported instead, as ` (supported: …)`.
        hint: String,
    },
    /// A value of the wrong shape.
    #[error("{file}: {where_}: {key}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// `service "web"` or `top level`.
        where_: String,
        /// The key.
        key: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// `${VAR:?message}` with VAR unset.
    #[error("{file}: {path}: required variable {variable} is not set: {message}. Set it in the project's .env file (a trusted repo also reads your environment; an untrusted one never does); a gitignored .env is carried into previews by naming it in .worktreeinclude (see docs/guide/worktrees.md)")]
    MissingVariable {
        /// The file.
        file: String,
        /// Where in the file, e.g. `services.web.image`.
        path: String,
        /// The variable.
        variable: String,
        /// The file's own message.
        message: String,
    },
    /// A service depends on one that is disabled by profiles.
    #[error("{file}: service {service:?}: depends_on: service {dependency:?} is only enabled by the profile(s) {profiles}; activate one (`--profile`, or `profiles` in branchyard.toml) or mark the dependency `required: false`")]
    DisabledDependency {
        /// The file.
        file: String,
        /// The depending service.
        service: String,
        /// The disabled service.
        dependency: String,
        /// Its profiles, comma-separated.
        profiles: String,
    },
    /// A setting refused for an untrusted repository.
    #[error("{file}: {}: {key}: {reason}. Refused because this repo is not trusted; if you trust this branch's code, run `branchyard repo trust <repo>` (see {SAFETY_GUIDE})", scope(.service))]
    Unsafe {
        /// The file.
        file: String,
        /// The service; empty for project-wide settings (e.g. the `.env` file).
        service: String,
        /// The key.
        key: String,
        /// What it would allow.
        reason: String,
    },
    /// [`ComposeError::Unsafe`] for a registered repo, named in the fix.
    #[error("{0}")]
    UnsafeIn(Box<Refusal>),
    /// Services depend on (or extend) each other in a cycle.
    #[error(
        "{file}: services depend on each other in a cycle: {cycle}; remove one of these links"
    )]
    Cycle {
        /// The file.
        file: String,
        /// `a -> b -> a`.
        cycle: String,
    },
    /// A file the compose file names is not in the preview's worktree.
    #[error("{0}")]
    MissingFile(Box<MissingFile>),
    /// Nothing to run in the directory.
    #[error("nothing to run in {dir}: looked for {looked_for}; add a compose file, a Dockerfile with EXPOSE, or a branchyard.toml")]
    NothingToRun {
        /// The directory.
        dir: String,
        /// Every file name looked for.
        looked_for: String,
    },
}

/// A file the compose file names that is not in the preview's worktree.
#[derive(Debug, thiserror::Error)]
#[error(
    "{file}: service {service:?}: {key}: {path} does not exist in the preview's worktree{hint}"
)]
pub struct MissingFile {
    /// The compose file.
    pub file: String,
    /// The service.
    pub service: String,
    /// The key (`env_file`, `volumes`).
    pub key: String,
    /// The missing path.
    pub path: String,
    /// What to do, starting with `; ` (empty when unknown).
    pub hint: String,
}

/// A refusal for an untrusted repo, naming the repo in its fix.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {}: {key}: {reason}. Refused because the repo {repo:?} is not trusted; if you trust this branch's code, run `branchyard repo trust {repo}` (see {SAFETY_GUIDE})", scope(.service))]
pub struct Refusal {
    /// The repo's name.
    pub repo: String,
    /// The file.
    pub file: String,
    /// The service; empty for project-wide settings.
    pub service: String,
    /// The key.
    pub key: String,
    /// What it would allow.
    pub reason: String,
}

/// Where refusals for untrusted repos, and how to lift them, are explained.
pub const SAFETY_GUIDE: &str = "docs/guide/untrusted-repos.md";

/// `service "web"`, or `project` for settings outside any service.
fn scope(service: &str) -> String {
    if service.is_empty() {
        "project".to_string()
    } else {
        format!("service {service:?}")
    }
}

impl ComposeError {
    /// The stable code for this error: [`Code::Unsafe`] for refusals, [`Code::Config`] otherwise.
    pub fn code(&self) -> Code {
        match self {
            ComposeError::Unsafe { .. } | ComposeError::UnsafeIn { .. } => Code::Unsafe,
            _ => Code::Config,
        }
    }

    /// The error with a refusal naming `repo` in its fix (`branchyard repo trust <repo>`).
    pub fn in_repo(self, repo: &str) -> Self {
        match self {
            ComposeError::Unsafe {
                file,
                service,
                key,
                reason,
            } => ComposeError::UnsafeIn(Box::new(Refusal {
                repo: repo.to_string(),
                file,
                service,
                key,
                reason,
            })),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_have_the_unsafe_code_and_everything_else_is_config() {
        let unsafe_ = ComposeError::Unsafe {
            file: "f".into(),
            service: "web".into(),
            key: "privileged".into(),
            reason: "r".into(),
        };
        assert_eq!(unsafe_.code(), Code::Unsafe);
        assert!(
            unsafe_
                .to_string()
                .starts_with("f: service \"web\": privileged: r."),
            "{unsafe_}"
        );
        assert!(
            unsafe_.to_string().contains("branchyard repo trust"),
            "the message says how to lift it"
        );
        let project = ComposeError::Unsafe {
            file: "f".into(),
            service: String::new(),
            key: ".env".into(),
            reason: "r".into(),
        };
        assert!(
            project.to_string().starts_with("f: project: .env"),
            "{project}"
        );
        let named = ComposeError::Unsafe {
            file: "f".into(),
            service: "web".into(),
            key: "privileged".into(),
            reason: "r".into(),
        }
        .in_repo("shop");
        assert_eq!(named.code(), Code::Unsafe);
        assert!(
            named.to_string().contains("`branchyard repo trust shop`")
                && named.to_string().contains(SAFETY_GUIDE),
            "the fix names the repo and the guide: {named}"
        );
        let cycle = ComposeError::Cycle {
            file: "f".into(),
            cycle: "a -> b -> a".into(),
        };
        assert_eq!(cycle.code(), Code::Config);
    }
}
