//! Listing branches and resolving one to its head commit.

use std::path::Path;

use serde::Serialize;

use super::{open_repo, GitError};

/// Local or remote-tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BranchKind {
    /// `refs/heads/*`.
    Local,
    /// `refs/remotes/*`.
    Remote,
}

/// A branch and its head commit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BranchInfo {
    /// `feature/x`, or `origin/feature/x` for a remote-tracking branch.
    pub name: String,
    /// Local or remote-tracking.
    pub kind: BranchKind,
    /// Full sha of the head commit.
    pub head: String,
    /// The head commit's subject line.
    pub subject: String,
    /// Its author.
    pub author: String,
    /// Its commit time (Unix seconds).
    pub time: i64,
}

/// Local and remote-tracking branches, newest commit first.
///
/// # Errors
/// Not a repository, or libgit2 failed.
pub fn list_branches(repo_path: &Path) -> Result<Vec<BranchInfo>, GitError> {
    let repo = open_repo(repo_path)?;
    let g = |e| GitError::git(repo_path, e);
    let mut out = Vec::new();
    for item in repo.branches(None).map_err(g)? {
        let (branch, kind) = item.map_err(g)?;
        let reference = branch.get();
        if reference.symbolic_target_bytes().is_some() {
            continue; // origin/HEAD
        }
        let Some(name) = reference.shorthand().ok().map(str::to_string) else {
            continue;
        };
        let Ok(commit) = reference.peel_to_commit() else {
            continue;
        };
        out.push(BranchInfo {
            name,
            kind: match kind {
                git2::BranchType::Local => BranchKind::Local,
                git2::BranchType::Remote => BranchKind::Remote,
            },
            head: commit.id().to_string(),
            subject: commit.summary().ok().flatten().unwrap_or("").to_string(),
            author: commit.author().name().unwrap_or("").to_string(),
            time: commit.time().seconds(),
        });
    }
    out.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// The head commit of `branch`: a local branch first, then a remote-tracking one.
///
/// # Errors
/// [`GitError::BranchNotFound`] when neither exists.
pub fn resolve_branch(repo_path: &Path, branch: &str) -> Result<String, GitError> {
    let repo = open_repo(repo_path)?;
    for kind in [git2::BranchType::Local, git2::BranchType::Remote] {
        if let Ok(b) = repo.find_branch(branch, kind) {
            let commit = b
                .get()
                .peel_to_commit()
                .map_err(|e| GitError::git(repo_path, e))?;
            return Ok(commit.id().to_string());
        }
    }
    Err(GitError::BranchNotFound {
        repo: repo_path.display().to_string(),
        branch: branch.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::fixture::{git, repo_with_commit};

    #[test]
    fn branches_are_listed_newest_first_with_remote_tracking_ones() {
        let (_d, repo) = repo_with_commit();
        git(&repo, "checkout -q -b feature/x");
        std::fs::write(repo.join("f"), "x").unwrap();
        git(&repo, "add f");
        git(
            &repo,
            "-c user.name=T -c user.email=t@t commit -q -m later --date=2026-02-01T00:00:00Z",
        );
        git(&repo, "checkout -q main");
        let remote = tempfile::tempdir().unwrap();
        git(remote.path(), &format!("clone -q {} r", repo.display()));
        let clone = remote.path().join("r");
        let list = list_branches(&clone).unwrap();
        let names: Vec<_> = list.iter().map(|b| (b.name.as_str(), b.kind)).collect();
        assert!(
            names.contains(&("origin/feature/x", BranchKind::Remote)),
            "{names:?}"
        );
        assert!(
            !names.iter().any(|(n, _)| n.ends_with("/HEAD")),
            "origin/HEAD is skipped"
        );
        let mine = list_branches(&repo).unwrap();
        assert_eq!(mine[0].name, "feature/x", "newest commit first");
        assert_eq!(mine[0].subject, "later");
        assert_eq!(
            resolve_branch(&clone, "origin/feature/x").unwrap(),
            mine[0].head
        );
        assert!(matches!(
            resolve_branch(&repo, "nope"),
            Err(GitError::BranchNotFound { .. })
        ));
    }
}
