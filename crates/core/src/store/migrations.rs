//! Versioned schema migrations, applied in order inside one transaction each.

use rusqlite::Connection;

/// Each entry moves the schema from version `i` to `i + 1`. Never edit one that shipped.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE repos (
    name        TEXT PRIMARY KEY,
    path        TEXT NOT NULL UNIQUE,
    trusted     INTEGER NOT NULL DEFAULT 0,
    auto_update INTEGER NOT NULL DEFAULT 0,
    added_at    INTEGER NOT NULL
);
CREATE TABLE previews (
    id          TEXT PRIMARY KEY,
    repo        TEXT NOT NULL REFERENCES repos(name),
    branch      TEXT NOT NULL,
    slug        TEXT NOT NULL,
    project     TEXT NOT NULL,
    state       TEXT NOT NULL,
    desired     TEXT NOT NULL,
    commit_sha  TEXT,
    outdated_sha TEXT,
    branch_gone INTEGER NOT NULL DEFAULT 0,
    worktree    TEXT NOT NULL,
    urls        TEXT NOT NULL DEFAULT '[]',
    error       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (repo, branch),
    UNIQUE (repo, slug)
);
CREATE TABLE transitions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    preview    TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    trigger    TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '',
    at         INTEGER NOT NULL
);
CREATE INDEX transitions_by_preview ON transitions (preview, id);
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE leases (
    preview    TEXT PRIMARY KEY,
    pid        INTEGER NOT NULL,
    pid_start  TEXT NOT NULL,
    op         TEXT NOT NULL,
    journal    TEXT NOT NULL DEFAULT '[]',
    started_at INTEGER NOT NULL
);
"#,
    // The compose services a preview runs, so a removed container is noticed.
    r#"
ALTER TABLE previews ADD COLUMN services TEXT NOT NULL DEFAULT '[]';
"#,
];

/// Brings the schema up to date.
pub fn run(conn: &mut Connection) -> rusqlite::Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        // Two processes may open a new database at once: take the write lock,
        // then look again at the version under it.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current as usize > i {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn).unwrap();
        run(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
    }
}
