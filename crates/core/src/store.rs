//! State in SQLite under `$BRANCHYARD_HOME`.

/// Errors from the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Placeholder until the module lands.
    #[error("{0}")]
    Other(String),
}
