//! Following one started container through Docker's events until it has
//! settled: healthy (with a health check), up for the settle time (without),
//! exited 0 (a one-shot job); or failed: exited, unhealthy, crash-looping,
//! too slow. Each change is published to the services that depend on it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::{ContainerStateStatusEnum, HealthStatusEnum};
use bollard::query_parameters::InspectContainerOptions;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::{OnProgress, Progress};
use crate::docker::{last_lines, ContainerAction, ContainerEvent, DockerError};
use crate::events::{ServiceState, ServiceStatus};

/// A crash-looping container fails `up` after this many exits.
const MAX_EXITS: u32 = 3;
/// Log lines kept in a start failure.
const TAIL: usize = 30;

/// Where a service is, as its dependents see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Not started yet.
    Waiting,
    /// Running (health unknown or starting).
    Running,
    /// Health check passing.
    Healthy,
    /// Exited with this code (0: completed; a failure is [`Phase::Failed`]).
    Exited(i64),
    /// Failed, or not started because something else failed.
    Failed,
}

/// What following a container must wait for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wait {
    /// Until healthy (it has a health check, or a dependent waits for health).
    pub health: bool,
    /// Until it exits (a dependent waits for it to complete).
    pub exit: bool,
    /// Up this long without a health check counts as started.
    pub settle: Duration,
    /// Give up then.
    pub deadline: Instant,
}

/// The container to follow.
pub(super) struct Target<'a> {
    /// Docker.
    pub docker: &'a bollard::Docker,
    /// Compose service.
    pub service: &'a str,
    /// Which replica, from 1.
    pub number: u32,
    /// Container name.
    pub container: String,
    /// Container id (events carry ids).
    pub id: String,
    /// `restart:` policy.
    pub restart: Option<&'a str>,
}

/// One container being followed.
pub(super) struct Follow<'a> {
    /// What is followed.
    pub target: Target<'a>,
    /// Where dependents read this service's phase.
    pub tx: &'a watch::Sender<Phase>,
    /// Progress callback.
    pub progress: OnProgress<'a>,
    /// What to wait for.
    pub wait: Wait,
    last: Option<ServiceState>,
    exits: u32,
    oom: bool,
    started: Instant,
    /// Events older than this (ns since the epoch) are replays from before we acted.
    not_before: i64,
}

impl<'a> Follow<'a> {
    /// A container about to be followed.
    pub(super) fn new(
        target: Target<'a>,
        tx: &'a watch::Sender<Phase>,
        progress: OnProgress<'a>,
        wait: Wait,
    ) -> Self {
        Follow {
            target,
            tx,
            progress,
            wait,
            last: None,
            exits: 0,
            oom: false,
            started: Instant::now(),
            not_before: 0,
        }
    }

    /// Called just before acting on the container (start, or a first
    /// inspect): older events, which the subscription replays, are ignored.
    pub(super) fn arm(&mut self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.not_before = i64::try_from(now.as_nanos()).unwrap_or(i64::MAX);
    }

    /// Publishes a state to the progress callback (on change) and a phase to dependents.
    pub(super) fn publish(&mut self, phase: Phase, state: ServiceState) {
        self.tx.send_replace(phase);
        if self.last != Some(state) {
            self.last = Some(state);
            (self.progress)(Progress::Service(ServiceStatus {
                service: self.target.service.to_string(),
                container: self.target.container.clone(),
                replica: self.target.number,
                state,
                exit_code: match phase {
                    Phase::Exited(c) => Some(c),
                    _ => None,
                },
                restarts: i64::from(self.exits),
                started_at: None,
            }));
        }
    }

    /// A start failure with the container's last log lines.
    async fn fail(&self, exit_code: Option<i64>, message: String) -> DockerError {
        let log_tail = last_lines(self.target.docker, &self.target.container, TAIL)
            .await
            .unwrap_or_default();
        DockerError::Start {
            service: self.target.service.to_string(),
            exit_code,
            message,
            log_tail,
        }
    }

    /// The container was just started.
    pub(super) fn started(&mut self) {
        self.started = Instant::now();
        let state = if self.wait.health {
            ServiceState::Starting
        } else {
            ServiceState::Running
        };
        self.publish(Phase::Running, state);
    }

