//! The engine's error type: one enum a client can act on, with a stable [`Code`].

use serde::Serialize;

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Codes the UI and CLI act on; nobody matches on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// Bad input from the user (names, paths, flags).
    Invalid,
    /// A repo, branch or preview that does not exist.
    NotFound,
    /// Something with that name exists already.
    Conflict,
    /// Another process is acting on the same preview.
    Busy,
    /// The compose project or branchyard.toml is wrong.
    Config,
    /// A setting refused for an untrusted repository.
    Unsafe,
    /// Docker is unreachable or refused.
    Docker,
    /// A build failed.
    Build,
    /// A service failed to start or become healthy.
    Start,
    /// Git failed.
    Git,
    /// The gateway failed.
    Gateway,
    /// The state store failed.
    Store,
    /// Uncommitted work would be lost.
    Dirty,
    /// Anything else.
    Internal,
}

/// Every failure the engine reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// Missing repo, branch or preview.
    #[error("{0}")]
    NotFound(String),
    /// Already exists.
    #[error("{0}")]
    Conflict(String),
    /// Another process holds the preview.
    #[error("{0}")]
    Busy(String),
    /// Compose or branchyard.toml problem.
    #[error(transparent)]
    Compose(#[from] crate::compose::ComposeError),
    /// Docker problem.
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
    /// The Docker engine cannot be chosen or reached (boxed: its variants carry
    /// the endpoint, who chose it and the fix, and would make every `Result` large).
    #[error(transparent)]
    Endpoint(Box<crate::docker::endpoint::EndpointError>),
    /// Files carried into a worktree.
    #[error(transparent)]
    Carry(Box<crate::carry::CarryError>),
    /// Git problem.
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    /// Gateway problem.
    #[error(transparent)]
    Gateway(#[from] crate::gateway::GatewayError),
    /// Store problem.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Local CA problem.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A service failed to start or become healthy; `logs` holds its last lines.
    #[error("{message}")]
    Start {
        /// What failed.
        message: String,
        /// Last log lines of the failing services.
        logs: String,
    },
    /// Uncommitted work would be lost.
    #[error("{0}")]
    Dirty(String),
    /// Anything else, with context.
    #[error("{0}")]
    Internal(String),
}

impl From<crate::docker::endpoint::EndpointError> for Error {
    fn from(e: crate::docker::endpoint::EndpointError) -> Self {
        Error::Endpoint(Box::new(e))
    }
}

impl From<crate::carry::CarryError> for Error {
    fn from(e: crate::carry::CarryError) -> Self {
        match e {
            // A malformed branchyard.toml is the same error wherever it is read.
            crate::carry::CarryError::Config(c) => Error::Compose(*c),
            other => Error::Carry(Box::new(other)),
        }
    }
}

impl Error {
    /// The stable code for this error.
    pub fn code(&self) -> Code {
        match self {
            Error::Invalid(_) => Code::Invalid,
            Error::NotFound(_) => Code::NotFound,
            Error::Conflict(_) => Code::Conflict,
            Error::Busy(_) => Code::Busy,
            Error::Compose(e) => e.code(),
            Error::Docker(e) => e.code(),
            Error::Endpoint(e) => e.code(),
            Error::Carry(e) => e.code(),
            Error::Git(e) => e.code(),
            Error::Gateway(_) => Code::Gateway,
            Error::Store(_) => Code::Store,
            Error::Tls(e) => e.code(),
            Error::Start { .. } => Code::Start,
            Error::Dirty(_) => Code::Dirty,
            Error::Internal(_) => Code::Internal,
        }
    }
}

/// The serialized form a UI shows: `{code, message, detail}`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorDto {
    /// Stable code.
    pub code: Code,
    /// One sentence a person can act on.
    pub message: String,
    /// Extra detail (logs, the chain of causes), may be empty.
    pub detail: String,
}

impl From<&Error> for ErrorDto {
    fn from(e: &Error) -> Self {
        let detail = match e {
            Error::Start { logs, .. } => logs.clone(),
            _ => String::new(),
        };
        ErrorDto {
            code: e.code(),
            message: e.to_string(),
            detail,
        }
    }
}
