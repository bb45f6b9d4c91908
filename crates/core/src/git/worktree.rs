//! One worktree per preview, outside the user's repo, at a detached HEAD.
//!
//! git2's `Repository::worktree` insists on a branch and refuses one that is
//! checked out elsewhere, which would block the user's own checkout. So we lay
//! out git's worktree files ourselves (exactly what `git worktree add --detach`
//! writes) and let libgit2 check the tree out.

use std::path::{Path, PathBuf};

use git2::{build::CheckoutBuilder, Oid, Repository, StatusOptions};

use super::{open_repo, GitError};

/// What [`checkout`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutOutcome {
    /// A new worktree was made.
    pub created: bool,
    /// The commit it was at before.
    pub from: Option<String>,
    /// The commit it is at now.
    pub to: String,
    /// Files written or removed.
    pub files_changed: usize,
}

/// Creates the worktree at `path` detached at `sha`, or moves an existing one to
/// `sha`, touching only files that differ. Refuses to overwrite uncommitted
/// changes unless `force`.
///
/// # Errors
/// Unknown commit, dirty worktree, or libgit2/file system failures.
pub fn checkout(
    repo_path: &Path,
    path: &Path,
    name: &str,
    sha: &str,
    force: bool,
) -> Result<CheckoutOutcome, GitError> {
    let repo = open_repo(repo_path)?;
    let oid = Oid::from_str(sha).map_err(|e| GitError::git(repo_path, e))?;
    repo.find_commit(oid)
        .map_err(|e| GitError::git(repo_path, e))?;
    let admin = repo.commondir().join("worktrees").join(name);
    let valid = path.join(".git").is_file() && admin.join("HEAD").is_file();
    if !valid {
        // A stale record (its directory deleted by hand) or a half-made one.
        if admin.exists() {
            std::fs::remove_dir_all(&admin).map_err(|e| GitError::io(&admin, e))?;
        }
        return create(&repo, path, &admin, oid);
    }
    update(path, oid, force)
}

fn create(
    _repo: &Repository,
    path: &Path,
    admin: &Path,
    oid: Oid,
) -> Result<CheckoutOutcome, GitError> {
    if path.exists()
        && std::fs::read_dir(path)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    {
        return Err(GitError::Io {
            path: path.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a preview worktree: move it away first",
            ),
        });
    }
    std::fs::create_dir_all(path).map_err(|e| GitError::io(path, e))?;
    std::fs::create_dir_all(admin).map_err(|e| GitError::io(admin, e))?;
    let abs = path.canonicalize().map_err(|e| GitError::io(path, e))?;
    let write = |p: PathBuf, s: String| std::fs::write(&p, s).map_err(|e| GitError::io(&p, e));
    write(
        admin.join("gitdir"),
        format!("{}\n", abs.join(".git").display()),
    )?;
    write(admin.join("commondir"), "../..\n".to_string())?;
    write(admin.join("HEAD"), format!("{oid}\n"))?;
    write(abs.join(".git"), format!("gitdir: {}\n", admin.display()))?;
    let wt = Repository::open(&abs).map_err(|e| GitError::git(&abs, e))?;
    let commit = wt.find_commit(oid).map_err(|e| GitError::git(&abs, e))?;
    let mut opts = CheckoutBuilder::new();
    // A fresh directory: nothing to compare against, nothing to protect.
    opts.force().disable_filters(!has_attributes(&wt, &commit));
    wt.checkout_tree(commit.as_object(), Some(&mut opts))
        .map_err(|e| GitError::git(&abs, e))?;
    let count = wt.index().map(|i| i.len()).unwrap_or(0);
    wt.set_head_detached(oid)
        .map_err(|e| GitError::git(&abs, e))?;
    Ok(CheckoutOutcome {
        created: true,
        from: None,
        to: oid.to_string(),
        files_changed: count,
    })
}

