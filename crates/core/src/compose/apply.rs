//! Applying a project on Docker, natively (no `docker compose`): networks and
//! volumes, image builds in parallel, containers created and started in
//! dependency order with each `depends_on` condition awaited, then health.
//! Also stop, start, down, and undo of exactly what a failed run created.

mod follow;
mod hooks;
mod images;
mod linking;
mod monitor;
mod resources;
mod run;
mod spec;
mod start;
mod teardown;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

use crate::compose::model::Project;
use crate::compose::plan::Action;
use crate::docker::{DockerError, PreviewLabels};
use crate::events::{ServiceStatus, Step};

pub use crate::compose::plan::container_name;
pub use spec::{image_of, network_name, volume_name};
pub use teardown::{down, remove_stopped, stop, stop_all, undo, DownReport, Stopped};

/// Options of [`up`].
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Where inline (`content:`/`environment:`) secrets and configs are written.
    pub state_dir: PathBuf,
    /// How long a service may take to become healthy (or a dependency's condition to hold).
    pub health_timeout: Duration,
    /// Recreate every container, even unchanged ones.
    pub force_recreate: bool,
    /// Use images as they are (resume): no builds.
    pub skip_build: bool,
    /// How long a service without a health check must stay up to count as
    /// started: a container that exits within it fails `up`.
    pub settle: Duration,
    /// Records what this run creates, readable even when `up` fails or is cancelled.
    pub record: AppliedLog,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            state_dir: std::env::temp_dir().join("branchyard"),
            health_timeout: Duration::from_secs(120),
            force_recreate: false,
            skip_build: false,
            settle: Duration::from_millis(200),
            record: AppliedLog::default(),
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

/// What one run of `up` did: what it created (for an exact undo) and what it
/// decided per service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Networks this run created.
    pub networks: Vec<String>,
    /// Named volumes this run created.
    pub volumes: Vec<String>,
    /// Containers this run created (recorded just before each create).
    pub containers: Vec<String>,
    /// Image tags this run built (kept on undo: they are the build cache).
    pub images: Vec<String>,
    /// Containers this run removed (of gone services, or replaced).
    pub removed: Vec<String>,
    /// What the plan said per service.
    pub actions: IndexMap<String, Action>,
}

/// A shared, growing [`Applied`]: `up` writes to it as it goes, so a caller
/// still knows what was created when `up` fails or is cancelled.
#[derive(Debug, Clone, Default)]
pub struct AppliedLog(Arc<Mutex<Applied>>);

impl AppliedLog {
    /// What was recorded so far.
    pub fn snapshot(&self) -> Applied {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Applied)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Brings `project` to its wanted state: idempotent (unchanged services are
/// kept), recreating changed ones and removing containers of services that
/// are gone. Returns when every service runs (healthy where it has a check).
/// What it created is also in `opts.record`, for undo after a failure.
///
/// # Errors
/// [`DockerError::Build`], [`DockerError::ImageMissing`], [`DockerError::Start`]
/// (exited, unhealthy, crash-looping, timed out) with the service's last log
/// lines, [`DockerError::ExternalMissing`], [`DockerError::Cancelled`].
pub async fn up(
    docker: &bollard::Docker,
    project: &Project,
    labels: &PreviewLabels,
    opts: &UpOptions,
    progress: OnProgress<'_>,
    cancel: CancellationToken,
) -> Result<Applied, DockerError> {
    run::up(docker, project, labels, opts, progress, &cancel).await?;
    Ok(opts.record.snapshot())
}

/// Starts a stopped project's containers in dependency order, awaiting each
/// `depends_on` condition and health; a missing container is created (from
/// the image as it is: nothing is built).
///
/// # Errors
/// As [`up`].
pub async fn start(
    docker: &bollard::Docker,
    project: &Project,
    labels: &PreviewLabels,
    health_timeout: Duration,
    progress: OnProgress<'_>,
) -> Result<Applied, DockerError> {
    let opts = UpOptions {
        health_timeout,
        skip_build: true,
        ..UpOptions::default()
    };
    run::up(
        docker,
        project,
        labels,
        &opts,
        progress,
        &CancellationToken::new(),
    )
    .await?;
    Ok(opts.record.snapshot())
}
