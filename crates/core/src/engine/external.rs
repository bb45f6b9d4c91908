//! Lifecycle changes made by other processes (the CLI, another engine) reach
//! this engine's subscribers: every commit to the state database writes its
//! WAL file, so a file watch on it wakes us, and we read the transitions
//! logged since the last one seen. No polling.

use std::path::{Path, PathBuf};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::error::{Error, Result};

impl Engine {
    /// Publishes [`Event::State`] for every transition another process logs,
    /// until `cancel` fires. Transitions this process made were published
    /// when they happened and are not repeated.
    ///
    /// # Errors
    /// When the state database cannot be read or its folder cannot be watched.
    pub async fn follow_other_processes(&self, cancel: CancellationToken) -> Result<()> {
        let mut changes = self.db_changes()?;
        // Start after what is already there: the past is in `status`, not news.
        let mut last = self.store().last_transition_seq()?;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    last = self.publish_foreign(last);
                }
            }
        }
    }

    /// A receiver marked changed after commits to the state database by any
    /// process, this one included (a burst of commits marks it once). One file
    /// watch per engine, however many follow it: the window's follower of other
    /// processes and `serve`'s idle timer share it.
    ///
    /// # Errors
    /// When the database's folder cannot be watched.
    pub(super) fn db_changes(&self) -> Result<watch::Receiver<()>> {
        let mut slot = self
            .inner
            .db_watch
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(w) = slot.as_ref() {
            return Ok(w.tx.subscribe());
        }
        let (tx, rx) = watch::channel(());
        let watcher = watch_db(&self.home().db_path(), tx.clone())?;
        *slot = Some(DbWatch {
            tx,
            _watcher: watcher,
        });
        Ok(rx)
    }

    /// Publishes foreign transitions after `last`; the newest sequence read.
    fn publish_foreign(&self, last: i64) -> i64 {
        let (seen, newest) = match self.store().foreign_transitions_after(last) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read transitions of other processes");
                return last;
            }
        };
        for t in seen {
            tracing::debug!(preview = %t.preview, to = %t.to, trigger = %t.trigger, "transition by another process");
            // Not `publish`: the other process pushed its own routes.
            self.emit(t.into());
        }
        newest
    }
}

/// The engine's watch of its database, and where it announces changes.
pub(super) struct DbWatch {
    tx: watch::Sender<()>,
    _watcher: RecommendedWatcher,
}

/// Watches the database's folder and marks `tx` when the database or its WAL
/// is written (the folder, because SQLite deletes and recreates the WAL).
fn watch_db(db: &Path, tx: watch::Sender<()>) -> Result<RecommendedWatcher> {
    let dir = db.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    let mut wal = name.clone();
    wal.push("-wal");
    let wanted: [PathBuf; 2] = [dir.join(&name), dir.join(&wal)];
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        let write = matches!(
            ev.kind,
            notify::EventKind::Modify(_) | notify::EventKind::Create(_)
        );
        if write && ev.paths.iter().any(|p| wanted.contains(p)) {
            tx.send_replace(());
        }
    })
    .map_err(|e| watch_failed(&dir, &e))?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| watch_failed(&dir, &e))?;
    Ok(watcher)
}

fn watch_failed(dir: &Path, e: &notify::Error) -> Error {
    Error::Invalid(format!(
        "cannot watch {} for changes by other Branchyard processes: {e}; \
         the window shows them after the next change it makes itself or a restart",
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::events::Event;
    use crate::lifecycle::State;
    use crate::paths::Home;
    use crate::store::{NewPreview, Store};

    #[tokio::test]
    async fn a_transition_written_by_another_process_reaches_subscribers_once() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(Home::at(dir.path()).unwrap()).unwrap();
        // The "CLI": its own connection to the same database, as another process has.
        let cli = Store::open(&engine.home().db_path()).unwrap();
        cli.insert_repo("shop", "/tmp/shop", false).unwrap();
        let new = NewPreview::main_shop();
        cli.insert_preview(&new, "up").unwrap();

        let mut rx = engine.subscribe();
        let cancel = CancellationToken::new();
        let follower = tokio::spawn({
            let (engine, cancel) = (engine.clone(), cancel.clone());
            async move { engine.follow_other_processes(cancel).await }
        });
        // Let the watch start before writing (what was there before is not news).
        tokio::time::sleep(Duration::from_millis(200)).await;
        cli.transition("main.shop", State::Preparing, "up", "")
            .unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("no event within 5 s of another process's transition")
            .unwrap();
        assert_eq!(
            ev,
            Event::State {
                preview: "main.shop".into(),
                from: Some(State::Pending),
                to: State::Preparing,
                trigger: "up".into(),
                detail: String::new(),
            }
        );
        // The engine's own transition was published by itself: not repeated.
        engine
            .transition("main.shop", State::Failed, "up", "boom")
            .unwrap();
        assert!(matches!(
            rx.recv().await.unwrap(),
            Event::State {
                to: State::Failed,
                ..
            }
        ));
        cli.transition("main.shop", State::Stopping, "stop", "")
            .unwrap();
        let next = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("no event for the second foreign transition")
            .unwrap();
        assert!(
            matches!(
                next,
                Event::State {
                    to: State::Stopping,
                    ..
                }
            ),
            "the engine's own transition came back: {next:?}"
        );
        cancel.cancel();
        follower.await.unwrap().unwrap();
    }
}
