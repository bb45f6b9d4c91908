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
    /// Who chose it, in words (`DOCKER_HOST`, `docker context colima (currentContext in …)`).
    pub chosen_by: String,
    /// Notes (a context shadowed by DOCKER_HOST, …).
    pub notes: Vec<String>,
}

impl Located {
    fn new(endpoint: Endpoint, notes: Vec<String>) -> Self {
        Located {
            chosen_by: endpoint.source.to_string(),
            endpoint,
            notes,
        }
    }
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
        Resolution::Named { endpoint, notes } => Ok(Located::new(endpoint, notes)),
        Resolution::Probe { candidates, notes } => Ok(Located::new(
            probe::first_answering(&candidates).await?,
            notes,
        )),
    }
}