fn update(path: &Path, oid: Oid, force: bool) -> Result<CheckoutOutcome, GitError> {
    let wt = Repository::open(path).map_err(|e| GitError::git(path, e))?;
    let g = |e| GitError::git(path, e);
    let from = wt.head().ok().and_then(|h| h.target());
    let target = wt.find_commit(oid).map_err(g)?;
    let files_changed = match from.and_then(|f| wt.find_commit(f).ok()) {
        Some(old) => {
            let diff = wt
                .diff_tree_to_tree(
                    Some(&old.tree().map_err(g)?),
                    Some(&target.tree().map_err(g)?),
                    None,
                )
                .map_err(g)?;
            diff.deltas().len()
        }
        None => 0,
    };
    if from != Some(oid) || force {
        let mut opts = CheckoutBuilder::new();
        // Checkout against HEAD's tree only writes what differs.
        if force {
            opts.force().remove_untracked(false);
        } else {
            opts.safe();
        }
        // Safe mode refuses to overwrite a file the user changed (a conflict):
        // that is the "never lose work" check, without scanning every file first.
        wt.checkout_tree(target.as_object(), Some(&mut opts))
            .map_err(|e| {
                if e.class() == git2::ErrorClass::Checkout || e.code() == git2::ErrorCode::Conflict
                {
                    GitError::Dirty {
                        path: path.display().to_string(),
                    }
                } else {
                    GitError::git(path, e)
                }
            })?;
        wt.set_head_detached(oid).map_err(g)?;
    }
    Ok(CheckoutOutcome {
        created: false,
        from: from.map(|f| f.to_string()),
        to: oid.to_string(),
        files_changed,
    })
}

/// Whether the tree has a `.gitattributes` (then filters such as eol must run).
fn has_attributes(repo: &Repository, commit: &git2::Commit<'_>) -> bool {
    let _ = repo;
    commit
        .tree()
        .map(|t| t.get_name(".gitattributes").is_some())
        .unwrap_or(true)
}

fn dirty(repo: &Repository, path: &Path) -> Result<bool, GitError> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .include_ignored(false)
        .recurse_untracked_dirs(false);
    let st = repo
        .statuses(Some(&mut opts))
        .map_err(|e| GitError::git(path, e))?;
    Ok(!st.is_empty())
}

/// Whether the worktree has modified, staged or untracked (not ignored) files.
///
/// # Errors
/// Not a worktree, or libgit2 failed.
pub fn is_dirty(path: &Path) -> Result<bool, GitError> {
    let repo = open_repo(path)?;
    dirty(&repo, path)
}

/// Removes a preview's worktree and git's record of it. Refuses when it has
/// uncommitted changes unless `force`. Already gone is fine.
///
/// # Errors
/// Dirty without `force`, or file system failures.
pub fn remove_worktree(
    repo_path: &Path,
    path: &Path,
    name: &str,
    force: bool,
) -> Result<(), GitError> {
    if path.join(".git").exists() && !force && is_dirty(path)? {
        return Err(GitError::Dirty {
            path: path.display().to_string(),
        });
    }
    if path.exists() {
        std::fs::remove_dir_all(path).map_err(|e| GitError::io(path, e))?;
    }
    if let Ok(repo) = open_repo(repo_path) {
        if let Ok(wt) = repo.find_worktree(name) {
            let mut opts = git2::WorktreePruneOptions::new();
            opts.valid(true).working_tree(true).locked(true);
            wt.prune(Some(&mut opts))
                .map_err(|e| GitError::git(repo_path, e))?;
        }
        let admin = repo.commondir().join("worktrees").join(name);
        if admin.exists() {
            std::fs::remove_dir_all(&admin).map_err(|e| GitError::io(&admin, e))?;
        }
    }
    Ok(())
}

/// Git's worktrees of a repo: `(name, path)`.
///
/// # Errors
/// Not a repository, or libgit2 failed.
pub fn list_worktrees(repo_path: &Path) -> Result<Vec<(String, PathBuf)>, GitError> {
    let repo = open_repo(repo_path)?;
    let names = repo.worktrees().map_err(|e| GitError::git(repo_path, e))?;
    let mut out = Vec::new();
    for name in names.iter().flatten().flatten() {
        if let Ok(wt) = repo.find_worktree(name) {
            out.push((name.to_string(), wt.path().to_path_buf()));
        }
    }
    Ok(out)
}

