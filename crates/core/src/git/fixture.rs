//! Test repositories made with the `git` CLI, with fixed identities and dates
//! so runs repeat.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The date every commit gets unless a test says otherwise.
pub(crate) const DATE: &str = "2026-01-01T00:00:00Z";

/// Runs `git <args>` (split by the shell) in `dir` with commits dated [`DATE`];
/// returns its trimmed stdout.
pub(crate) fn git(dir: &Path, args: &str) -> String {
    git_at(dir, DATE, args)
}

/// [`git`] with author and committer dates set to `date`.
pub(crate) fn git_at(dir: &Path, date: &str, args: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("git {args}"))
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repo at `<tempdir>/repo` on branch `main` with one commit of `a.txt`
/// ("a1") and `keep.txt` ("same").
pub(crate) fn repo_with_commit() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().expect("tempdir");
    let repo = d.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, "init -q -b main");
    std::fs::write(repo.join("a.txt"), "a1").expect("write");
    std::fs::write(repo.join("keep.txt"), "same").expect("write");
    git(&repo, "add -A");
    git(&repo, "commit -q -m first");
    (d, repo)
}
