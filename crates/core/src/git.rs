//! Git: branches, slugs and per-preview worktrees (git2). Functions here are
//! blocking (libgit2's `Repository` is not `Sync`): the engine calls them in
//! `spawn_blocking`.

mod branches;
#[cfg(test)]
pub(crate) mod fixture;
mod populate;
mod slug;
mod worktree;

use std::path::{Path, PathBuf};

use crate::error::Code;

pub use branches::{list_branches, resolve_branch, BranchInfo, BranchKind};
pub use slug::{repo_slug, slugify, unique_slug};
pub use worktree::{
    checkout, is_dirty, list_worktrees, remove_worktree, uses_lfs, CheckoutOutcome,
};

/// Errors from git.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The path is not inside a git repository.
    #[error("{path} is not a git repository: run `git init` there or pick its root")]
    NotARepo {
        /// The path given.
        path: String,
    },
    /// No such branch, local or remote-tracking.
    #[error("branch {branch:?} does not exist in {repo}: see `branchyard branches <repo>` for the branches there")]
    BranchNotFound {
        /// Repository path.
        repo: String,
        /// Branch asked for.
        branch: String,
    },
    /// The worktree holds uncommitted changes that the operation would lose.
    #[error("the worktree {path} has uncommitted changes{}: commit or stash them (or copy them out) first, or pass --force to discard them", file_list(.files))]
    Dirty {
        /// Worktree path.
        path: String,
        /// Some of the files concerned (may be empty).
        files: Vec<String>,
    },
    /// libgit2 failed.
    #[error("git failed on {path}: {message}")]
    Git {
        /// What it was working on.
        path: String,
        /// libgit2's message.
        message: String,
    },
    /// File system failure around a worktree.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// ` (a.txt, b.txt, …)` for an error message; empty when there are none.
fn file_list(files: &[String]) -> String {
    const SHOWN: usize = 5;
    if files.is_empty() {
        return String::new();
    }
    let mut s = files
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if files.len() > SHOWN {
        s.push_str(", …");
    }
    format!(" ({s})")
}

impl GitError {
    /// The stable code for this error.
    pub fn code(&self) -> Code {
        match self {
            GitError::NotARepo { .. } | GitError::BranchNotFound { .. } => Code::NotFound,
            GitError::Dirty { .. } => Code::Dirty,
            GitError::Git { .. } | GitError::Io { .. } => Code::Git,
        }
    }

    pub(crate) fn git(path: &Path, e: git2::Error) -> Self {
        GitError::Git {
            path: path.display().to_string(),
            message: e.message().to_string(),
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        GitError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Opens the repository containing `path`.
///
/// # Errors
/// [`GitError::NotARepo`] when there is none; [`GitError::Git`] when it
/// cannot be read.
pub fn open_repo(path: &Path) -> Result<git2::Repository, GitError> {
    git2::Repository::open(path).map_err(|e| match e.code() {
        git2::ErrorCode::NotFound => GitError::NotARepo {
            path: path.display().to_string(),
        },
        // A repository that is there but unreadable: say why.
        _ => GitError::git(path, e),
    })
}

/// The top of the working tree of the repository containing `path`.
///
/// # Errors
/// [`GitError::NotARepo`] when `path` is not in a repository, or it is bare.
pub fn repo_root(path: &Path) -> Result<PathBuf, GitError> {
    let repo = git2::Repository::discover(path).map_err(|_| GitError::NotARepo {
        path: path.display().to_string(),
    })?;
    let root = repo.workdir().ok_or_else(|| GitError::NotARepo {
        path: format!("{} (a bare repository)", path.display()),
    })?;
    Ok(root.canonicalize().unwrap_or_else(|_| root.to_path_buf()))
}
