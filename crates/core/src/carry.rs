//! Files a preview's worktree needs that git does not give it: gitignored
//! files (a `.env`, local config) carried from the repo's main working
//! directory into the worktree.
//!
//! What is carried is named by `.worktreeinclude` (gitignore syntax, at the
//! repo root; a file is carried when a pattern selects it *and* git ignores
//! it) and by `branchyard.toml`'s `[files] copy` and `link` (root-relative
//! globs; every file they select must be ignored by git). [`plan`] reads the
//! patterns and checks every selected file before the worktree is touched;
//! [`apply`] then copies or links them and keeps a manifest of what it wrote,
//! so the next `up` refreshes a copy whose source changed and keeps one the
//! user changed in the worktree.
//!
//! The safety rule, for every repo: sources are files of the main working
//! directory only (a pattern can only select what a walk of that directory
//! finds, `.git` and nested repositories excluded; for untrusted repos a
//! symlink there must resolve inside it); targets are written only inside
//! the worktree, never through a symlink or over a file the branch tracks;
//! `link` makes copies in untrusted repos, since a link would let the
//! preview's containers write the user's own file.

mod hint;
mod manifest;
mod pattern;
mod select;
mod write;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compose::ComposeError;
use crate::error::Code;
use crate::git::GitError;

pub use hint::{check_bind_sources, explain_missing};
pub use manifest::Manifest;
pub use select::{plan, Plan};
pub use write::{apply, before_checkout, Report};

/// The pattern file's name, at the repo root (the convention Claude Code,
/// Codex and git-worktreeinclude share).
pub const WORKTREEINCLUDE: &str = ".worktreeinclude";

/// Where the user reads about all this.
pub const GUIDE: &str = "docs/guide/worktrees.md";

/// How a file is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CarryMode {
    /// A copy, refreshed on `up` while the worktree's copy is unchanged.
    Copy,
    /// A symlink to the main working directory's file.
    Link,
}

/// One carried file, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedFile {
    /// Path relative to the worktree (and to the main working directory).
    pub path: String,
    /// Copy or link.
    pub mode: CarryMode,
    /// The pattern that selected it (`.worktreeinclude line 2: .env`).
    pub origin: String,
    /// The worktree's copy was changed after Branchyard wrote it, so it is
    /// kept as it is and no longer refreshed.
    pub kept: bool,
}

/// What [`plan`] needs.
#[derive(Debug, Clone)]
pub struct Input {
    /// The repository as registered (its working directory is the source).
    pub repo: PathBuf,
    /// The commit the worktree is (or will be) at.
    pub sha: String,
    /// Whether the repo is trusted (links, and symlinks leaving the main working directory).
    pub trusted: bool,
    /// The manifest of what was carried before.
    pub manifest: PathBuf,
}

/// Why files could not be carried; each names the file, the pattern and the fix.
#[derive(Debug, thiserror::Error)]
pub enum CarryError {
    /// A pattern that can never be right.
    #[error("{file}: {key}: {pattern:?} {problem} (see {GUIDE})")]
    Pattern {
        /// The pattern file.
        file: String,
        /// `line 3`, or `[files] copy`.
        key: String,
        /// The pattern as written.
        pattern: String,
        /// What is wrong and what to write instead.
        problem: String,
    },
    /// A selected file is tracked by the branch: its own content wins.
    #[error("{file}: {key}: {pattern:?} selects {path}, which the branch tracks; Branchyard never overwrites a tracked file: exclude it (add `!/{path}` after that line) or remove it from the branch (see {GUIDE})")]
    Tracked {
        /// The pattern file.
        file: String,
        /// Where in it.
        key: String,
        /// The pattern.
        pattern: String,
        /// The tracked path.
        path: String,
    },
    /// A `[files]` entry selects a file git does not ignore.
    #[error("{file}: {key}: {pattern:?} selects {path}, which git does not ignore in {main}: [files] carries only ignored files (a tracked file comes from the branch itself); add `/{path}` to .gitignore if it must never be committed, or narrow the entry (see {GUIDE})")]
    NotIgnored {
        /// branchyard.toml.
        file: String,
        /// `[files] copy` or `[files] link`.
        key: String,
        /// The entry.
        pattern: String,
        /// The file.
        path: String,
        /// The main working directory.
        main: String,
    },
    /// A source or target would leave its directory.
    #[error("{file}: {key}: {pattern:?} selects {path}, but {problem}; Branchyard reads only the repo's main working directory and writes only inside the worktree (see {GUIDE})")]
    Outside {
        /// The pattern file.
        file: String,
        /// Where in it.
        key: String,
        /// The pattern.
        pattern: String,
        /// The file.
        path: String,
        /// Where it leads.
        problem: String,
    },
    /// More than a preview should copy.
    #[error("{what}: the patterns select more than Branchyard copies into a worktree (at most {limit}); narrow them, or use `[files] link` for a big directory in a trusted repo (see {GUIDE})")]
    TooMuch {
        /// `12000 files` or `900 MB`.
        what: String,
        /// The limit.
        limit: String,
    },
    /// branchyard.toml on the branch is malformed.
    #[error(transparent)]
    Config(Box<ComposeError>),
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// File system failure.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl CarryError {
    /// The stable code: [`Code::Unsafe`] for an escape, [`Code::Config`] for bad patterns.
    pub fn code(&self) -> Code {
        match self {
            CarryError::Outside { .. } => Code::Unsafe,
            CarryError::Config(e) => e.code(),
            CarryError::Git(e) => e.code(),
            CarryError::Io { .. } => Code::Internal,
            _ => Code::Config,
        }
    }

    pub(crate) fn config(e: ComposeError) -> Self {
        CarryError::Config(Box::new(e))
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        CarryError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// What was carried into a preview's worktree, as its manifest records it
/// (empty when nothing was, or the manifest is unreadable).
pub fn carried(manifest: &Path) -> Vec<CarriedFile> {
    Manifest::read(manifest)
        .map(|m| m.files.iter().map(manifest::Entry::view).collect())
        .unwrap_or_default()
}

/// The worktree paths of carried files: not the user's work, so they never
/// make a worktree dirty.
pub fn carried_paths(manifest: &Path) -> Vec<String> {
    carried(manifest).into_iter().map(|f| f.path).collect()
}

/// Carried links: (path in the worktree, the main working directory's file
/// it points at), which a container that mounts the worktree needs at the
/// same path.
pub fn links(manifest: &Path) -> Vec<(PathBuf, PathBuf)> {
    Manifest::read(manifest)
        .map(|m| {
            m.files
                .iter()
                .filter(|f| f.mode == CarryMode::Link)
                .map(|f| (PathBuf::from(&f.path), f.source.clone()))
                .collect()
        })
        .unwrap_or_default()
}
