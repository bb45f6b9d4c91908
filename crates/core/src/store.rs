//! State in SQLite under `$BRANCHYARD_HOME`: repos, previews (desired state),
//! the append-only transitions log, settings, and the leases that keep two
//! processes from acting on one preview at once.

mod external;
mod leases;
mod migrations;
mod previews;
mod repos;
mod settings;
mod transitions;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

pub use leases::{Lease, LeaseHolder};
pub use previews::{NewPreview, PreviewRecord, Urls};
pub use repos::RepoRecord;
pub use transitions::Transition;

/// Errors from the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("state database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored value could not be read back.
    #[error("state database holds an unreadable value: {0}")]
    Corrupt(String),
    /// The lifecycle does not allow this transition (another process moved the preview).
    #[error("preview {preview} is {from}; it cannot become {to} now")]
    Refused {
        /// Preview id.
        preview: String,
        /// Its current state.
        from: crate::lifecycle::State,
        /// The refused target.
        to: crate::lifecycle::State,
    },
}

/// Result with [`StoreError`].
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// One connection to the state database, shared within a process.
pub struct Store {
    conn: Mutex<Connection>,
    path: String,
    /// Transitions this process wrote, so following the log skips them.
    own: external::Own,
}

impl Store {
    /// Opens (creating and migrating) the database at `path`.
    ///
    /// # Errors
    /// When SQLite cannot open or migrate the file.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let display = path.display().to_string();
        let wrap = |source| StoreError::Sqlite {
            path: display.clone(),
            source,
        };
        let mut conn = Connection::open(path).map_err(wrap)?;
        // WAL lets the CLI read while the app writes; the busy timeout turns
        // short lock contention between processes into a wait, not an error.
        conn.busy_timeout(Duration::from_secs(5)).map_err(wrap)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(wrap)?;
        migrations::run(&mut conn).map_err(wrap)?;
        Ok(Store {
            conn: Mutex::new(conn),
            path: display,
            own: external::Own::default(),
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions
        // roll back on drop), so a poisoned mutex is safe to keep using.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every row of `sql`, mapped by `f`.
    fn query_all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        let conn = self.conn();
        let mut st = conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params, f)
            .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e));
        rows
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