    /// Reads the container's state once (for one that was already running,
    /// or when events were lost); `Some` when it has settled.
    pub(super) async fn inspect(&mut self) -> Result<Option<()>, DockerError> {
        let c = self
            .target
            .docker
            .inspect_container(&self.target.container, None::<InspectContainerOptions>)
            .await
            .map_err(|e| {
                DockerError::from_bollard(&format!("inspecting {}", self.target.container), e)
            })?;
        let st = c.state.unwrap_or_default();
        let health = st.health.as_ref().and_then(|h| h.status);
        match st.status {
            Some(ContainerStateStatusEnum::RUNNING) => {}
            Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD) => {
                let code = st.exit_code.unwrap_or(-1);
                return self.exited(code).await;
            }
            _ => return Ok(None),
        }
        if self.wait.health
            && matches!(
                health,
                None | Some(HealthStatusEnum::NONE | HealthStatusEnum::EMPTY)
            )
        {
            let msg = "has no health check, but a service waits for it to be healthy: add a healthcheck, or depend on it with condition: service_started";
            return Err(self.fail(None, msg.into()).await);
        }
        match health {
            Some(HealthStatusEnum::HEALTHY) => self.on(ContainerAction::Healthy).await,
            Some(HealthStatusEnum::UNHEALTHY) => self.on(ContainerAction::Unhealthy).await,
            _ => {
                self.started();
                // Already up and nothing to wait for: no settle time either.
                Ok((!self.wait.health && !self.wait.exit).then_some(()))
            }
        }
    }

    /// Follows events until settled.
    ///
    /// # Errors
    /// [`DockerError::Start`] when it exits non-zero, keeps restarting, turns
    /// unhealthy or does not settle in time.
    pub(super) async fn run(
        &mut self,
        rx: &mut broadcast::Receiver<ContainerEvent>,
    ) -> Result<(), DockerError> {
        loop {
            let settled_at = self.started + self.wait.settle;
            let just_settle = !self.wait.health && !self.wait.exit;
            let wake = if just_settle {
                settled_at.min(self.wait.deadline)
            } else {
                self.wait.deadline
            };
            tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(ev) if ev.id == self.target.id && ev.time_nano >= self.not_before => {
                        if self.on(ev.kind).await?.is_some() {
                            return Ok(());
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if self.inspect().await?.is_some() {
                            return Ok(());
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        return Err(DockerError::Other(format!("lost Docker's event stream while starting {}", self.target.service)));
                    }
                },
                () = tokio::time::sleep_until(wake) => {
                    if just_settle && Instant::now() >= settled_at && self.last != Some(ServiceState::Restarting) {
                        return Ok(());
                    }
                    if Instant::now() >= self.wait.deadline {
                        let what = if self.wait.health { "become healthy" } else if self.wait.exit { "complete" } else { "start" };
                        let secs = self.wait.deadline.saturating_duration_since(self.started).as_secs();
                        return Err(self.fail(None, format!("did not {what} within {secs} s")).await);
                    }
                }
            }
        }
    }

    /// Handles one event; `Some` when the container has settled.
    async fn on(&mut self, action: ContainerAction) -> Result<Option<()>, DockerError> {
        match action {
            ContainerAction::Start => self.started(),
            ContainerAction::Oom => self.oom = true,
            ContainerAction::Die { exit_code } => {
                return self.exited(exit_code.unwrap_or(-1)).await
            }
            ContainerAction::Healthy => {
                self.publish(Phase::Healthy, ServiceState::Healthy);
                if self.wait.health {
                    return Ok(Some(()));
                }
            }
            ContainerAction::Unhealthy if self.wait.health => {
                self.publish(Phase::Running, ServiceState::Unhealthy);
                return Err(self
                    .fail(None, "is unhealthy: its health check keeps failing".into())
                    .await);
            }
            ContainerAction::Destroy => {
                return Err(self
                    .fail(None, "was removed while it was starting".into())
                    .await);
            }
            _ => {}
        }
        Ok(None)
    }

    /// The main process exited with `code`.
    async fn exited(&mut self, code: i64) -> Result<Option<()>, DockerError> {
        self.exits += 1;
        let oom = if std::mem::take(&mut self.oom) {
            " (killed: out of memory)"
        } else {
            ""
        };
        if restarts(self.target.restart, code, self.exits) {
            self.publish(Phase::Running, ServiceState::Restarting);
            if self.exits >= MAX_EXITS {
                let msg = format!(
                    "keeps restarting: exited {} times, last with code {code}{oom}",
                    self.exits
                );
                return Err(self.fail(Some(code), msg).await);
            }
            return Ok(None);
        }
        let state = if oom.is_empty() {
            ServiceState::Exited
        } else {
            ServiceState::OomKilled
        };
        // A failed exit is final for dependents at once, before its logs are read.
        self.publish(
            if code == 0 {
                Phase::Exited(0)
            } else {
                Phase::Failed
            },
            state,
        );
        if code == 0 {
            // A one-shot job (migrations, seeding) that completed.
            return Ok(Some(()));
        }
        Err(self
            .fail(Some(code), format!("exited with code {code}{oom}"))
            .await)
    }
}

/// Whether Docker restarts a container under `policy` after its `exits`-th exit with `code`.
fn restarts(policy: Option<&str>, code: i64, exits: u32) -> bool {
    match policy.unwrap_or("no") {
        "always" | "unless-stopped" => true,
        "on-failure" => code != 0,
        p => match p.strip_prefix("on-failure:").map(str::parse::<u32>) {
            Some(Ok(max)) => code != 0 && exits <= max,
            Some(Err(_)) => code != 0,
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::restarts;

    #[test]
    fn restart_policies_decide_whether_an_exit_is_final() {
        assert!(!restarts(None, 1, 1));
        assert!(!restarts(Some("no"), 1, 1));
        assert!(restarts(Some("always"), 0, 1));
        assert!(restarts(Some("on-failure"), 2, 1));
        assert!(!restarts(Some("on-failure"), 0, 1));
        assert!(restarts(Some("on-failure:2"), 1, 2));
        assert!(
            !restarts(Some("on-failure:2"), 1, 3),
            "after its retries Docker gives up"
        );
    }
}
