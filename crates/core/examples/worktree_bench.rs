//! Benchmark: a fresh preview worktree of a 20,000-file repo with Branchyard's
//! checkout against `git worktree add --detach`, and an update of that worktree
//! to a head that changes 10 files (against `git checkout --detach` in git's
//! worktree). Medians of 5 rounds, written to `target/bench/worktree.json`
//! (targets: fresh ≤ 1.0× git, update ≤ 100 ms).
//!
//! Fairness: the repo is one pack (as a clone is) written by `git
//! fast-import`, automatic gc is off, each round alternates which side goes
//! first, dirty pages are flushed before every timed step so neither pays for
//! the other's writes, and `ratio_fresh_paired_median` compares each round's
//! pair, which ran back to back.
//!
//! On ext4 most of the time goes to inode allocation, which slows down for
//! minutes after many files were deleted (ext4 skips recently freed inodes):
//! figures then swing between runs for both sides alike. `BENCH_DIR=/dev/shm`
//! measures on tmpfs, where only the work of each tool counts.
//!
//! Run with `bash scripts/bench-worktree.sh`; `FILES=n` changes the size,
//! `BENCH_DIR=dir` where the repo and worktrees go (default: the temp dir).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use branchyard_core::git::checkout;

const ROUNDS: usize = 5;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "gc.auto=0"])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@b")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@b")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
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

/// Seconds taken by `f`, after flushing dirty pages left by earlier steps.
fn timed(f: impl FnOnce()) -> f64 {
    let _ = Command::new("sync").status();
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// Writes two commits straight into one pack with `git fast-import`: `files`
/// files in 200 directories, then 10 of them changed. No loose objects are
/// written and pruned, so no freshly freed inodes slow down what is measured.
fn import(repo: &Path, files: usize) {
    use std::io::Write;
    let mut stream = Vec::new();
    let blob = |stream: &mut Vec<u8>, body: &str| {
        write!(stream, "data {}\n{body}\n", body.len()).expect("write");
    };
    let path = |i: usize| format!("d{:03}/f{i}.txt", i % 200);
    let header = |stream: &mut Vec<u8>, msg: &str| {
        let who = "b <b@b> 1767225600 +0000";
        write!(
            stream,
            "commit refs/heads/main\nauthor {who}\ncommitter {who}\n"
        )
        .expect("write");
        blob(stream, msg);
    };
    header(&mut stream, "base");
    for i in 0..files {
        writeln!(stream, "M 100644 inline {}", path(i)).expect("write");
        blob(&mut stream, &format!("file {i}\n").repeat(8));
    }
    header(&mut stream, "ten files");
    for i in 0..10.min(files) {
        writeln!(stream, "M 100644 inline {}", path(i)).expect("write");
        blob(&mut stream, &format!("changed {i}\n"));
    }
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(repo)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("git fast-import runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&stream)
        .expect("feed fast-import");
    assert!(
        child.wait().expect("fast-import").success(),
        "fast-import failed"
    );
}

fn main() {
    let files: usize = std::env::var("FILES")
        .ok()
        .and_then(|f| f.parse().ok())
        .unwrap_or(20_000);
    let tmp = match std::env::var_os("BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("tempdir");
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    import(&repo, files);
    let base = git(&repo, &["rev-parse", "main~1"]);
    let next = git(&repo, &["rev-parse", "main"]);

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut ours_update, mut git_update) = (Vec::new(), Vec::new());
    for r in 0..ROUNDS {
        let wt = tmp.path().join(format!("ours{r}"));
        let name = format!("bench{r}");
        let git_wt = tmp.path().join(format!("git{r}"));
        let git_wt_s = git_wt.to_str().expect("utf-8 temp path");
        let mut run_ours = || {
            ours.push(timed(|| {
                checkout(&repo, &wt, &name, &base, false).expect("checkout");
            }))
        };
        let mut run_git = || {
            theirs.push(timed(|| {
                git(
                    &repo,
                    &["worktree", "add", "-q", "--detach", git_wt_s, &base],
                );
            }))
        };
        if r % 2 == 0 {
            run_ours();
            run_git();
        } else {
            run_git();
            run_ours();
        }
        ours_update.push(timed(|| {
            let out = checkout(&repo, &wt, &name, &next, false).expect("update");
            assert_eq!(out.files_changed, 10);
        }));
        git_update.push(timed(|| {
            git(&git_wt, &["checkout", "-q", "--detach", &next]);
        }));
    }
    let rounds = |v: &[f64], scale: f64| -> Vec<f64> {
        v.iter().map(|x| (x * scale * 1e4).round() / 1e4).collect()
    };
    let per_round = serde_json::json!({
        "fresh_branchyard_s": rounds(&ours, 1.0),
        "fresh_git_worktree_add_s": rounds(&theirs, 1.0),
        "update_10_files_ms": rounds(&ours_update, 1000.0),
    });
    // Each round's pair ran back to back: their ratio cancels the drift of a
    // shared machine (load, the file system's state) better than two medians.
    let paired: Vec<f64> = ours.iter().zip(&theirs).map(|(o, g)| o / g).collect();
    let (o, g, pr) = (median(&ours), median(&theirs), median(&paired));
    let (u, gu) = (median(&ours_update) * 1000.0, median(&git_update) * 1000.0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let json = serde_json::json!({
        "files": files,
        "rounds": ROUNDS,
        "fresh_branchyard_s": (o * 1e4).round() / 1e4,
        "fresh_git_worktree_add_s": (g * 1e4).round() / 1e4,
        "ratio_fresh": ((o / g) * 1e3).round() / 1e3,
        "ratio_fresh_paired_median": (pr * 1e3).round() / 1e3,
        "target_ratio_fresh": 1.0,
        "update_10_files_ms": (u * 10.0).round() / 10.0,
        "update_10_files_git_checkout_ms": (gu * 10.0).round() / 10.0,
        "target_update_ms": 100,
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "per_round": per_round,
        "dir": tmp.path().parent().map(|p| p.display().to_string()),
        "loadavg": load.split_whitespace().next().unwrap_or(""),
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&out).expect("mkdir");
    let text = serde_json::to_string_pretty(&json).expect("json");
    std::fs::write(out.join("worktree.json"), text + "\n").expect("write");
    println!(
        "worktree bench ({files} files): fresh {o:.3} s vs git worktree add {g:.3} s (ratio {:.2}, per-round median {pr:.2}; target ≤ 1.0); \
         update of 10 files {u:.1} ms (git checkout {gu:.1} ms; target ≤ 100 ms)",
        o / g
    );
}
