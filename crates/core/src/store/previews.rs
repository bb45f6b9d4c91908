//! Preview records: what the user asked for and where each preview stands.

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{now_ms, Store, StoreError, StoreResult, Transition};
use crate::lifecycle::State;

/// One routed URL of a preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Urls {
    /// Compose service behind it.
    pub service: String,
    /// Host name the gateway routes.
    pub host: String,
    /// Full URL to open.
    pub url: String,
}

/// A preview as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewRecord {
    /// `<branch-slug>.<repo>`.
    pub id: String,
    /// Repository name.
    pub repo: String,
    /// Branch name as in git.
    pub branch: String,
    /// DNS-safe branch slug.
    pub slug: String,
    /// Compose project name.
    pub project: String,
    /// Current lifecycle state.
    pub state: State,
    /// What the user wants: `running`, `stopped`.
    pub desired: String,
    /// Commit the preview runs (or is moving to).
    pub commit_sha: Option<String>,
    /// The branch's newer head when it moved after the last update.
    pub outdated_sha: Option<String>,
    /// The branch no longer exists.
    pub branch_gone: bool,
    /// Worktree path.
    pub worktree: String,
    /// Routed URLs.
    pub urls: Vec<Urls>,
    /// Last failure, if the preview is failed; what is down, if it is degraded.
    pub error: Option<String>,
    /// Created (ms since epoch).
    pub created_at: i64,
    /// Last changed (ms since epoch).
    pub updated_at: i64,
    /// The compose services it runs, as of its last `up` or `start`, each
    /// once per replica: one without a container is down.
    pub services: Vec<String>,
}

const COLUMNS: &str = "id, repo, branch, slug, project, state, desired, commit_sha, outdated_sha, branch_gone, worktree, urls, error, created_at, updated_at, services";

fn from_row(r: &Row<'_>) -> rusqlite::Result<PreviewRecord> {
    let state: String = r.get(5)?;
    let urls: String = r.get(11)?;
    let services: String = r.get(15)?;
    Ok(PreviewRecord {
        id: r.get(0)?,
        repo: r.get(1)?,
        branch: r.get(2)?,
        slug: r.get(3)?,
        project: r.get(4)?,
        state: state.parse().map_err(|e: String| {
            rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, e.into())
        })?,
        desired: r.get(6)?,
        commit_sha: r.get(7)?,
        outdated_sha: r.get(8)?,
        branch_gone: r.get(9)?,
        worktree: r.get(10)?,
        urls: serde_json::from_str(&urls).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(11, rusqlite::types::Type::Text, e.into())
        })?,
        error: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        services: serde_json::from_str(&services).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(15, rusqlite::types::Type::Text, e.into())
        })?,
    })
}

/// What a new preview record needs.
#[derive(Debug, Clone)]
pub struct NewPreview<'a> {
    /// `<slug>.<repo>`.
    pub id: &'a str,
    /// Repository name.
    pub repo: &'a str,
    /// Branch.
    pub branch: &'a str,
    /// Branch slug.
    pub slug: &'a str,
    /// Compose project name.
    pub project: &'a str,
    /// Worktree path.
    pub worktree: &'a str,
}

#[cfg(test)]
impl NewPreview<'static> {
    /// `main.shop` (branch `main` of repo `shop`), for tests.
    pub(crate) fn main_shop() -> Self {
        NewPreview {
            id: "main.shop",
            repo: "shop",
            branch: "main",
            slug: "main",
            project: "shop--main",
            worktree: "/nowhere",
        }
    }
}

impl Store {
    /// Inserts a preview in state `pending`, logging its first transition.
    pub fn insert_preview(&self, p: &NewPreview<'_>, trigger: &str) -> StoreResult<()> {
        let mut conn = self.conn();
        // IMMEDIATE: take the write lock up front, so a concurrent writer makes us
        // wait (busy timeout) instead of failing on a lock upgrade.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let now = now_ms();
        tx.execute(
            "INSERT INTO previews (id, repo, branch, slug, project, state, desired, worktree, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 'running', ?6, ?7, ?7)",
            params![p.id, p.repo, p.branch, p.slug, p.project, p.worktree, now],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO transitions (preview, from_state, to_state, trigger, detail, at) VALUES (?1, NULL, 'pending', ?2, '', ?3)",
            params![p.id, trigger, now],
        )
        .map_err(|e| self.err(e))?;
        let seq = tx.last_insert_rowid();
        tx.commit().map_err(|e| self.err(e))?;
        self.own.mark(seq);
        Ok(())
    }

