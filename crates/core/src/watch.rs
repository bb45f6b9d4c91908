//! Watching repositories' refs (loose refs, packed-refs, remote-tracking
//! branches moved by fetch) and reporting which repo moved, debounced.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_util::sync::CancellationToken;

use crate::git::GitError;

/// A fetch or a commit touches many files at once: wait this long for quiet.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Refs of a repository changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefChange {
    /// The repository's working directory, as registered with [`RefWatcher::watch_repo`].
    pub repo: PathBuf,
}

/// Watches repos' refs; stops (task and watcher) when dropped.
pub struct RefWatcher {
    watcher: Mutex<RecommendedWatcher>,
    /// git dir → repo path.
    repos: Arc<Mutex<HashMap<PathBuf, PathBuf>>>,
    cancel: CancellationToken,
}

impl RefWatcher {
    /// A watcher that sends a [`RefChange`] per repo whose refs moved. Must be
    /// called inside a tokio runtime.
    ///
    /// # Errors
    /// When the platform's file watcher cannot start.
    pub fn new(tx: UnboundedSender<RefChange>) -> Result<Self, GitError> {
        let repos: Arc<Mutex<HashMap<PathBuf, PathBuf>>> = Arc::default();
        let (raw_tx, mut raw_rx) = unbounded_channel::<PathBuf>();
        let map = repos.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            let map = map.lock().unwrap_or_else(|p| p.into_inner());
            for p in &ev.paths {
                if let Some((_, repo)) = map.iter().find(|(gd, _)| p.starts_with(gd)) {
                    let _ = raw_tx.send(repo.clone());
                }
            }
        })
        .map_err(|e| GitError::Git {
            path: "(file watcher)".into(),
            message: e.to_string(),
        })?;
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            let mut pending: Vec<PathBuf> = Vec::new();
            loop {
                let wait = if pending.is_empty() {
                    Duration::from_secs(3600)
                } else {
                    DEBOUNCE
                };
                tokio::select! {
                    _ = stop.cancelled() => return,
                    got = raw_rx.recv() => match got {
                        Some(repo) => if !pending.contains(&repo) { pending.push(repo) },
                        None => return,
                    },
                    _ = tokio::time::sleep(wait) => {
                        for repo in pending.drain(..) {
                            if tx.send(RefChange { repo }).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        Ok(RefWatcher {
            watcher: Mutex::new(watcher),
            repos,
            cancel,
        })
    }

    /// Starts watching `repo`'s refs (idempotent).
    ///
    /// # Errors
    /// Not a repository, or the watch could not be added.
    pub fn watch_repo(&self, repo: &Path) -> Result<(), GitError> {
        let gitdir = crate::git::open_repo(repo)?.commondir().to_path_buf();
        let gitdir = gitdir.canonicalize().unwrap_or(gitdir);
        {
            let mut map = self.repos.lock().unwrap_or_else(|p| p.into_inner());
            if map.contains_key(&gitdir) {
                return Ok(());
            }
            map.insert(gitdir.clone(), repo.to_path_buf());
        }
        let mut w = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        let err = |e: notify::Error| GitError::Git {
            path: gitdir.display().to_string(),
            message: format!("cannot watch: {e}"),
        };
        // packed-refs and HEAD live at the top: watch it shallowly, refs/ deeply
        // (objects/ would flood us on every commit).
        w.watch(&gitdir, RecursiveMode::NonRecursive).map_err(err)?;
        let refs = gitdir.join("refs");
        if refs.exists() {
            w.watch(&refs, RecursiveMode::Recursive).map_err(err)?;
        }
        Ok(())
    }

    /// Stops watching `repo`.
    pub fn unwatch_repo(&self, repo: &Path) {
        let mut map = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        let Some(gitdir) = map
            .iter()
            .find(|(_, r)| r.as_path() == repo)
            .map(|(g, _)| g.clone())
        else {
            return;
        };
        map.remove(&gitdir);
        let mut w = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        let _ = w.unwatch(&gitdir.join("refs"));
        let _ = w.unwatch(&gitdir);
    }
}

impl Drop for RefWatcher {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::fixture::{git, repo_with_commit};
    use std::time::Instant;

    async fn next(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<RefChange>,
        what: &str,
    ) -> Duration {
        let t = Instant::now();
        tokio::time::timeout(Duration::from_secs(1), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no ref change within 1 s after {what}"))
            .unwrap();
        // Drain the rest of the burst.
        tokio::time::sleep(Duration::from_millis(300)).await;
        while rx.try_recv().is_ok() {}
        t.elapsed()
    }

    #[tokio::test]
    async fn commits_update_ref_deletion_and_pack_refs_are_each_reported() {
        let (_d, repo) = repo_with_commit();
        git(&repo, "branch feature/x");
        let (tx, mut rx) = unbounded_channel();
        let w = RefWatcher::new(tx).unwrap();
        w.watch_repo(&repo).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;

        std::fs::write(repo.join("a.txt"), "changed").unwrap();
        git(&repo, "commit -q -am change");
        next(&mut rx, "a commit").await;
        git(&repo, "update-ref refs/heads/feature/x HEAD");
        next(&mut rx, "update-ref").await;
        git(&repo, "pack-refs --all");
        next(&mut rx, "pack-refs").await;
        git(&repo, "branch -D feature/x");
        next(&mut rx, "a branch deletion").await;
    }
}
