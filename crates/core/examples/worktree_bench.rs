//! Benchmark: a fresh preview worktree of a 20,000-file repo with Branchyard's
//! git2 checkout against `git worktree add --detach`, and an update of that
//! worktree to a head that changes 10 files. Medians of 5 rounds, written to
//! `target/bench/worktree.json` with the ratio (target: fresh ≤ 1.0× git,
//! update ≤ 100 ms).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@b")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@b")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "git {args:?} failed");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let files: usize = std::env::var("FILES")
        .ok()
        .and_then(|f| f.parse().ok())
        .unwrap_or(20_000);
    let rounds = 5;
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    for i in 0..files {
        let dir = repo.join(format!("d{:03}", i % 200));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join(format!("f{i}.txt")),
            format!("file {i}\n").repeat(8),
        )
        .expect("write");
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    let base = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&repo)
            .output()
            .expect("git")
            .stdout,
    )
    .expect("utf8")
    .trim()
    .to_string();
    for i in 0..10 {
        std::fs::write(
            repo.join(format!("d{:03}/f{i}.txt", i % 200)),
            format!("changed {i}\n"),
        )
        .expect("write");
    }
    git(&repo, &["commit", "-q", "-am", "ten files"]);
    let next = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&repo)
            .output()
            .expect("git")
            .stdout,
    )
    .expect("utf8")
    .trim()
    .to_string();

    let (mut ours, mut theirs, mut updates) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let wt = tmp.path().join(format!("ours{r}"));
        let t = Instant::now();
        branchyard_core::git::checkout(&repo, &wt, &format!("bench{r}"), &base, false)
            .expect("checkout");
        ours.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let out = branchyard_core::git::checkout(&repo, &wt, &format!("bench{r}"), &next, false)
            .expect("update");
        updates.push(t.elapsed().as_secs_f64());
        assert_eq!(out.files_changed, 10);

        let theirs_wt = tmp.path().join(format!("git{r}"));
        let t = Instant::now();
        git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "--detach",
                theirs_wt.to_str().expect("utf8"),
                &base,
            ],
        );
        theirs.push(t.elapsed().as_secs_f64());
    }
    let (o, g, u) = (median(ours), median(theirs), median(updates));
    let json = format!(
        "{{\n  \"files\": {files},\n  \"rounds\": {rounds},\n  \"fresh_branchyard_s\": {o:.4},\n  \"fresh_git_worktree_add_s\": {g:.4},\n  \"ratio_fresh\": {:.3},\n  \"target_ratio_fresh\": 1.0,\n  \"update_10_files_ms\": {:.1},\n  \"target_update_ms\": 100\n}}\n",
        o / g,
        u * 1000.0
    );
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("worktree.json"), &json).expect("write");
    println!("worktree bench: fresh {o:.3}s vs git {g:.3}s (ratio {:.2}, target ≤ 1.0); update of 10 files {:.1} ms (target ≤ 100)", o / g, u * 1000.0);
}