    /// All previews, by id.
    pub fn previews(&self) -> StoreResult<Vec<PreviewRecord>> {
        self.query_all(
            &format!("SELECT {COLUMNS} FROM previews ORDER BY id"),
            [],
            from_row,
        )
    }

    /// One preview by id.
    pub fn preview(&self, id: &str) -> StoreResult<Option<PreviewRecord>> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM previews WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The preview of `branch` in `repo`, if any.
    pub fn preview_of(&self, repo: &str, branch: &str) -> StoreResult<Option<PreviewRecord>> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM previews WHERE repo = ?1 AND branch = ?2"),
                [repo, branch],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Moves a preview to `to` if the lifecycle allows it from its current state,
    /// appending the transition to the log in the same transaction.
    ///
    /// # Errors
    /// [`StoreError::Refused`] when the transition is not allowed.
    pub fn transition(
        &self,
        id: &str,
        to: State,
        trigger: &str,
        detail: &str,
    ) -> StoreResult<Transition> {
        self.transition_checked(id, None, to, trigger, detail)
    }

    /// [`Store::transition`], only if the preview is still in `from`: what an
    /// observer uses (serve seeing Docker), so it never overrides a state an
    /// operation moved to meanwhile.
    ///
    /// # Errors
    /// [`StoreError::Refused`] when the preview is no longer in `from`.
    pub fn transition_from(
        &self,
        id: &str,
        from: State,
        to: State,
        trigger: &str,
        detail: &str,
    ) -> StoreResult<Transition> {
        self.transition_checked(id, Some(from), to, trigger, detail)
    }

