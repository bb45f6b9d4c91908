//! Reading the transitions log as it grows, for transitions other processes
//! (the CLI, a second engine) wrote: this process already published its own.

use std::collections::HashSet;
use std::sync::Mutex;

use rusqlite::params;

use super::transitions::{read_row, COLUMNS};
use super::{Store, StoreResult, Transition};

/// Sequence numbers of the transitions this process wrote.
#[derive(Debug, Default)]
pub(crate) struct Own(Mutex<HashSet<i64>>);

impl Own {
    /// Remembers that this process wrote transition `seq`.
    pub(crate) fn mark(&self, seq: i64) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(seq);
    }

    /// Whether this process wrote `seq`; forgets it (each is read once).
    fn take(&self, seq: i64) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&seq)
    }
}

impl Store {
    /// The newest transition's sequence number (0 when the log is empty).
    pub fn last_transition_seq(&self) -> StoreResult<i64> {
        self.conn()
            .query_row("SELECT COALESCE(MAX(id), 0) FROM transitions", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
    }

    /// State changes logged after `seq` by other processes, oldest first,
    /// and the newest sequence number read. Notes (state unchanged) are left out.
    pub fn foreign_transitions_after(&self, seq: i64) -> StoreResult<(Vec<Transition>, i64)> {
        let rows = self.query_all(
            &format!("SELECT {COLUMNS} FROM transitions WHERE id > ?1 ORDER BY id"),
            params![seq],
            read_row,
        )?;
        let mut last = seq;
        let mut out = Vec::new();
        for row in rows {
            last = last.max(row.seq);
            if self.own.take(row.seq) || row.from.as_deref() == Some(row.to.as_str()) {
                continue;
            }
            out.push(row.parse()?);
        }
        Ok((out, last))
    }
}

#[cfg(test)]
mod tests {
    use crate::lifecycle::State;
    use crate::store::{NewPreview, Store};

    #[test]
    fn only_transitions_of_other_connections_are_foreign() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let app = Store::open(&db).unwrap();
        let cli = Store::open(&db).unwrap();
        app.insert_repo("shop", "/tmp/shop", false).unwrap();
        let start = app.last_transition_seq().unwrap();
        let new = NewPreview::main_shop();
        app.insert_preview(&new, "up").unwrap();
        app.transition("main.shop", State::Preparing, "up", "")
            .unwrap();
        cli.transition("main.shop", State::Failed, "cli", "boom")
            .unwrap();
        cli.log_note("main.shop", State::Failed, "logs", "saved")
            .unwrap();

        let (seen, last) = app.foreign_transitions_after(start).unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].from, Some(State::Preparing));
        assert_eq!(seen[0].to, State::Failed);
        assert_eq!(seen[0].trigger, "cli");
        assert_eq!(last, app.last_transition_seq().unwrap());
        // The other side sees the app's two as foreign, not its own.
        let (theirs, _) = cli.foreign_transitions_after(start).unwrap();
        assert_eq!(
            theirs.iter().map(|t| t.to).collect::<Vec<_>>(),
            [State::Pending, State::Preparing]
        );
        assert!(app.foreign_transitions_after(last).unwrap().0.is_empty());
    }
}
