//! One subscription to Docker's events for a project's containers, fanned out
//! to every service being started: start, die, health, without polling.

use std::time::{Duration, SystemTime};

use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::docker::labels::PROJECT;
use crate::docker::{container_events_matching, ContainerEvent};

/// Events of one project's containers while `up` runs; stops when dropped.
pub(super) struct Monitor {
    tx: broadcast::Sender<ContainerEvent>,
    task: JoinHandle<()>,
}

impl Monitor {
    /// Subscribes to `project`'s container events. Docker replays events from
    /// a moment before now, so nothing that happens after this call is missed
    /// even while the subscription is still being set up.
    pub(super) fn start(docker: &Docker, project: &str) -> Self {
        let (tx, _) = broadcast::channel(1024);
        let since = SystemTime::now() - Duration::from_secs(1);
        let mut events = Box::pin(container_events_matching(
            docker,
            vec![format!("{PROJECT}={project}")],
            Some(since),
        ));
        let sender = tx.clone();
        let task = tokio::spawn(async move {
            while let Some(ev) = events.next().await {
                // No receiver (between services) is fine: each one subscribes before it acts.
                let _ = sender.send(ev);
            }
        });
        Monitor { tx, task }
    }

    /// A receiver of events from now on; subscribe before acting on a container.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<ContainerEvent> {
        self.tx.subscribe()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}
