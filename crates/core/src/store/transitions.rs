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

impl From<Transition> for crate::events::Event {
    /// The event subscribers get for a logged transition.
    fn from(t: Transition) -> Self {
        crate::events::Event::State {
            preview: t.preview,
            from: t.from,
            to: t.to,
            trigger: t.trigger,
            detail: t.detail,
        }
    }
}

/// A transitions row as stored, states still text (so a reader can skip notes,
/// whose state does not change, before parsing anything).
pub(super) struct Row {
    pub(super) seq: i64,
    preview: String,
    pub(super) from: Option<String>,
    pub(super) to: String,
    trigger: String,
    detail: String,
    at: i64,
}

/// The columns [`read_row`] reads, in its order.
pub(super) const COLUMNS: &str = "id, preview, from_state, to_state, trigger, detail, at";

/// One row selected with [`COLUMNS`].
pub(super) fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        seq: r.get(0)?,
        preview: r.get(1)?,
        from: r.get(2)?,
        to: r.get(3)?,
        trigger: r.get(4)?,
        detail: r.get(5)?,
        at: r.get(6)?,
    })
}

impl Row {
    /// The transition, its states parsed.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a state name this version does not know.
    pub(super) fn parse(self) -> StoreResult<Transition> {
        Ok(Transition {
            seq: self.seq,
            preview: self.preview,
            from: self
                .from
                .map(|f| f.parse::<State>())
                .transpose()
                .map_err(StoreError::Corrupt)?,
            to: self.to.parse().map_err(StoreError::Corrupt)?,
            trigger: self.trigger,
            detail: self.detail,
            at: self.at,
        })
    }
}

impl Store {
    /// A preview's transitions, oldest first.
    pub fn transitions(&self, preview: &str) -> StoreResult<Vec<Transition>> {
        self.query_all(
            &format!("SELECT {COLUMNS} FROM transitions WHERE preview = ?1 ORDER BY id"),
            params![preview],
            read_row,
        )?
        .into_iter()
        .map(Row::parse)
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
