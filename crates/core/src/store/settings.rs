//! Key–value settings (gateway ports, …).

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreResult};

impl Store {
    /// A setting's value, if set.
    pub fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        self.conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Sets a setting.
    pub fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        self.conn()
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
