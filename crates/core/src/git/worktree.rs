//! One worktree per preview, outside the user's repo, at a detached HEAD.
//!
//! git2's `Repository::worktree` insists on a branch and refuses one that is
//! checked out elsewhere, which would block the user's own checkout. So we lay
//! out git's worktree files ourselves (what `git worktree add --detach` writes,
//! including its `locked` "initializing" guard) and fill the directory with
//! [`super::populate`] or libgit2's checkout.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use git2::{build::CheckoutBuilder, CheckoutNotificationType, Oid, Repository, StatusOptions};

use super::{open_repo, populate, GitError};

/// Written to `.git/worktrees/<name>/locked` until a new worktree is complete,
/// so a crash half-way is recognised (and `git worktree prune` keeps off).
const INITIALIZING: &str = "initializing";

/// Above this many changed paths, an update checks out the whole tree rather
/// than a path list.
const PATHS_LIMIT: usize = 2000;

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
/// `sha`, touching only files that differ. `name` is git's record of it
/// (`.git/worktrees/<name>`). An update refuses to overwrite or delete a file
/// the user changed unless `force`, which resets the worktree to `sha` (files
/// the user added are kept). A stale record (directory deleted) or a worktree
/// left half-made by a crash is recreated.
///
/// # Errors
/// Bad name, unknown commit, [`GitError::Dirty`], a non-worktree directory in
/// the way, or libgit2/file system failures.
#[tracing::instrument(skip_all, fields(path = %path.display(), sha))]
pub fn checkout(
    repo_path: &Path,
    path: &Path,
    name: &str,
    sha: &str,
    force: bool,
) -> Result<CheckoutOutcome, GitError> {
    check_name(name)?;
    let repo = open_repo(repo_path)?;
    let oid = Oid::from_str(sha).map_err(|e| GitError::git(repo_path, e))?;
    repo.find_commit(oid)
        .map_err(|e| GitError::git(repo_path, e))?;
    let admin = repo.commondir().join("worktrees").join(name);
    let initializing =
        std::fs::read_to_string(admin.join("locked")).is_ok_and(|s| s.trim() == INITIALIZING);
    let complete = !initializing && path.join(".git").is_file() && admin.join("HEAD").is_file();
    if complete {
        if !points_to(path, &admin) {
            // The worktree is writable by the preview's containers, its
            // `.git` link too: pointed elsewhere (say, at the main repo's git
            // dir) it would turn this update on another repository. The
            // admin dir is out of their reach, so the link is made again.
            tracing::warn!("the worktree's .git link was changed: restoring it");
            let link = path.join(".git");
            std::fs::write(&link, format!("gitdir: {}\n", admin.display()))
                .map_err(|e| GitError::io(&link, e))?;
        }
        return update(path, oid, force);
    }
    if initializing && points_to(path, &admin) {
        tracing::info!("removing a worktree left half-made");
        std::fs::remove_dir_all(path).map_err(|e| GitError::io(path, e))?;
    }
    if admin.exists() {
        // A stale record (its directory deleted by hand) or a half-made one.
        std::fs::remove_dir_all(&admin).map_err(|e| GitError::io(&admin, e))?;
    }
    let occupied = std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(GitError::Io {
            path: path.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a preview worktree: move it away first",
            ),
        });
    }
    create(&repo, path, &admin, oid).inspect_err(|_| {
        // Leave nothing half-made behind: the next attempt starts clean. The
        // directory was empty or absent, so nothing of the user's is in it.
        let _ = std::fs::remove_dir_all(path);
        let _ = std::fs::remove_dir_all(&admin);
    })
}

/// Worktree names become `.git/worktrees/<name>`: one plain path component.
fn check_name(name: &str) -> Result<(), GitError> {
    let bad = name.is_empty()
        || name.starts_with('.')
        || name.ends_with(".lock")
        || name.contains(['/', '\\', '\0', ' ']);
    if bad {
        return Err(GitError::Git {
            path: name.to_string(),
            message: "not a usable worktree name: use letters, digits and `-` only".into(),
        });
    }
    Ok(())
}

