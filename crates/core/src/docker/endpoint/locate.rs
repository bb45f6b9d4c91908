//! Resolution and probing together: the one endpoint to use now.

use serde::Serialize;

use super::env::EnvSnapshot;
use super::error::EndpointError;
use super::host::Endpoint;
use super::probe::{self, Os};
use super::resolve::{resolve, Resolution};

/// The endpoint chosen, and what the user should know about the choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located {
    /// How to reach the engine.
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// Notes (a context shadowed by DOCKER_HOST, …).
    pub notes: Vec<String>,
}

/// Resolves the endpoint for `flag` and `setting` in `env`, probing the
/// well-known sockets only when nothing names an engine.
///
/// # Errors
/// As [`resolve`], and [`EndpointError::NoEngine`] when no socket answers.
pub async fn locate(
    flag: Option<&str>,
    setting: Option<&str>,
    env: &EnvSnapshot,
) -> Result<Located, EndpointError> {
    match resolve(flag, setting, env, Os::current())? {
        Resolution::Named { endpoint, notes } => Ok(Located { endpoint, notes }),
        Resolution::Probe { candidates, notes } => Ok(Located {
            endpoint: probe::first_answering(&candidates).await?,
            notes,
        }),
    }
}
