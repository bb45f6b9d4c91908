//! Why an engine cannot be reached, each naming the endpoint, who chose it and
//! the fix. Every one stops before anything is created.

use std::path::PathBuf;

use crate::error::Code;

/// Failures choosing or reaching a Docker engine.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// An address the CLI would not accept either.
    #[error("{host:?} (from {from}) is not an engine address: {why}")]
    BadHost {
        /// The address as given.
        host: String,
        /// Who gave it.
        from: String,
        /// What is wrong with it.
        why: String,
    },
    /// A docker context that does not exist.
    #[error("docker context {name:?} (named by {from}) does not exist; contexts: {}. Create it with `docker context create {name} --docker host=...`, or choose one with `branchyard engine use NAME`", known.join(", "))]
    ContextNotFound {
        /// The name asked for.
        name: String,
        /// Who asked for it.
        from: String,
        /// The contexts that do exist (`default` first).
        known: Vec<String>,
    },
    /// A context whose files cannot be read.
    #[error("docker context {name:?} cannot be read ({}): {why}", path.display())]
    BadContext {
        /// Its name.
        name: String,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// TLS without verifying the engine's certificate.
    #[error("{asked_by} asks to reach {host} (from {from}) without verifying its certificate; Branchyard cannot skip verification (its Docker client has no such switch). Give it the engine's CA instead: DOCKER_TLS_VERIFY=1 with ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH, or a context made with `docker context create NAME --docker host={host},ca=...,cert=...,key=...`")]
    SkipVerifyUnsupported {
        /// The engine's address.
        host: String,
        /// Who chose it.
        from: String,
        /// What asked to skip verification.
        asked_by: String,
    },
    /// A TLS file that is missing, unreadable, expired or does not match.
    #[error("TLS for {host} (from {from}): {} {problem}: {fix}", file.display())]
    TlsFiles {
        /// The engine's address.
        host: String,
        /// Who chose it.
        from: String,
        /// The file at fault.
        file: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// What to do.
        fix: String,
    },
    /// The TLS handshake failed: the engine's certificate, or ours, was refused.
    #[error("TLS with {host} (from {from}) failed: {problem}: {fix}")]
    TlsRejected {
        /// The engine's address.
        host: String,
        /// Who chose it.
        from: String,
        /// What the handshake said, in the docker CLI's words where it has them.
        problem: String,
        /// What to do.
        fix: String,
    },
    /// A named engine that does not answer.
    #[error("no Docker engine answers at {host} (from {from}): {reason}. Branchyard does not fall back to another engine: {fix}")]
    Unreachable {
        /// The engine's address.
        host: String,
        /// Who chose it.
        from: String,
        /// What the connection said.
        reason: String,
        /// What to do.
        fix: String,
    },
    /// Nothing named an engine and no well-known socket answered.
    #[error("no Docker engine found: nothing names one (--context, DOCKER_HOST, DOCKER_CONTEXT, `docker context use`) and no well-known socket answers (tried {}). Start Docker (Docker Desktop, OrbStack, Colima, Rancher Desktop, `dockerd &` or `podman system service`), or point Branchyard at one with DOCKER_HOST or `branchyard engine use NAME`", tried.join("; "))]
    NoEngine {
        /// Each socket tried, with why it did not do.
        tried: Vec<String>,
    },
    /// An address this build cannot connect to.
    #[error("{host} (from {from}): {why}")]
    Unsupported {
        /// The engine's address.
        host: String,
        /// Who chose it.
        from: String,
        /// Why not, and what to use instead.
        why: String,
    },
    /// Previews live on another engine than the one this run reached.
    #[error("{} on another Docker engine ({was}) than the one reached now ({now}). Branchyard does not show or change another engine's state: go back to that engine ({back}), or move to this one with `branchyard engine use {use_name} --force` (their containers stay on the old engine; `branchyard up` makes them again here)", previews_phrase(previews))]
    OtherEngine {
        /// The previews' ids.
        previews: Vec<String>,
        /// The engine they live on, in words.
        was: String,
        /// The engine reached, in words.
        now: String,
        /// How to go back, in words.
        back: String,
        /// The context name `engine use` takes to move here.
        use_name: String,
    },
}

fn previews_phrase(previews: &[String]) -> String {
    match previews {
        [one] => format!("preview {one} lives"),
        many => format!("previews {} live", many.join(", ")),
    }
}

impl EndpointError {
    /// The stable code for this error.
    pub fn code(&self) -> Code {
        match self {
            EndpointError::ContextNotFound { .. } => Code::NotFound,
            EndpointError::OtherEngine { .. } => Code::Conflict,
            _ => Code::Docker,
        }
    }
}
