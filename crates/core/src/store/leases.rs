//! Leases: at most one process acts on a preview at a time, and an interrupted
//! run leaves its saga journal behind for the next engine start to undo.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{now_ms, Store, StoreResult};

/// Who holds a preview right now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaseHolder {
    /// Process id.
    pub pid: u32,
    /// The operation under way (`up`, `stop`, …).
    pub op: String,
    /// Since when (ms since epoch).
    pub started_at: i64,
}

/// A lease whose process is gone: its journal says what to undo.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    /// Preview id.
    pub preview: String,
    /// The operation that was interrupted.
    pub op: String,
    /// The saga journal (JSON).
    pub journal: String,
}

/// A stable identity for a live process: its pid plus its start time, so a
/// recycled pid is not mistaken for the process that took the lease.
fn process_identity(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime); fields after the `)` that closes the command name start at 3.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace();
    // A zombie (killed, not yet reaped) is as dead as it gets.
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18).map(str::to_string)
}

/// Whether the process that took a lease is still running.
fn holder_alive(pid: u32, start: &str) -> bool {
    if cfg!(target_os = "linux") {
        process_identity(pid).is_some_and(|s| s == start)
    } else {
        // Without /proc we cannot tell; assume alive so we never act twice.
        true
    }
}

impl Store {
    /// Takes the lease on `preview` for this process.
    ///
    /// Returns `Ok(Err(holder))` when a live process holds it, and
    /// `Ok(Ok(Some(stale)))` when a dead process left one behind (taken over; the
    /// caller must undo its journal first).
    pub fn acquire_lease(
        &self,
        preview: &str,
        op: &str,
    ) -> StoreResult<Result<Option<Lease>, LeaseHolder>> {
        let pid = std::process::id();
        let me = process_identity(pid).unwrap_or_default();
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let existing: Option<(u32, String, String, String, i64)> = tx
            .query_row(
                "SELECT pid, pid_start, op, journal, started_at FROM leases WHERE preview = ?1",
                [preview],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let mut stale = None;
        if let Some((hpid, hstart, hop, journal, started_at)) = existing {
            if holder_alive(hpid, &hstart) {
                return Ok(Err(LeaseHolder {
                    pid: hpid,
                    op: hop,
                    started_at,
                }));
            }
            stale = Some(Lease {
                preview: preview.to_string(),
                op: hop,
                journal,
            });
        }
        tx.execute(
            "INSERT INTO leases (preview, pid, pid_start, op, journal, started_at) VALUES (?1, ?2, ?3, ?4, '[]', ?5)
             ON CONFLICT(preview) DO UPDATE SET pid = excluded.pid, pid_start = excluded.pid_start,
               op = excluded.op, journal = '[]', started_at = excluded.started_at",
            params![preview, pid, me, op, now_ms()],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Ok(stale))
    }

    /// Saves the saga journal of the lease this process holds.
    pub fn set_lease_journal(&self, preview: &str, journal: &str) -> StoreResult<()> {
        self.conn()
            .execute(
                "UPDATE leases SET journal = ?2 WHERE preview = ?1 AND pid = ?3",
                params![preview, journal, std::process::id()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Releases the lease this process holds.
    pub fn release_lease(&self, preview: &str) -> StoreResult<()> {
        self.conn()
            .execute(
                "DELETE FROM leases WHERE preview = ?1 AND pid = ?2",
                params![preview, std::process::id()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Previews whose lease was left by a process that is gone.
    pub fn stale_leases(&self) -> StoreResult<Vec<Lease>> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT preview, pid, pid_start, op, journal FROM leases")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .filter(|(_, pid, start, _, _)| !holder_alive(*pid, start))
            .map(|(preview, _, _, op, journal)| Lease {
                preview,
                op,
                journal,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        (dir, s)
    }

    #[test]
    fn a_second_taker_sees_the_live_holder() {
        let (_d, s) = store();
        assert_eq!(s.acquire_lease("a.r", "up").unwrap(), Ok(None));
        // Same process again: our own lease is live, so this is busy too.
        let held = s.acquire_lease("a.r", "stop").unwrap().unwrap_err();
        assert_eq!(held.op, "up");
        assert_eq!(held.pid, std::process::id());
        s.release_lease("a.r").unwrap();
        assert_eq!(s.acquire_lease("a.r", "stop").unwrap(), Ok(None));
    }

    #[test]
    fn a_dead_holder_leaves_a_stale_lease_with_its_journal() {
        let (_d, s) = store();
        s.conn()
            .execute(
                "INSERT INTO leases (preview, pid, pid_start, op, journal, started_at) VALUES ('a.r', 999999, 'x', 'up', '[1]', 0)",
                [],
            )
            .unwrap();
        let stale = s.stale_leases().unwrap();
        assert_eq!(stale.len(), 1);
        let taken = s.acquire_lease("a.r", "up").unwrap().unwrap();
        assert_eq!(taken.map(|l| l.journal), Some("[1]".to_string()));
    }
}
