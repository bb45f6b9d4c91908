//! Benchmark: choosing the gitignored files to carry into a worktree
//! (`carry::plan`: the patterns, the walk of the main working directory, git's
//! ignore status) against git selecting the same files itself (`git ls-files
//! --others --ignored --exclude-from=.worktreeinclude`, what other
//! `.worktreeinclude` tools run), in a repo whose main working directory holds
//! `FILES` ignored files (a `node_modules` of 200 packages) and a `.env`.
//! Two patterns: `.env` (no slash, so it may match at any depth and both sides
//! walk everything) and `/.env` (anchored, so Branchyard's walk stays at the
//! root). Medians of 7 rounds, written to `target/bench/carry.json` (target:
//! floating ≤ 1.5× git, since the walk runs on every `up`).
//!
//! Run with `bash scripts/bench-carry.sh`; `FILES=n` changes the size.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use branchyard_core::carry::{plan, Input};

const ROUNDS: usize = 7;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "gc.auto=0", "-c", "core.excludesFile=/dev/null"])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@b")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@b")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed().as_secs_f64(), out)
}

fn main() {
    let files: usize = std::env::var("FILES")
        .ok()
        .and_then(|f| f.parse().ok())
        .unwrap_or(50_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join("src")).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join(".gitignore"), ".env\nnode_modules/\n").expect("write");
    std::fs::write(repo.join("src/app.js"), "x\n").expect("write");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    for i in 0..files {
        let dir = repo.join(format!("node_modules/pkg{}/lib", i % 200));
        if i < 200 {
            std::fs::create_dir_all(&dir).expect("mkdir");
        }
        std::fs::write(dir.join(format!("f{i}.js")), "module.exports = 1;\n").expect("write");
    }
    std::fs::write(repo.join(".env"), "SECRET=1\n").expect("write");
    let sha = git(&repo, &["rev-parse", "HEAD"]);
    let input = Input {
        repo: repo.clone(),
        sha,
        trusted: false,
        manifest: tmp.path().join("carried.json"),
    };
    let mut figures = serde_json::Map::new();
    let mut summary = Vec::new();
    for (name, pattern) in [("floating", ".env"), ("anchored", "/.env")] {
        std::fs::write(repo.join(".worktreeinclude"), format!("{pattern}\n")).expect("write");
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for r in 0..ROUNDS {
            let mut run_ours = || {
                let (t, p) = timed(|| plan(&input).expect("plan"));
                assert_eq!(format!("{p:?}").matches("rel: \".env\"").count(), 1);
                ours.push(t);
            };
            let mut run_git = || {
                let (t, out) = timed(|| {
                    git(
                        &repo,
                        &[
                            "ls-files",
                            "--others",
                            "--ignored",
                            "--exclude-from=.worktreeinclude",
                        ],
                    )
                });
                assert_eq!(out, ".env");
                theirs.push(t);
            };
            if r % 2 == 0 {
                run_ours();
                run_git();
            } else {
                run_git();
                run_ours();
            }
        }
        let (o, g) = (median(&ours) * 1000.0, median(&theirs) * 1000.0);
        figures.insert(
            name.into(),
            serde_json::json!({
                "pattern": pattern,
                "branchyard_plan_ms": (o * 10.0).round() / 10.0,
                "git_ls_files_ms": (g * 10.0).round() / 10.0,
                "ratio": ((o / g) * 1e3).round() / 1e3,
            }),
        );
        summary.push(format!(
            "{pattern}: {o:.1} ms vs git ls-files {g:.1} ms ({:.2}×)",
            o / g
        ));
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut json = serde_json::json!({
        "ignored_files": files,
        "rounds": ROUNDS,
        "target_ratio_floating": 1.5,
        "loadavg": load.split_whitespace().next().unwrap_or(""),
    });
    if let Some(m) = json.as_object_mut() {
        m.extend(figures);
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&out).expect("mkdir");
    let text = serde_json::to_string_pretty(&json).expect("json");
    std::fs::write(out.join("carry.json"), text + "\n").expect("write");
    println!(
        "carry bench ({files} ignored files): {}",
        summary.join("; ")
    );
}
