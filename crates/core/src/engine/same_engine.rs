//! Previews stay on the engine they were made on. This Engine remembers that
//! engine's identity; reaching another while previews exist (another
//! DOCKER_HOST in this shell, a changed context) is refused before anything is
//! read or changed, so another engine's state is never shown as theirs.

use super::endpoint::{describe, Connection, ENGINE_ID, ENGINE_SEEN};
use super::Engine;
use crate::docker::endpoint::{EndpointError, EngineInfo, Located, DEFAULT_CONTEXT};
use crate::error::Result;

impl Engine {
    /// Refuses a connection to another engine than the previews'; with no
    /// previews (or no engine remembered yet), this engine becomes theirs.
    ///
    /// # Errors
    /// [`EndpointError::OtherEngine`] naming the previews, both engines and the fixes.
    pub(super) async fn check_same_engine(&self, c: &Connection) -> Result<()> {
        let identity = c.info.identity(&c.located.endpoint);
        let stored = self.store().setting(ENGINE_ID)?.filter(|s| !s.is_empty());
        if stored.as_deref() == Some(identity.as_str()) {
            return Ok(());
        }
        let previews: Vec<String> = self.store().previews()?.into_iter().map(|p| p.id).collect();
        if stored.is_none() || previews.is_empty() {
            return self.adopt(&c.located, &c.info);
        }
        let source = &c.located.endpoint.source;
        Err(EndpointError::OtherEngine {
            previews,
            was: self
                .store()
                .setting(ENGINE_SEEN)?
                .unwrap_or_else(|| "the engine used before".into()),
            now: describe(&c.located, &c.info),
            back: source.how_to_change(),
            use_name: source.context().unwrap_or(DEFAULT_CONTEXT).to_string(),
        }
        .into())
    }

    /// Remembers this engine as the previews' engine.
    pub(super) fn adopt(&self, l: &Located, i: &EngineInfo) -> Result<()> {
        self.store()
            .set_setting(ENGINE_ID, &i.identity(&l.endpoint))?;
        self.store().set_setting(ENGINE_SEEN, &describe(l, i))?;
        Ok(())
    }
}
