//! Everything that can be wrong with a compose project, each naming the file,
//! the service and the key, and saying what to do.

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
        /// The key.
        key: String,
        /// What to do instead.
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
        /// What is wrong.
        message: String,
    },
    /// `${VAR:?message}` with VAR unset.
    #[error("{file}: required variable {variable} is not set: {message}")]
    MissingVariable {
        /// The file.
        file: String,
        /// The variable.
        variable: String,
        /// The file's own message.
        message: String,
    },
    /// A setting refused for an untrusted repository.
    #[error("{file}: service {service:?}: {key}: {reason}. Refused because this repo is not trusted; if you trust this branch's code, run `branchyard repo trust <repo>`")]
    Unsafe {
        /// The file.
        file: String,
        /// The service.
        service: String,
        /// The key.
        key: String,
        /// What it would allow.
        reason: String,
    },
    /// Services depend on each other in a cycle.
    #[error("{file}: services depend on each other in a cycle: {cycle}")]
    Cycle {
        /// The file.
        file: String,
        /// `a -> b -> a`.
        cycle: String,
    },
    /// Nothing to run in the directory.
    #[error("nothing to run in {dir}: looked for {looked_for}; add a compose file, a Dockerfile with EXPOSE, or a branchyard.toml")]
    NothingToRun {
        /// The directory.
        dir: String,
        /// Every file name looked for.
        looked_for: String,
    },
}

impl ComposeError {
    /// The stable code for this error.
    pub fn code(&self) -> Code {
        match self {
            ComposeError::Unsafe { .. } => Code::Unsafe,
            _ => Code::Config,
        }
    }
}
