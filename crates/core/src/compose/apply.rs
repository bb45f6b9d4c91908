//! Applying a project on Docker: networks and volumes, image builds (in
//! parallel), containers created and started in dependency order with each
//! `depends_on` condition awaited, then health. Also stop, start and down.

mod resources;
mod run;
mod spec;

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::compose::model::Project;
use crate::docker::{DockerError, PreviewLabels};
use crate::events::{ServiceStatus, Step};

pub use resources::{down, stop};
pub use spec::{container_name, network_name, volume_name};

/// Options of [`up`].
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Where inline secrets and configs are written.
    pub state_dir: PathBuf,
    /// How long services may take to become healthy.
    pub health_timeout: Duration,
    /// Recreate every container.
    pub force_recreate: bool,
    /// Use images as they are (resume): no builds.
    pub skip_build: bool,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            state_dir: std::env::temp_dir().join("branchyard"),
            health_timeout: Duration::from_secs(120),
            force_recreate: false,
            skip_build: false,
        }
    }
}

/// What `up` reports as it goes.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A step began.
    StepStarted(Step),
    /// A step ended, with a summary.
    StepDone(Step, String),
    /// A line of output from a service's build or pull.
    Line {
        /// Compose service.
        service: String,
        /// The line.
        line: String,
    },
    /// A service's container changed state.
    Service(ServiceStatus),
}

/// Progress callback.
pub type OnProgress<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// Brings `project` to its wanted state: idempotent (unchanged services are
/// kept), recreating changed ones and removing containers of services that
/// are gone. Returns when every service runs (healthy where it has a check).
///
/// # Errors
/// Build, pull, create or start failures, unhealthy services, or cancellation.
pub async fn up(
    docker: &bollard::Docker,
    project: &Project,
    labels: &PreviewLabels,
    opts: &UpOptions,
    progress: OnProgress<'_>,
    cancel: CancellationToken,
) -> Result<(), DockerError> {
    tokio::select! {
        r = run::up(docker, project, labels, opts, progress) => r,
        _ = cancel.cancelled() => Err(DockerError::Cancelled),
    }
}

/// Starts a suspended project's containers in dependency order, as they were.
///
/// # Errors
/// As [`up`].
pub async fn start(
    docker: &bollard::Docker,
    project: &Project,
    labels: &PreviewLabels,
    health_timeout: Duration,
    progress: OnProgress<'_>,
) -> Result<(), DockerError> {
    let opts = UpOptions {
        health_timeout,
        skip_build: true,
        ..UpOptions::default()
    };
    run::up(docker, project, labels, &opts, progress).await
}