/// Whether `path/.git` is a worktree link to `admin`.
fn points_to(path: &Path, admin: &Path) -> bool {
    std::fs::read_to_string(path.join(".git"))
        .ok()
        .and_then(|s| s.strip_prefix("gitdir:").map(|g| PathBuf::from(g.trim())))
        .is_some_and(|g| g == admin)
}

/// Makes a new worktree in the empty or absent directory `path`.
fn create(
    repo: &Repository,
    path: &Path,
    admin: &Path,
    oid: Oid,
) -> Result<CheckoutOutcome, GitError> {
    std::fs::create_dir_all(path).map_err(|e| GitError::io(path, e))?;
    std::fs::create_dir_all(admin).map_err(|e| GitError::io(admin, e))?;
    let abs = path.canonicalize().map_err(|e| GitError::io(path, e))?;
    let write = |p: PathBuf, s: String| std::fs::write(&p, s).map_err(|e| GitError::io(&p, e));
    write(admin.join("locked"), format!("{INITIALIZING}\n"))?;
    write(
        admin.join("gitdir"),
        format!("{}\n", abs.join(".git").display()),
    )?;
    write(admin.join("commondir"), "../..\n".to_string())?;
    write(admin.join("HEAD"), format!("{oid}\n"))?;
    write(abs.join(".git"), format!("gitdir: {}\n", admin.display()))?;

    let tree = repo
        .find_commit(oid)
        .and_then(|c| c.tree())
        .map_err(|e| GitError::git(repo.path(), e))?;
    let files = match populate::plan(repo, &tree)? {
        Some(plan) => {
            tracing::debug!(files = plan.len(), "parallel checkout");
            populate::write(&abs, &admin.join("index"), plan)?
        }
        None => {
            tracing::debug!("libgit2 checkout (filters, submodules or unusual names)");
            let g = |e| GitError::git(&abs, e);
            let wt = Repository::open(&abs).map_err(g)?;
            let tree = wt.find_tree(tree.id()).map_err(g)?;
            let mut opts = CheckoutBuilder::new();
            // A fresh directory: nothing to compare against, nothing to protect.
            opts.force();
            wt.checkout_tree(tree.as_object(), Some(&mut opts))
                .map_err(g)?;
            wt.index().map(|i| i.len()).unwrap_or(0)
        }
    };
    let lock = admin.join("locked");
    std::fs::remove_file(&lock).map_err(|e| GitError::io(&lock, e))?;
    Ok(CheckoutOutcome {
        created: true,
        from: None,
        to: oid.to_string(),
        files_changed: files,
    })
}

fn update(path: &Path, oid: Oid, force: bool) -> Result<CheckoutOutcome, GitError> {
    let wt = Repository::open(path).map_err(|e| GitError::git(path, e))?;
    let g = |e| GitError::git(path, e);
    let from = wt.head().ok().and_then(|h| h.target());
    if from == Some(oid) && !force {
        return Ok(CheckoutOutcome {
            created: false,
            from: from.map(|f| f.to_string()),
            to: oid.to_string(),
            files_changed: 0,
        });
    }
    let target = wt.find_commit(oid).map_err(g)?;
    let old_tree = from
        .and_then(|f| wt.find_commit(f).ok())
        .and_then(|c| c.tree().ok());
    let diff = wt
        .diff_tree_to_tree(old_tree.as_ref(), Some(&target.tree().map_err(g)?), None)
        .map_err(g)?;
    let files_changed = diff.deltas().len();

    let conflicts = RefCell::new(Vec::new());
    let mut opts = CheckoutBuilder::new();
    if force {
        // Back to the commit exactly, whatever the user changed.
        opts.force().remove_untracked(false);
    } else {
        // Safe mode refuses to overwrite or delete a file the user changed (a
        // conflict): the "never lose work" check, with no scan of every file.
        opts.safe();
        opts.notify_on(CheckoutNotificationType::CONFLICT);
        opts.notify(|_, p, _, _, _| {
            if let Some(p) = p {
                conflicts.borrow_mut().push(p.display().to_string());
            }
            true
        });
        // Only the paths that differ: libgit2 then looks at nothing else.
        if old_tree.is_some() && files_changed <= PATHS_LIMIT {
            opts.disable_pathspec_match(true);
            for d in diff.deltas() {
                for p in [d.old_file().path_bytes(), d.new_file().path_bytes()]
                    .into_iter()
                    .flatten()
                {
                    opts.path(p.to_vec());
                }
            }
        }
    }
    let result = wt.checkout_tree(target.as_object(), Some(&mut opts));
    drop(opts);
    result.map_err(|e| {
        if e.code() == git2::ErrorCode::Conflict {
            GitError::Dirty {
                path: path.display().to_string(),
                files: conflicts.take(),
            }
        } else {
            GitError::git(path, e)
        }
    })?;
    wt.set_head_detached(oid).map_err(g)?;
    Ok(CheckoutOutcome {
        created: false,
        from: from.map(|f| f.to_string()),
        to: oid.to_string(),
        files_changed,
    })
}

