use std::time::Instant as StdInstant;

use super::*;
use crate::git::fixture::{git, repo_with_commit};

/// Runs `args` and waits for the report, failing after 1 s from the start.
async fn reported(rx: &mut UnboundedReceiver<RefChange>, repo: &Path, args: &str) -> Duration {
    let t = StdInstant::now();
    git(repo, args);
    let got = tokio::time::timeout(
        Duration::from_secs(1).saturating_sub(t.elapsed()),
        rx.recv(),
    )
    .await
    .unwrap_or_else(|_| panic!("no ref change within 1 s of `git {args}`"))
    .expect("watcher alive");
    assert_eq!(got.repo, repo, "reported under the path registered");
    let took = t.elapsed();
    quiet(rx, &format!("the burst of `git {args}`")).await;
    took
}

/// Asserts nothing more arrives for a while (one burst, one report).
async fn quiet(rx: &mut UnboundedReceiver<RefChange>, after: &str) {
    let extra = tokio::time::timeout(Duration::from_millis(400), rx.recv()).await;
    assert!(extra.is_err(), "an extra report after {after}: {extra:?}");
}

async fn watching(repo: &Path) -> (RefWatcher, UnboundedReceiver<RefChange>) {
    let (tx, rx) = unbounded_channel();
    let w = RefWatcher::new(tx).unwrap();
    w.watch_repo(repo).unwrap();
    w.watch_repo(repo).expect("watching twice is fine");
    (w, rx)
}

#[tokio::test]
async fn commits_update_ref_pack_refs_and_deletions_are_each_reported_within_a_second() {
    let (_d, repo) = repo_with_commit();
    git(&repo, "branch feature/x");
    let (_w, mut rx) = watching(&repo).await;
    std::fs::write(repo.join("a.txt"), "changed").unwrap();
    let mut took = vec![reported(&mut rx, &repo, "commit -q -am change").await];
    took.push(reported(&mut rx, &repo, "update-ref refs/heads/feature/x HEAD~0").await);
    took.push(reported(&mut rx, &repo, "pack-refs --all").await);
    took.push(reported(&mut rx, &repo, "update-ref refs/heads/feature/x HEAD").await);
    took.push(reported(&mut rx, &repo, "branch -D feature/x").await);
    took.push(reported(&mut rx, &repo, "checkout -q -b other").await);
    assert!(took.iter().all(|t| *t < Duration::from_secs(1)), "{took:?}");
}

#[tokio::test]
async fn reading_refs_is_not_a_change() {
    let (_d, repo) = repo_with_commit();
    let (_w, mut rx) = watching(&repo).await;
    git(&repo, "rev-parse main");
    git(&repo, "log --oneline");
    git(&repo, "status --porcelain");
    crate::git::list_branches(&repo).unwrap();
    crate::git::resolve_branch(&repo, "main").unwrap();
    quiet(&mut rx, "only reads").await;
}

#[tokio::test]
async fn fetches_are_reported_including_the_first_remote() {
    let (d, upstream) = repo_with_commit();
    let clone = d.path().join("clone");
    std::fs::create_dir(&clone).unwrap();
    git(&clone, "init -q -b main");
    git(&clone, &format!("remote add origin {}", upstream.display()));
    let (_w, mut rx) = watching(&clone).await;
    reported(&mut rx, &clone, "fetch -q origin").await;
    assert!(
        crate::git::list_branches(&clone)
            .unwrap()
            .iter()
            .any(|b| b.name == "origin/main"),
        "the fetch brought origin/main"
    );
    std::fs::write(upstream.join("a.txt"), "upstream moved").unwrap();
    git(&upstream, "commit -q -am moved");
    reported(&mut rx, &clone, "fetch -q origin").await;
}

#[tokio::test]
async fn a_long_burst_is_reported_before_it_ends() {
    let (_d, repo) = repo_with_commit();
    let (_w, mut rx) = watching(&repo).await;
    let r = repo.clone();
    let writer = tokio::task::spawn_blocking(move || {
        for i in 0..15 {
            git(&r, &format!("update-ref refs/heads/b{i} HEAD"));
            std::thread::sleep(Duration::from_millis(80));
        }
    });
    let t = StdInstant::now();
    tokio::time::timeout(Duration::from_secs(1), rx.recv())
        .await
        .expect("reported while the burst goes on")
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(1));
    writer.await.unwrap();
}

#[tokio::test]
async fn an_unwatched_repo_is_silent_and_dropping_the_watcher_ends_its_task() {
    let (_d, repo) = repo_with_commit();
    let (w, mut rx) = watching(&repo).await;
    w.unwatch_repo(&repo);
    git(&repo, "branch gone-unnoticed");
    quiet(&mut rx, "unwatch").await;
    w.watch_repo(&repo).unwrap();
    reported(&mut rx, &repo, "branch -D gone-unnoticed").await;
    drop(w);
    let end = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await;
    assert!(matches!(end, Ok(None)), "the channel closes: {end:?}");
}

#[tokio::test]
async fn a_path_that_is_not_a_repository_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let (tx, _rx) = unbounded_channel();
    let w = RefWatcher::new(tx).unwrap();
    let err = w.watch_repo(d.path()).unwrap_err();
    assert!(err.to_string().contains("git init"), "{err}");
}
