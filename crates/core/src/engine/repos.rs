//! Registering repositories and listing their branches.

use std::path::Path;

use serde::Serialize;

use super::Engine;
use crate::error::{Error, Result};
use crate::git::{self, BranchInfo};
use crate::lifecycle::State;
use crate::store::RepoRecord;

/// A branch with its preview, if it has one.
#[derive(Debug, Clone, Serialize)]
pub struct BranchView {
    /// What git says of the branch.
    #[serde(flatten)]
    pub branch: BranchInfo,
    /// The preview's id, if any.
    pub preview: Option<String>,
    /// The preview's state, if any.
    pub state: Option<State>,
}

impl Engine {
    /// Registers the git repository at `path` under `name` (default: its folder's name).
    ///
    /// # Errors
    /// Not a git repository, a bad name, or the name or path already registered.
    pub async fn add_repo(
        &self,
        path: &Path,
        name: Option<&str>,
        trusted: bool,
    ) -> Result<RepoRecord> {
        let path = path
            .canonicalize()
            .map_err(|e| Error::NotFound(format!("cannot open {}: {e}", path.display())))?;
        let p = path.clone();
        let root = tokio::task::spawn_blocking(move || git::repo_root(&p))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        let name = match name {
            Some(n) => {
                if git::repo_slug(n) != n {
                    return Err(Error::Invalid(format!(
                        "repo name {n:?} must be lowercase letters, digits and '-' (it becomes part of URLs); try {:?}",
                        git::repo_slug(n)
                    )));
                }
                n.to_string()
            }
            None => git::repo_slug(
                &root
                    .file_name()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_else(|| "repo".to_string()),
            ),
        };
        let root_s = root.to_string_lossy().to_string();
        if let Some(existing) = self.store().repo_by_path(&root_s)? {
            return Err(Error::Conflict(format!(
                "{} is already registered as {:?}",
                root_s, existing.name
            )));
        }
        if !self.store().insert_repo(&name, &root_s, trusted)? {
            return Err(Error::Conflict(format!(
                "a repo named {name:?} exists already: pick another with --name"
            )));
        }
        self.repo(&name)
    }

    /// All registered repositories.
    ///
    /// # Errors
    /// Store failure.
    pub fn repos(&self) -> Result<Vec<RepoRecord>> {
        Ok(self.store().repos()?)
    }

    /// One repository by name.
    ///
    /// # Errors
    /// [`Error::NotFound`] naming the registered ones.
    pub fn repo(&self, name: &str) -> Result<RepoRecord> {
        self.store().repo(name)?.ok_or_else(|| {
            let known: Vec<String> = self
                .store()
                .repos()
                .map(|v| v.into_iter().map(|r| r.name).collect())
                .unwrap_or_default();
            Error::NotFound(if known.is_empty() {
                format!("no repo {name:?}: add one with `branchyard repo add <path>`")
            } else {
                format!(
                    "no repo {name:?} (registered: {}); add it with `branchyard repo add <path> --name {name}`",
                    known.join(", ")
                )
            })
        })
    }

    /// Forgets a repository. Refuses while it has previews unless `force`,
    /// which tears them down (volumes too) first.
    ///
    /// # Errors
    /// Previews exist without `force`, or tearing one down failed.
    pub async fn remove_repo(&self, name: &str, force: bool) -> Result<()> {
        self.repo(name)?;
        let previews: Vec<_> = self
            .store()
            .previews()?
            .into_iter()
            .filter(|p| p.repo == name)
            .collect();
        if !previews.is_empty() && !force {
            let ids: Vec<_> = previews.iter().map(|p| p.id.as_str()).collect();
            return Err(Error::Conflict(format!(
                "repo {name} still has previews ({}): remove them with `branchyard down`, or pass --force to tear them down",
                ids.join(", ")
            )));
        }
        for p in previews {
            self.down(
                &super::PreviewRef::Id(p.id),
                super::operate::DownOptions {
                    volumes: true,
                    keep_worktree: false,
                    force: true,
                },
            )
            .await?;
        }
        self.store().delete_repo(name)?;
        // The reduced git config its containers saw (see compose::source_mounts).
        let _ = std::fs::remove_dir_all(self.home().repo_state_dir(name));
        Ok(())
    }

    /// Trusts (or untrusts) a repo: trusted repos may use privileged compose settings.
    ///
    /// # Errors
    /// No such repo.
    pub fn set_trusted(&self, name: &str, trusted: bool) -> Result<RepoRecord> {
        self.repo(name)?;
        self.store().set_repo_trusted(name, trusted)?;
        self.repo(name)
    }

    /// Turns branch following with automatic updates on or off for a repo.
    ///
    /// # Errors
    /// No such repo.
    pub fn set_auto_update(&self, name: &str, on: bool) -> Result<RepoRecord> {
        self.repo(name)?;
        self.store().set_repo_auto_update(name, on)?;
        self.repo(name)
    }

    /// Local and remote-tracking branches, newest commit first, with their previews.
    ///
    /// # Errors
    /// No such repo, or git failed.
    pub async fn branches(&self, repo: &str) -> Result<Vec<BranchView>> {
        let rec = self.repo(repo)?;
        let path = rec.path.clone();
        let branches = tokio::task::spawn_blocking(move || git::list_branches(Path::new(&path)))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        let previews = self.store().previews()?;
        Ok(branches
            .into_iter()
            .map(|b| {
                let p = previews
                    .iter()
                    .find(|p| p.repo == rec.name && p.branch == b.name);
                BranchView {
                    preview: p.map(|p| p.id.clone()),
                    state: p.map(|p| p.state),
                    branch: b,
                }
            })
            .collect())
    }
}