/// Up to `limit` paths that are modified, staged or untracked (not ignored);
/// `carried` paths (files Branchyard carried in, see [`crate::carry`]) count
/// as ignored.
fn changed_files(
    repo: &Repository,
    path: &Path,
    limit: usize,
    carried: &[String],
) -> Result<Vec<String>, GitError> {
    if !carried.is_empty() {
        let rules: String = carried
            .iter()
            .map(|p| format!("/{}\n", escape_rule(p)))
            .collect();
        // In memory, on this handle only: nothing is written to the repository.
        repo.add_ignore_rule(&rules)
            .map_err(|e| GitError::git(path, e))?;
    }
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .include_ignored(false)
        .recurse_untracked_dirs(false)
        .exclude_submodules(true);
    let st = repo
        .statuses(Some(&mut opts))
        .map_err(|e| GitError::git(path, e))?;
    Ok(st
        .iter()
        .take(limit)
        .map(|e| String::from_utf8_lossy(e.path_bytes()).into_owned())
        .collect())
}

/// A path as a gitignore rule matching exactly it.
fn escape_rule(p: &str) -> String {
    let mut out = String::new();
    for c in p.chars() {
        if matches!(c, '*' | '?' | '[' | '\\' | '!' | '#' | ' ') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether the worktree has modified, staged or untracked (not ignored)
/// files; `carried` files (copied in by Branchyard) do not count.
///
/// # Errors
/// Not a worktree, or libgit2 failed.
pub fn is_dirty(path: &Path, carried: &[String]) -> Result<bool, GitError> {
    let repo = open_repo(path)?;
    Ok(!changed_files(&repo, path, 1, carried)?.is_empty())
}

/// Removes a preview's worktree and git's record of it. Refuses when it has
/// uncommitted changes (besides `carried` files) unless `force`. Already gone is fine.
///
/// # Errors
/// [`GitError::Dirty`] without `force`, a worktree whose git record is gone
/// (so its changes cannot be checked) without `force`, or file system failures.
#[tracing::instrument(skip_all, fields(path = %path.display()))]
pub fn remove_worktree(
    repo_path: &Path,
    path: &Path,
    name: &str,
    force: bool,
    carried: &[String],
) -> Result<(), GitError> {
    if path.join(".git").exists() && !force {
        let repo = Repository::open(path).map_err(|_| GitError::Git {
            path: path.display().to_string(),
            message: "its git record is gone, so its changes cannot be checked: look inside, then pass --force to remove it".into(),
        })?;
        let files = changed_files(&repo, path, 10, carried)?;
        if !files.is_empty() {
            return Err(GitError::Dirty {
                path: path.display().to_string(),
                files,
            });
        }
    }
    if path.exists() {
        std::fs::remove_dir_all(path).map_err(|e| GitError::io(path, e))?;
    }
    // The repo itself may be gone: then so is any record to prune.
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
mod tests;
