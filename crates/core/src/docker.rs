//! Docker: the client, labels, image builds, events, logs and exec.

mod build;
mod events;
mod exec;
pub(crate) mod labels;
mod logs;

use bollard::Docker;

use crate::error::Code;

pub use build::build_image;
pub use events::{container_events, ContainerEvent};
pub use exec::{exec, ExecOutcome};
pub use labels::PreviewLabels;
pub use logs::{last_lines, logs, LogLine};

/// Errors talking to the Docker engine.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// Docker does not answer.
    #[error("Docker is not reachable ({0}): start Docker (e.g. `dockerd &`, or Docker Desktop) and try again")]
    Unreachable(String),
    /// An image build failed.
    #[error("building {service} failed: {message}\n{log_tail}")]
    Build {
        /// Compose service.
        service: String,
        /// Docker's error.
        message: String,
        /// The build's last output lines.
        log_tail: String,
    },
    /// A service did not start or did not become healthy.
    #[error("service {service} {message}")]
    Start {
        /// Compose service.
        service: String,
        /// What went wrong (`exited with code 7`, `is unhealthy`, …).
        message: String,
        /// Its last log lines.
        log_tail: String,
    },
    /// An image is not present and cannot be pulled.
    #[error("image {image} (service {service}) is not present locally and could not be pulled ({message}): build it first, or give the service a `build:` section")]
    ImageMissing {
        /// Compose service.
        service: String,
        /// Image reference.
        image: String,
        /// Why the pull failed.
        message: String,
    },
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// Any other Docker failure, with what we were doing.
    #[error("{0}")]
    Other(String),
}

impl DockerError {
    /// The stable code for this error.
    pub fn code(&self) -> Code {
        match self {
            DockerError::Build { .. } => Code::Build,
            DockerError::Start { .. } | DockerError::ImageMissing { .. } => Code::Start,
            DockerError::Cancelled => Code::Invalid,
            DockerError::Unreachable(_) | DockerError::Other(_) => Code::Docker,
        }
    }

    /// Wraps a bollard error with what we were doing.
    pub fn from_bollard(action: &str, e: bollard::errors::Error) -> Self {
        DockerError::Other(format!("{action}: {e}"))
    }
}

/// Connects to the local Docker engine and checks that it answers.
///
/// # Errors
/// [`DockerError::Unreachable`] with how to start Docker.
pub async fn connect() -> Result<Docker, DockerError> {
    let docker = Docker::connect_with_local_defaults().map_err(|e| DockerError::Unreachable(e.to_string()))?;
    let docker = docker.negotiate_version().await.map_err(|e| DockerError::Unreachable(e.to_string()))?;
    docker.ping().await.map_err(|e| DockerError::Unreachable(e.to_string()))?;
    Ok(docker)
}

/// Whether a bollard error is a 404.
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}
