//! Sagas: an operation as steps, each recording how to undo itself in a journal
//! that is saved before the step's effects can exist, so a failure (or the
//! process dying) can be undone in reverse order.

use serde::{Deserialize, Serialize};

use crate::store::Store;

/// How to undo one effect. Serialized into the lease's journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "snake_case")]
pub enum Undo {
    /// A worktree this run created: remove it (it has no user work yet).
    RemoveWorktree {
        /// The user's repository.
        repo_path: String,
        /// The worktree.
        path: String,
        /// Git's worktree name.
        name: String,
    },
    /// Containers, networks and volumes of a project this run created from nothing.
    DownProject {
        /// Compose project name.
        project: String,
        /// Volumes that existed before the run (kept).
        volumes_before: Vec<String>,
    },
    /// Routes this run pushed.
    RemoveRoutes {
        /// Host names.
        hosts: Vec<String>,
    },
    /// The gateway joined the project's network.
    DisconnectGateway {
        /// Network name.
        network: String,
    },
}

/// Runs compensations; implemented by the engine, which owns Docker, git and the gateway.
pub trait Compensate {
    /// Undoes one effect; failures are logged by the caller and the rest still run.
    fn compensate(
        &self,
        undo: &Undo,
    ) -> impl std::future::Future<Output = crate::Result<()>> + Send;
}

/// The journal of one running operation on one preview.
pub struct Saga<'a> {
    store: &'a Store,
    preview: String,
    journal: Vec<Undo>,
}

impl<'a> Saga<'a> {
    /// Starts an empty journal for `preview` (whose lease the caller holds).
    pub fn new(store: &'a Store, preview: &str) -> Self {
        Saga {
            store,
            preview: preview.to_string(),
            journal: Vec::new(),
        }
    }

    /// Records an undo and saves the journal *before* the effect happens.
    ///
    /// # Errors
    /// When the journal cannot be saved (then the effect must not be attempted).
    pub fn record(&mut self, undo: Undo) -> crate::Result<()> {
        if self.journal.contains(&undo) {
            return Ok(());
        }
        self.journal.push(undo);
        self.save()
    }

    fn save(&self) -> crate::Result<()> {
        let json = serde_json::to_string(&self.journal)
            .map_err(|e| crate::Error::Internal(format!("saga journal: {e}")))?;
        self.store.set_lease_journal(&self.preview, &json)?;
        Ok(())
    }

    /// Forgets the journal: the operation succeeded and its effects stay.
    ///
    /// # Errors
    /// When the journal cannot be saved.
    pub fn commit(mut self) -> crate::Result<()> {
        self.journal.clear();
        self.save()
    }

    /// Undoes everything recorded, newest first; returns what failed to undo.
    pub async fn rollback(self, by: &impl Compensate) -> Vec<String> {
        rollback(&self.preview, self.journal, by).await
    }
}

/// Parses a saved journal.
pub fn parse_journal(json: &str) -> Vec<Undo> {
    serde_json::from_str(json).unwrap_or_default()
}

/// Undoes `journal` newest first; returns a line per undo that failed.
pub async fn rollback(preview: &str, journal: Vec<Undo>, by: &impl Compensate) -> Vec<String> {
    let mut failures = Vec::new();
    for undo in journal.into_iter().rev() {
        let span = tracing::info_span!("undo", preview, ?undo);
        let _g = span.enter();
        if let Err(e) = by.compensate(&undo).await {
            tracing::warn!(error = %e, "undo failed");
            failures.push(format!("{undo:?}: {e}"));
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Recorder(Mutex<Vec<Undo>>);

    impl Compensate for Recorder {
        async fn compensate(&self, undo: &Undo) -> crate::Result<()> {
            self.0.lock().unwrap().push(undo.clone());
            Ok(())
        }
    }

    #[tokio::test]
    async fn rollback_undoes_newest_first_and_the_journal_survives_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        store.acquire_lease("p.r", "up").unwrap().unwrap();
        let mut saga = Saga::new(&store, "p.r");
        let a = Undo::DisconnectGateway {
            network: "n".into(),
        };
        let b = Undo::RemoveRoutes {
            hosts: vec!["p.r.localhost".into()],
        };
        saga.record(a.clone()).unwrap();
        saga.record(b.clone()).unwrap();
        let saved = store
            .conn()
            .query_row(
                "SELECT journal FROM leases WHERE preview = 'p.r'",
                [],
                |r| r.get::<_, String>(0),
            )
            .unwrap();
        assert_eq!(
            parse_journal(&saved),
            vec![a.clone(), b.clone()],
            "journal is saved as recorded"
        );
        let rec = Recorder(Mutex::new(Vec::new()));
        assert!(saga.rollback(&rec).await.is_empty());
        assert_eq!(*rec.0.lock().unwrap(), vec![b, a], "undo runs newest first");
    }
}
