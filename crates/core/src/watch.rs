//! Watching repositories' refs (branches moved by commits, `update-ref`,
//! deletions, `pack-refs`, remote-tracking branches moved by fetch) and
//! reporting which repo moved, debounced. The engine then asks git what moved.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::git::GitError;

/// A fetch or a commit touches many files at once: wait this long for quiet.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// However long a burst goes on, report this soon after its first change.
const MAX_DELAY: Duration = Duration::from_millis(500);

/// Refs of a repository changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefChange {
    /// The repository's working directory, as registered with [`RefWatcher::watch_repo`].
    pub repo: PathBuf,
}

/// git dir → the repo path it was registered under.
type Registry = Arc<Mutex<HashMap<PathBuf, PathBuf>>>;

/// Watches repos' refs; stops (task and watcher) when dropped.
pub struct RefWatcher {
    watcher: Mutex<RecommendedWatcher>,
    repos: Registry,
    cancel: CancellationToken,
}

impl RefWatcher {
    /// A watcher that sends a [`RefChange`] per repo whose refs moved, within
    /// [`MAX_DELAY`] of the first change of a burst. Must be called inside a
    /// tokio runtime.
    ///
    /// # Errors
    /// When the platform's file watcher cannot start.
    pub fn new(tx: UnboundedSender<RefChange>) -> Result<Self, GitError> {
        let repos: Registry = Arc::default();
        let (raw_tx, raw_rx) = unbounded_channel::<PathBuf>();
        let registry = repos.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            if !is_write(&ev.kind) {
                return;
            }
            let map = registry.lock().unwrap_or_else(|p| p.into_inner());
            for p in &ev.paths {
                if let Some(repo) = repo_of_ref(&map, p) {
                    let _ = raw_tx.send(repo.clone());
                }
            }
        })
        .map_err(|e| watch_error(Path::new("(file watcher)"), &e))?;
        let cancel = CancellationToken::new();
        tokio::spawn(debounce(raw_rx, tx, cancel.clone()));
        Ok(RefWatcher {
            watcher: Mutex::new(watcher),
            repos,
            cancel,
        })
    }

    /// Starts watching `repo`'s refs: `refs/` (recursively, so new
    /// remotes and branch folders are followed), `packed-refs` and `HEAD`.
    /// Idempotent.
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
        let added = self.add_watches(&gitdir);
        if added.is_err() {
            self.forget(&gitdir);
        }
        added
    }

    fn add_watches(&self, gitdir: &Path) -> Result<(), GitError> {
        let mut w = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        // packed-refs and HEAD are replaced by rename, which only the directory
        // sees: watch the git dir itself shallowly (its events are filtered by
        // name) and refs/ deeply, never objects/, which every commit floods.
        w.watch(gitdir, RecursiveMode::NonRecursive)
            .map_err(|e| watch_error(gitdir, &e))?;
        let refs = gitdir.join("refs");
        if refs.is_dir() {
            w.watch(&refs, RecursiveMode::Recursive)
                .map_err(|e| watch_error(&refs, &e))?;
        }
        Ok(())
    }

    fn forget(&self, gitdir: &Path) {
        self.repos
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(gitdir);
        let mut w = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        let _ = w.unwatch(&gitdir.join("refs"));
        let _ = w.unwatch(gitdir);
    }

    /// Stops watching `repo` (the path given to [`RefWatcher::watch_repo`]).
    pub fn unwatch_repo(&self, repo: &Path) {
        let canonical = repo.canonicalize().ok();
        let gitdir = {
            let map = self.repos.lock().unwrap_or_else(|p| p.into_inner());
            map.iter()
                .find(|(_, r)| {
                    r.as_path() == repo
                        || r.canonicalize().ok().is_some_and(|c| Some(c) == canonical)
                })
                .map(|(g, _)| g.clone())
        };
        if let Some(gitdir) = gitdir {
            self.forget(&gitdir);
        }
    }
}

impl Drop for RefWatcher {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Writes, creations, deletions and renames; not opens or reads (the engine
/// reads refs after every change, which would otherwise report itself).
fn is_write(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(m) => !matches!(m, ModifyKind::Metadata(_)),
        EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write)) => {
            true
        }
        _ => false,
    }
}

/// The repo whose ref `path` is: `HEAD`, `packed-refs` or anything under
/// `refs/` of a registered git dir, except git's `.lock` files.
fn repo_of_ref<'a>(map: &'a HashMap<PathBuf, PathBuf>, path: &Path) -> Option<&'a PathBuf> {
    if path.extension().is_some_and(|e| e == "lock") {
        return None;
    }
    map.iter().find_map(|(gitdir, repo)| {
        let rel = path.strip_prefix(gitdir).ok()?;
        let is_ref =
            rel == Path::new("HEAD") || rel == Path::new("packed-refs") || rel.starts_with("refs");
        is_ref.then_some(repo)
    })
}

fn watch_error(path: &Path, e: &notify::Error) -> GitError {
    let hint = match e.kind {
        notify::ErrorKind::MaxFilesWatch => {
            ": the system's limit of watches is reached (raise fs.inotify.max_user_watches)"
        }
        _ => "",
    };
    GitError::Git {
        path: path.display().to_string(),
        message: format!("cannot watch for ref changes: {e}{hint}"),
    }
}

/// A burst seen for one repo.
struct Burst {
    first: Instant,
    last: Instant,
}

impl Burst {
    /// Quiet for [`DEBOUNCE`], or [`MAX_DELAY`] after it began.
    fn due(&self) -> Instant {
        (self.last + DEBOUNCE).min(self.first + MAX_DELAY)
    }
}

/// Folds raw per-file events into one [`RefChange`] per repo and burst.
async fn debounce(
    mut raw: UnboundedReceiver<PathBuf>,
    tx: UnboundedSender<RefChange>,
    stop: CancellationToken,
) {
    let mut bursts: HashMap<PathBuf, Burst> = HashMap::new();
    loop {
        let next = bursts.values().map(Burst::due).min();
        tokio::select! {
            _ = stop.cancelled() => return,
            got = raw.recv() => {
                let Some(repo) = got else { return };
                let now = Instant::now();
                bursts
                    .entry(repo)
                    .and_modify(|b| b.last = now)
                    .or_insert(Burst { first: now, last: now });
            }
            _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                let now = Instant::now();
                let ready: Vec<PathBuf> = bursts
                    .iter()
                    .filter(|(_, b)| b.due() <= now)
                    .map(|(r, _)| r.clone())
                    .collect();
                for repo in ready {
                    bursts.remove(&repo);
                    if tx.send(RefChange { repo }).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
