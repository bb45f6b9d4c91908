//! Where Branchyard keeps its state: `$BRANCHYARD_HOME`, or the platform data dir.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The root of Branchyard's on-disk state and the paths under it.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `$BRANCHYARD_HOME` when set, else `<platform data dir>/branchyard`.
    ///
    /// # Errors
    /// When neither is available or the directory cannot be created.
    pub fn from_env() -> Result<Self> {
        let root = match std::env::var_os("BRANCHYARD_HOME") {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => dirs::data_dir()
                .map(|d| d.join("branchyard"))
                .ok_or_else(|| {
                    Error::Invalid(
                        "no data directory on this platform: set BRANCHYARD_HOME".to_string(),
                    )
                })?,
        };
        Self::at(root)
    }

    /// A home rooted at `root`, created if missing.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn at(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| {
            Error::Invalid(format!(
                "cannot create Branchyard's home {}: {e}",
                root.display()
            ))
        })?;
        let root = root.canonicalize().unwrap_or(root);
        Ok(Home { root })
    }

    /// The home directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite database.
    pub fn db_path(&self) -> PathBuf {
        self.root.join("branchyard.db")
    }

    /// Root of all preview worktrees.
    pub fn worktrees_dir(&self) -> PathBuf {
        self.root.join("worktrees")
    }

    /// The worktree of one preview: `worktrees/<repo>/<branch-slug>`.
    pub fn worktree(&self, repo: &str, slug: &str) -> PathBuf {
        self.worktrees_dir().join(repo).join(slug)
    }

    /// Per-preview files the engine writes (inline secrets and configs).
    pub fn preview_state_dir(&self, preview: &str) -> PathBuf {
        self.root.join("state").join(preview)
    }

    /// The record of files carried into a preview's worktree ([`crate::carry`]).
    pub fn carried_manifest(&self, preview: &str) -> PathBuf {
        self.preview_state_dir(preview).join("carried.json")
    }

    /// Per-repo files the engine writes (the git config containers see).
    pub fn repo_state_dir(&self, repo: &str) -> PathBuf {
        self.root.join("repo-state").join(repo)
    }
}
