//! The one stream of changes the engine publishes: the CLI prints it, the app
//! forwards it to the window and the tray.

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::lifecycle::State;

/// A step of bringing a preview up, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Check out the branch into the preview's worktree.
    Worktree,
    /// Load, check and plan the compose project.
    Plan,
    /// Networks and volumes.
    Resources,
    /// Image builds.
    Build,
    /// Create and start containers.
    Start,
    /// Wait for health.
    Health,
    /// Route through the gateway.
    Route,
}

impl Step {
    /// Human name of the step.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Worktree => "worktree",
            Step::Plan => "plan",
            Step::Resources => "networks and volumes",
            Step::Build => "build",
            Step::Start => "create and start",
            Step::Health => "health",
            Step::Route => "route",
        }
    }
}

/// How a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Under way.
    Started,
    /// Done.
    Done,
    /// Failed (the preview becomes failed).
    Failed,
}

/// A container's state as Docker reports it, per compose service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Created, not started.
    Created,
    /// Running, no health check or not yet reported.
    Running,
    /// Health check starting.
    Starting,
    /// Health check passing.
    Healthy,
    /// Health check failing.
    Unhealthy,
    /// Restarting after an exit.
    Restarting,
    /// Stopped or exited.
    Exited,
    /// Killed for running out of memory.
    OomKilled,
    /// Container removed.
    Removed,
}

/// One service's live status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// Compose service name.
    pub service: String,
    /// Container name.
    pub container: String,
    /// Which replica of the service, from 1 (`com.docker.compose.container-number`).
    #[serde(default = "first_replica")]
    pub replica: u32,
    /// State.
    pub state: ServiceState,
    /// Exit code when exited.
    pub exit_code: Option<i64>,
    /// Restarts Docker counted.
    pub restarts: i64,
    /// When the container last started (RFC 3339), if running.
    pub started_at: Option<String>,
}

fn first_replica() -> u32 {
    1
}

/// Everything the engine tells its clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A preview changed lifecycle state.
    State {
        /// Preview id.
        preview: String,
        /// Previous state.
        from: Option<State>,
        /// New state.
        to: State,
        /// What caused it.
        trigger: String,
        /// Why.
        detail: String,
    },
    /// A step of an operation started, finished or failed.
    Step {
        /// Preview id.
        preview: String,
        /// Which step.
        step: Step,
        /// How it went.
        status: StepStatus,
        /// Extra words (what changed, how long it took, why it failed).
        detail: String,
    },
    /// A line of build or start output.
    Output {
        /// Preview id.
        preview: String,
        /// Service it comes from.
        service: String,
        /// The line.
        line: String,
    },
    /// A service's container changed.
    Service {
        /// Preview id.
        preview: String,
        /// Its status now.
        status: ServiceStatus,
    },
    /// The preview's branch moved past the commit it runs.
    Outdated {
        /// Preview id.
        preview: String,
        /// The branch's new head.
        head: String,
    },
    /// The preview's branch was deleted.
    BranchGone {
        /// Preview id.
        preview: String,
    },
    /// Something the user should know that is not an error.
    Warning {
        /// Preview id, when it concerns one.
        preview: Option<String>,
        /// The message.
        message: String,
    },
}

impl Event {
    /// The preview an event concerns, if any.
    pub fn preview(&self) -> Option<&str> {
        match self {
            Event::State { preview, .. }
            | Event::Step { preview, .. }
            | Event::Output { preview, .. }
            | Event::Service { preview, .. }
            | Event::Outdated { preview, .. }
            | Event::BranchGone { preview } => Some(preview),
            Event::Warning { preview, .. } => preview.as_deref(),
        }
    }
}

/// The sending half, cheap to clone; sending with no subscriber is not an error.
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<Event>,
}

impl Events {
    /// A new stream with room for `capacity` unread events per subscriber.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        Events { tx }
    }

    /// Publishes an event.
    pub fn send(&self, e: Event) {
        tracing::trace!(event = ?e, "event");
        let _ = self.tx.send(e);
    }

    /// A new subscriber that sees events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
