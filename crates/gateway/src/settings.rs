//! The settings the engine changes at run time (`PUT /config`), persisted as
//! `config.json` beside the route table.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::error::GatewayError;
use crate::routes::persist;

// The run-time settings as the protocol defines them.
pub use branchyard_protocol::GatewayConfig;

/// The live settings, read without locks.
#[derive(Debug, Clone)]
pub struct SettingsStore {
    current: Arc<ArcSwap<GatewayConfig>>,
    file: Option<PathBuf>,
}

impl SettingsStore {
    /// The settings saved in `file`, defaults when absent or unreadable.
    pub fn load(file: Option<PathBuf>) -> Self {
        let saved = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| match serde_json::from_slice::<GatewayConfig>(&b) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "config.json is unreadable; using defaults");
                    None
                }
            })
            .unwrap_or_default();
        SettingsStore {
            current: Arc::new(ArcSwap::from_pointee(saved)),
            file,
        }
    }

    /// The current settings.
    pub fn get(&self) -> Arc<GatewayConfig> {
        self.current.load_full()
    }

    /// A short-lived look at the current settings, for the request path: unlike
    /// [`Self::get`] it bumps no shared reference count, which every worker thread
    /// would otherwise write on every request.
    pub fn peek(&self) -> arc_swap::Guard<Arc<GatewayConfig>> {
        self.current.load()
    }

    /// Saves then applies `next`.
    ///
    /// # Errors
    /// [`GatewayError::Persist`] when the file cannot be written (nothing changes).
    pub fn set(&self, next: GatewayConfig) -> Result<(), GatewayError> {
        if let Some(p) = &self.file {
            persist(p, &next).map_err(|e| GatewayError::Persist {
                path: p.display().to_string(),
                cause: e.to_string(),
            })?;
        }
        self.current.store(Arc::new(next));
        Ok(())
    }
}
