//! Docker: the client, image builds, events, logs and exec.

use crate::error::Code;

/// Errors talking to the Docker engine.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// Placeholder until the client lands.
    #[error("{0}")]
    Other(String),
}

impl DockerError {
    /// The stable code for this error.
    pub fn code(&self) -> Code {
        Code::Docker
    }
}
