//! The append-only log of every state transition.

use rusqlite::params;
use serde::Serialize;

use super::{Store, StoreError, StoreResult};
use crate::lifecycle::State;

/// One logged transition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// Position in the log.
    pub seq: i64,
    /// Preview id.
    pub preview: String,
    /// Previous state (`None` for the first).
    pub from: Option<State>,
    /// New state.
    pub to: State,
    /// What caused it (`up`, `stop`, `docker-event`, `recovery`, …).
    pub trigger: String,
    /// Why, in words; for failures the reason and the last log lines.
    pub detail: String,
    /// When (ms since epoch).
    pub at: i64,
}

impl Store {
    /// A preview's transitions, oldest first.
    pub fn transitions(&self, preview: &str) -> StoreResult<Vec<Transition>> {
        let conn = self.conn();
        let mut st = conn
            .prepare(
                "SELECT id, preview, from_state, to_state, trigger, detail, at
                 FROM transitions WHERE preview = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![preview], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(seq, preview, from, to, trigger, detail, at)| {
                Ok(Transition {
                    seq,
                    preview,
                    from: from
                        .map(|f| f.parse::<State>())
                        .transpose()
                        .map_err(StoreError::Corrupt)?,
                    to: to.parse().map_err(StoreError::Corrupt)?,
                    trigger,
                    detail,
                    at,
                })
            })
            .collect()
    }

    /// Appends a note to the log without changing state (saved logs, warnings).
    pub fn log_note(
        &self,
        preview: &str,
        state: State,
        trigger: &str,
        detail: &str,
    ) -> StoreResult<()> {
        self.conn()
            .execute(
                "INSERT INTO transitions (preview, from_state, to_state, trigger, detail, at) VALUES (?1, ?2, ?2, ?3, ?4, ?5)",
                params![preview, state.as_str(), trigger, detail, super::now_ms()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
