//! Git: branches, slugs and per-preview worktrees (git2).

use crate::error::Code;

/// Errors from git.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// Placeholder until the module lands.
    #[error("{0}")]
    Other(String),
}

impl GitError {
    /// The stable code for this error.
    pub fn code(&self) -> Code {
        Code::Git
    }
}
