//! Docker: reaching the engine (`endpoint`), labels, image builds, events, logs and exec.

mod build;
mod client;
pub mod endpoint;
mod events;
mod exec;
pub mod labels;
mod logs;

use crate::error::Code;

pub use build::{build_image, context_tar};
pub use client::{connect, is_not_found, list_containers_labelled, list_project_containers};
pub use events::{container_events, container_events_matching, ContainerAction, ContainerEvent};
pub(crate) use exec::run as run_exec;
pub use exec::{exec, exec_streaming, ExecOutcome, ExecRequest};
pub use labels::PreviewLabels;
pub use logs::{last_lines, logs, LogLine};

/// Errors talking to the Docker engine, building images or starting services.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// An image build failed.
    #[error(
        "building the image of service {service} failed: {message}\nlast build output:\n{log_tail}"
    )]
    Build {
        /// Compose service.
        service: String,
        /// Docker's error.
        message: String,
        /// The build's last output lines.
        log_tail: String,
    },
    /// A service did not start or did not become healthy.
    #[error("service {service} {message}{}", tail_suffix(log_tail))]
    Start {
        /// Compose service.
        service: String,
        /// Its exit code, when it exited.
        exit_code: Option<i64>,
        /// What went wrong (`exited with code 7`, `is unhealthy`, …).
        message: String,
        /// Its last log lines.
        log_tail: String,
    },
    /// An image is not present and cannot be pulled.
    #[error("image {image} (service {service}) is not present locally and could not be pulled (no registry reachable?): build it or add a build: section ({message})")]
    ImageMissing {
        /// Compose service.
        service: String,
        /// Image reference.
        image: String,
        /// Why the pull failed.
        message: String,
    },
    /// A network or volume declared `external: true` does not exist.
    #[error("{kind} {name} is declared external but does not exist: create it with `docker {kind} create {name}` or drop `external: true`")]
    ExternalMissing {
        /// `network` or `volume`.
        kind: &'static str,
        /// Its Docker name.
        name: String,
    },
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// Any other Docker failure, with what we were doing.
    #[error("{0}")]
    Other(String),
}

fn tail_suffix(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("\nlast log lines:\n{}", tail.trim_end())
    }
}

impl DockerError {
    /// The stable code for this error.
    pub fn code(&self) -> Code {
        match self {
            DockerError::Build { .. } => Code::Build,
            DockerError::Start { .. } | DockerError::ImageMissing { .. } => Code::Start,
            DockerError::ExternalMissing { .. } => Code::Config,
            DockerError::Cancelled => Code::Invalid,
            DockerError::Other(_) => Code::Docker,
        }
    }

    /// Wraps a bollard error with what we were doing (`creating network x`).
    pub fn from_bollard(action: &str, e: bollard::errors::Error) -> Self {
        DockerError::Other(format!("{action}: {}", describe(&e)))
    }
}

/// Docker's own message for server errors (without bollard's wrapping).
pub(crate) fn describe(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_the_code_the_ui_acts_on() {
        let build = DockerError::Build {
            service: "web".into(),
            message: "x".into(),
            log_tail: String::new(),
        };
        let start = DockerError::Start {
            service: "web".into(),
            exit_code: Some(3),
            message: "exited".into(),
            log_tail: "boom".into(),
        };
        assert_eq!(build.code(), Code::Build);
        assert_eq!(start.code(), Code::Start);
        assert_eq!(DockerError::Other("x".into()).code(), Code::Docker);
        assert!(
            start.to_string().contains("boom"),
            "the log tail is part of the message: {start}"
        );
    }
}
