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
    use crate::error::Code;
    use crate::git::fixture::{git, git_at, repo_with_commit};

    #[test]
    fn branches_are_listed_newest_first_with_remote_tracking_ones() {
        let (d, upstream) = repo_with_commit();
        git(&upstream, "checkout -q -b feature/x");
        std::fs::write(upstream.join("f"), "x").unwrap();
        git(&upstream, "add f");
        git_at(&upstream, "2026-02-01T00:00:00Z", "commit -q -m later");
        git(&upstream, "checkout -q main");

        // A second repo with `upstream` as its remote, fetched.
        let repo = d.path().join("mine");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, "init -q -b main");
        git(&repo, &format!("remote add origin {}", upstream.display()));
        git(&repo, "fetch -q origin");
        git(&repo, "remote set-head origin main");
        git(&repo, "checkout -q -b main origin/main");
        git_at(
            &repo,
            "2026-03-01T00:00:00Z",
            "commit -q --allow-empty -m newest",
        );

        let list = list_branches(&repo).unwrap();
        let names: Vec<_> = list.iter().map(|b| (b.name.as_str(), b.kind)).collect();
        assert_eq!(
            names,
            [
                ("main", BranchKind::Local),
                ("origin/feature/x", BranchKind::Remote),
                ("origin/main", BranchKind::Remote),
            ],
            "newest commit first, origin/HEAD skipped"
        );
        assert_eq!(list[0].subject, "newest");
        assert_eq!(list[0].author, "T");
        assert_eq!(list[1].subject, "later");
        assert_eq!(list[1].time, 1_769_904_000, "2026-02-01 in Unix seconds");
        assert_eq!(list[1].head.len(), 40, "a full sha");
        let json = serde_json::to_value(&list[1]).unwrap();
        assert_eq!(json["kind"], "remote");
    }

    #[test]
    fn a_local_branch_wins_over_a_remote_tracking_one_and_a_missing_one_says_where_to_look() {
        let (d, upstream) = repo_with_commit();
        let clone = d.path().join("clone");
        git(d.path(), &format!("clone -q {} clone", upstream.display()));
        git(&clone, "checkout -q -b feature");
        git_at(
            &clone,
            "2026-02-01T00:00:00Z",
            "commit -q --allow-empty -m local",
        );
        git(&clone, "update-ref refs/remotes/origin/feature main");
        assert_eq!(
            resolve_branch(&clone, "feature").unwrap(),
            git(&clone, "rev-parse feature"),
            "local first"
        );
        assert_eq!(
            resolve_branch(&clone, "origin/feature").unwrap(),
            git(&clone, "rev-parse main")
        );
        let err = resolve_branch(&clone, "nope").unwrap_err();
        assert!(matches!(err, GitError::BranchNotFound { .. }));
        assert_eq!(err.code(), Code::NotFound);
        assert!(
            err.to_string().contains("branchyard branches"),
            "tells the user where to look: {err}"
        );
    }

    #[test]
    fn a_directory_that_is_not_a_repository_is_reported_as_such() {
        let d = tempfile::tempdir().unwrap();
        let err = list_branches(d.path()).unwrap_err();
        assert!(matches!(err, GitError::NotARepo { .. }), "{err:?}");
        assert_eq!(err.code(), Code::NotFound);
        assert!(err.to_string().contains("git init"), "{err}");
    }
}