/// Whether the checkout uses Git LFS (libgit2 leaves LFS files as pointers).
pub fn uses_lfs(worktree: &Path) -> bool {
    std::fs::read_to_string(worktree.join(".gitattributes"))
        .map(|s| s.contains("filter=lfs"))
        .unwrap_or(false)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::process::Command;

    pub(crate) fn git(dir: &Path, args: &str) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("git {args}"))
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub(crate) fn repo_with_commit() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        git(&repo, "init -q -b main");
        std::fs::write(repo.join("a.txt"), "a1").unwrap();
        std::fs::write(repo.join("keep.txt"), "same").unwrap();
        git(&repo, "add -A");
        git(&repo, "commit -q -m first --date=2026-01-01T00:00:00Z");
        (d, repo)
    }

    #[test]
    fn a_detached_worktree_is_made_outside_the_repo_while_the_branch_is_checked_out() {
        let (d, repo) = repo_with_commit();
        let sha = git(&repo, "rev-parse main");
        let wt = d.path().join("home/worktrees/repo/main");
        let out = checkout(&repo, &wt, "branchyard-repo-main", &sha, false).unwrap();
        assert!(out.created);
        assert_eq!(std::fs::read_to_string(wt.join("a.txt")).unwrap(), "a1");
        assert_eq!(git(&wt, "rev-parse HEAD"), sha);
        assert_eq!(
            git(&wt, "status --porcelain"),
            "",
            "a fresh worktree is clean"
        );
        assert!(
            git(&repo, "worktree list").contains("detached"),
            "git sees a detached worktree"
        );
        assert_eq!(
            git(&repo, "branch --show-current"),
            "main",
            "the user's checkout is untouched"
        );
    }

    #[test]
    fn an_update_rewrites_only_changed_files() {
        let (d, repo) = repo_with_commit();
        let wt = d.path().join("wt");
        checkout(&repo, &wt, "w", &git(&repo, "rev-parse main"), false).unwrap();
        let ino = std::fs::metadata(wt.join("keep.txt")).unwrap().ino();
        std::fs::write(repo.join("a.txt"), "a2").unwrap();
        git(&repo, "commit -q -am second");
        let sha2 = git(&repo, "rev-parse main");
        let out = checkout(&repo, &wt, "w", &sha2, false).unwrap();
        assert!(!out.created);
        assert_eq!(out.files_changed, 1);
        assert_eq!(std::fs::read_to_string(wt.join("a.txt")).unwrap(), "a2");
        assert_eq!(
            std::fs::metadata(wt.join("keep.txt")).unwrap().ino(),
            ino,
            "untouched file kept"
        );
        assert_eq!(git(&wt, "rev-parse HEAD"), sha2);
    }

    #[test]
    fn a_dirty_worktree_is_kept_unless_forced_and_removal_prunes_gits_record() {
        let (d, repo) = repo_with_commit();
        let wt = d.path().join("wt");
        let sha = git(&repo, "rev-parse main");
        checkout(&repo, &wt, "w", &sha, false).unwrap();
        std::fs::write(wt.join("a.txt"), "my work").unwrap();
        assert!(is_dirty(&wt).unwrap());
        assert!(matches!(
            remove_worktree(&repo, &wt, "w", false),
            Err(GitError::Dirty { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(wt.join("a.txt")).unwrap(),
            "my work",
            "nothing lost"
        );
        remove_worktree(&repo, &wt, "w", true).unwrap();
        assert!(!wt.exists());
        assert!(
            !repo.join(".git/worktrees/w").exists(),
            "git's record is pruned"
        );
        remove_worktree(&repo, &wt, "w", false).unwrap();
    }

    #[test]
    fn an_update_never_overwrites_the_users_changes() {
        let (d, repo) = repo_with_commit();
        let wt = d.path().join("wt");
        checkout(&repo, &wt, "w", &git(&repo, "rev-parse main"), false).unwrap();
        std::fs::write(wt.join("a.txt"), "my edit").unwrap();
        std::fs::write(repo.join("a.txt"), "a2").unwrap();
        git(&repo, "commit -q -am second");
        let sha2 = git(&repo, "rev-parse main");
        let r = checkout(&repo, &wt, "w", &sha2, false);
        assert!(matches!(r, Err(GitError::Dirty { .. })), "{r:?}");
        assert_eq!(
            std::fs::read_to_string(wt.join("a.txt")).unwrap(),
            "my edit",
            "the edit survives"
        );
        checkout(&repo, &wt, "w", &sha2, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(wt.join("a.txt")).unwrap(),
            "a2",
            "--force takes the branch's version"
        );
    }

    #[test]
    fn a_stale_record_is_replaced() {
        let (d, repo) = repo_with_commit();
        let wt = d.path().join("wt");
        let sha = git(&repo, "rev-parse main");
        checkout(&repo, &wt, "w", &sha, false).unwrap();
        std::fs::remove_dir_all(&wt).unwrap();
        let out = checkout(&repo, &wt, "w", &sha, false).unwrap();
        assert!(out.created);
        assert_eq!(list_worktrees(&repo).unwrap().len(), 1);
    }
}