    fn transition_checked(
        &self,
        id: &str,
        expect: Option<State>,
        to: State,
        trigger: &str,
        detail: &str,
    ) -> StoreResult<Transition> {
        let mut conn = self.conn();
        // IMMEDIATE: take the write lock up front, so a concurrent writer makes us
        // wait (busy timeout) instead of failing on a lock upgrade.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let from: String = tx
            .query_row("SELECT state FROM previews WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        let from: State = from.parse().map_err(StoreError::Corrupt)?;
        if !from.can_become(to) || expect.is_some_and(|e| e != from) {
            return Err(StoreError::Refused {
                preview: id.to_string(),
                from,
                to,
            });
        }
        let now = now_ms();
        // What went wrong, while it is wrong: a failed run, or a degraded service.
        let error = matches!(to, State::Failed | State::Degraded).then_some(detail);
        tx.execute(
            "UPDATE previews SET state = ?2, updated_at = ?3, error = ?4 WHERE id = ?1",
            params![id, to.as_str(), now, error],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO transitions (preview, from_state, to_state, trigger, detail, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, from.as_str(), to.as_str(), trigger, detail, now],
        )
        .map_err(|e| self.err(e))?;
        let seq = tx.last_insert_rowid();
        tx.commit().map_err(|e| self.err(e))?;
        self.own.mark(seq);
        Ok(Transition {
            seq,
            preview: id.to_string(),
            from: Some(from),
            to,
            trigger: trigger.to_string(),
            detail: detail.to_string(),
            at: now,
        })
    }

    /// Records the commit the preview now runs and clears `outdated`.
    pub fn set_preview_commit(&self, id: &str, sha: &str) -> StoreResult<()> {
        self.update(
            "UPDATE previews SET commit_sha = ?2, outdated_sha = NULL, branch_gone = 0, updated_at = ?3 WHERE id = ?1",
            params![id, sha, now_ms()],
        )
    }

    /// Records the routed URLs.
    pub fn set_preview_urls(&self, id: &str, urls: &[Urls]) -> StoreResult<()> {
        let json = serde_json::to_string(urls).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.update(
            "UPDATE previews SET urls = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, json, now_ms()],
        )
    }

    /// Records the compose services the preview runs.
    pub fn set_preview_services(&self, id: &str, services: &[String]) -> StoreResult<()> {
        let json =
            serde_json::to_string(services).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.update(
            "UPDATE previews SET services = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, json, now_ms()],
        )
    }

    /// Records what the user wants (`running` or `stopped`).
    pub fn set_preview_desired(&self, id: &str, desired: &str) -> StoreResult<()> {
        self.update(
            "UPDATE previews SET desired = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, desired, now_ms()],
        )
    }

    /// Marks the branch as moved to `sha` (or clears the mark with `None`).
    pub fn set_preview_outdated(&self, id: &str, sha: Option<&str>) -> StoreResult<()> {
        self.update(
            "UPDATE previews SET outdated_sha = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, sha, now_ms()],
        )
    }

    /// Marks the branch as deleted from the repository (or back).
    pub fn set_preview_branch_gone(&self, id: &str, gone: bool) -> StoreResult<()> {
        self.update(
            "UPDATE previews SET branch_gone = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, gone, now_ms()],
        )
    }

    /// Deletes the record (its transitions stay in the log).
    pub fn delete_preview(&self, id: &str) -> StoreResult<()> {
        self.update("DELETE FROM previews WHERE id = ?1", params![id])
    }

    /// Records what is down in a preview that is still degraded (another
    /// service went down as one came back); `false` when it is no longer degraded.
    pub fn set_degraded_reason(&self, id: &str, reason: &str) -> StoreResult<bool> {
        let n = self
            .conn()
            .execute(
                "UPDATE previews SET error = ?2, updated_at = ?3 WHERE id = ?1 AND state = 'degraded'",
                params![id, reason, now_ms()],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    fn update(&self, sql: &str, p: impl rusqlite::Params) -> StoreResult<()> {
        self.conn().execute(sql, p).map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        s.insert_repo("shop", "/tmp/shop", false).unwrap();
        (dir, s)
    }

    fn new<'a>(id: &'a str, branch: &'a str, slug: &'a str) -> NewPreview<'a> {
        NewPreview {
            id,
            repo: "shop",
            branch,
            slug,
            project: "p",
            worktree: "/w",
        }
    }

    #[test]
    fn transitions_follow_the_table_and_are_logged() {
        let (_d, s) = store();
        s.insert_preview(&new("main.shop", "main", "main"), "up")
            .unwrap();
        s.transition("main.shop", State::Preparing, "up", "")
            .unwrap();
        let refused = s.transition("main.shop", State::Ready, "up", "");
        assert!(
            matches!(refused, Err(StoreError::Refused { .. })),
            "preparing must not jump to ready"
        );
        s.transition("main.shop", State::Failed, "up", "boom")
            .unwrap();
        let rec = s.preview("main.shop").unwrap().unwrap();
        assert_eq!(rec.state, State::Failed);
        assert_eq!(rec.error.as_deref(), Some("boom"));
        let log = s.transitions("main.shop").unwrap();
        let tos: Vec<_> = log.iter().map(|t| t.to).collect();
        assert_eq!(tos, [State::Pending, State::Preparing, State::Failed]);
    }

    #[test]
    fn an_observed_transition_applies_only_from_the_state_it_saw() {
        let (_d, s) = store();
        s.insert_preview(&new("main.shop", "main", "main"), "up")
            .unwrap();
        for to in [State::Preparing, State::Starting, State::Ready] {
            s.transition("main.shop", to, "up", "").unwrap();
        }
        s.transition_from(
            "main.shop",
            State::Ready,
            State::Degraded,
            "docker",
            "web exited with code 137 (killed)",
        )
        .unwrap();
        let rec = s.preview("main.shop").unwrap().unwrap();
        assert_eq!(rec.state, State::Degraded);
        assert_eq!(
            rec.error.as_deref(),
            Some("web exited with code 137 (killed)"),
            "the reason is kept on the record"
        );
        // web came back as api went down: still degraded, for the new reason.
        assert!(s
            .set_degraded_reason("main.shop", "api is unhealthy")
            .unwrap());
        let rec = s.preview("main.shop").unwrap().unwrap();
        assert_eq!(rec.error.as_deref(), Some("api is unhealthy"));
        // `start` took it meanwhile: the observer's stale ready must not land.
        s.transition("main.shop", State::Starting, "start", "")
            .unwrap();
        assert!(
            !s.set_degraded_reason("main.shop", "late").unwrap(),
            "a reason is only recorded while degraded"
        );
        let stale = s.transition_from("main.shop", State::Degraded, State::Ready, "docker", "");
        assert!(
            matches!(stale, Err(StoreError::Refused { .. })),
            "starting -> ready belongs to start, not to the observer"
        );
        s.transition("main.shop", State::Ready, "start", "")
            .unwrap();
        let rec = s.preview("main.shop").unwrap().unwrap();
        assert_eq!(rec.error, None, "a ready preview has no error");
    }

    #[test]
    fn one_branch_has_one_preview_per_repo() {
        let (_d, s) = store();
        s.insert_preview(&new("main.shop", "main", "main"), "up")
            .unwrap();
        assert!(s.insert_preview(&new("x.shop", "main", "x"), "up").is_err());
    }
}
