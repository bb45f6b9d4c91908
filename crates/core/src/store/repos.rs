//! Registered repositories.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::{now_ms, Store, StoreResult};

/// A repository Branchyard previews.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepoRecord {
    /// Short DNS-safe name, used in URLs.
    pub name: String,
    /// Absolute path of the user's repository.
    pub path: String,
    /// Whether unsafe compose settings are allowed.
    pub trusted: bool,
    /// Whether previews follow their branch by themselves.
    pub auto_update: bool,
    /// When it was added (ms since epoch).
    pub added_at: i64,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<RepoRecord> {
    Ok(RepoRecord {
        name: r.get(0)?,
        path: r.get(1)?,
        trusted: r.get(2)?,
        auto_update: r.get(3)?,
        added_at: r.get(4)?,
    })
}

const COLUMNS: &str = "name, path, trusted, auto_update, added_at";

impl Store {
    /// Adds a repository; `Ok(false)` when the name or path is taken.
    pub fn insert_repo(&self, name: &str, path: &str, trusted: bool) -> StoreResult<bool> {
        let n = self
            .conn()
            .execute(
                "INSERT OR IGNORE INTO repos (name, path, trusted, auto_update, added_at) VALUES (?1, ?2, ?3, 0, ?4)",
                params![name, path, trusted, now_ms()],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// All repositories, by name.
    pub fn repos(&self) -> StoreResult<Vec<RepoRecord>> {
        self.query_all(
            &format!("SELECT {COLUMNS} FROM repos ORDER BY name"),
            [],
            from_row,
        )
    }

    /// One repository by name.
    pub fn repo(&self, name: &str) -> StoreResult<Option<RepoRecord>> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM repos WHERE name = ?1"),
                [name],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// One repository by its path.
    pub fn repo_by_path(&self, path: &str) -> StoreResult<Option<RepoRecord>> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM repos WHERE path = ?1"),
                [path],
                from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Sets `trusted`; `Ok(false)` when no such repo.
    pub fn set_repo_trusted(&self, name: &str, trusted: bool) -> StoreResult<bool> {
        let n = self
            .conn()
            .execute(
                "UPDATE repos SET trusted = ?2 WHERE name = ?1",
                params![name, trusted],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// Sets `auto_update`; `Ok(false)` when no such repo.
    pub fn set_repo_auto_update(&self, name: &str, on: bool) -> StoreResult<bool> {
        let n = self
            .conn()
            .execute(
                "UPDATE repos SET auto_update = ?2 WHERE name = ?1",
                params![name, on],
            )
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    /// Removes a repository record.
    pub fn delete_repo(&self, name: &str) -> StoreResult<bool> {
        let n = self
            .conn()
            .execute("DELETE FROM repos WHERE name = ?1", [name])
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }
}
