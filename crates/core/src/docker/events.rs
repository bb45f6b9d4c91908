//! Docker's event stream for our containers, as a small enum of actions, and
//! resubscribed (from the last event seen) when the stream breaks.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};

use super::labels::{MANAGED, PREVIEW, PROJECT, SERVICE};

/// What happened to a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerAction {
    /// Created.
    Create,
    /// Started (also after a restart-policy restart).
    Start,
    /// Its main process exited.
    Die {
        /// Exit code, when Docker gave one.
        exit_code: Option<i64>,
    },
    /// Killed by the kernel for lack of memory (a `die` follows).
    Oom,
    /// Its health check passes.
    Healthy,
    /// Its health check failed `retries` times in a row.
    Unhealthy,
    /// Restarted on request.
    Restart,
    /// Stopped on request.
    Stop,
    /// Sent a signal.
    Kill,
    /// Removed.
    Destroy,
    /// Anything else (`exec_start: …`, `attach`, `rename`, …).
    Other(String),
}

impl ContainerAction {
    /// Reads Docker's action string (`die`, `health_status: healthy`, …), and
    /// Podman's where its compat API differs (`died`).
    pub fn parse(action: &str, attributes: &HashMap<String, String>) -> Self {
        match action {
            "create" => ContainerAction::Create,
            "start" => ContainerAction::Start,
            // Podman's compat API says `died` and `containerExitCode`.
            "die" | "died" => ContainerAction::Die {
                exit_code: attributes
                    .get("exitCode")
                    .or_else(|| attributes.get("containerExitCode"))
                    .and_then(|c| c.parse().ok()),
            },
            "oom" => ContainerAction::Oom,
            "restart" => ContainerAction::Restart,
            "stop" => ContainerAction::Stop,
            "kill" => ContainerAction::Kill,
            "destroy" => ContainerAction::Destroy,
            a if a.starts_with("health_status") && a.ends_with(": healthy") => {
                ContainerAction::Healthy
            }
            a if a.starts_with("health_status") && a.ends_with(": unhealthy") => {
                ContainerAction::Unhealthy
            }
            other => ContainerAction::Other(other.to_string()),
        }
    }
}

/// A container event for one of our containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    /// Container id.
    pub id: String,
    /// What happened.
    pub kind: ContainerAction,
    /// Docker's action string (`start`, `die`, `health_status: healthy`, …).
    pub action: String,
    /// The container's labels, plus Docker's attributes (`name`, `image`, `exitCode`).
    pub attributes: HashMap<String, String>,
    /// When it happened, in nanoseconds since the epoch.
    pub time_nano: i64,
}

impl ContainerEvent {
    fn from_message(msg: EventMessage) -> Self {
        let actor = msg.actor.unwrap_or_default();
        let attributes = actor.attributes.unwrap_or_default();
        let action = msg.action.unwrap_or_default();
        ContainerEvent {
            id: actor.id.unwrap_or_default(),
            kind: ContainerAction::parse(&action, &attributes),
            action,
            attributes,
            time_nano: msg
                .time_nano
                .or(msg.time.map(|s| s * 1_000_000_000))
                .unwrap_or_default(),
        }
    }

    /// The preview the container belongs to.
    pub fn preview(&self) -> Option<&str> {
        self.attributes.get(PREVIEW).map(String::as_str)
    }

    /// Its compose project.
    pub fn project(&self) -> Option<&str> {
        self.attributes.get(PROJECT).map(String::as_str)
    }

    /// Its compose service.
    pub fn service(&self) -> Option<&str> {
        self.attributes.get(SERVICE).map(String::as_str)
    }
}

/// Container events of Branchyard-managed containers, from now on, forever.
pub fn container_events(docker: &Docker) -> impl Stream<Item = ContainerEvent> + Send + use<> {
    container_events_matching(docker, vec![format!("{MANAGED}=true")], None)
}

/// Container events of containers carrying all of `labels` (`key=value`),
/// from `since` (or now) on, forever: a broken stream (Docker restarted) is
/// logged and resubscribed from the last event seen, so nothing is lost.
pub fn container_events_matching(
    docker: &Docker,
    labels: Vec<String>,
    since: Option<SystemTime>,
) -> impl Stream<Item = ContainerEvent> + Send + use<> {
    struct State {
        docker: Docker,
        labels: Vec<String>,
        since: Option<String>,
        last_nano: i64,
        current: Option<BoxStream<'static, Result<EventMessage, bollard::errors::Error>>>,
    }
    let state = State {
        docker: docker.clone(),
        labels,
        since: since.map(timestamp),
        last_nano: 0,
        current: None,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        loop {
            let stream = s.current.get_or_insert_with(|| {
                let filters = HashMap::from([
                    ("type", vec!["container".to_string()]),
                    ("label", s.labels.clone()),
                ]);
                let mut opts = EventsOptionsBuilder::default().filters(&filters);
                if let Some(since) = &s.since {
                    opts = opts.since(since);
                }
                s.docker.events(Some(opts.build())).boxed()
            });
            match stream.next().await {
                Some(Ok(msg)) => {
                    let ev = ContainerEvent::from_message(msg);
                    // After a resubscription Docker replays from `since`: skip what we saw.
                    if ev.time_nano != 0 && ev.time_nano <= s.last_nano {
                        continue;
                    }
                    s.last_nano = s.last_nano.max(ev.time_nano);
                    return Some((ev, s));
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "docker event stream broke; resubscribing")
                }
                None => tracing::debug!("docker event stream ended; resubscribing"),
            }
            s.current = None;
            if s.last_nano > 0 {
                s.since = Some(format!(
                    "{}.{:09}",
                    s.last_nano / 1_000_000_000,
                    s.last_nano % 1_000_000_000
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// Docker's `since` format: seconds and nanoseconds since the epoch.
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_actions_map_to_the_small_enum() {
        let attrs = HashMap::from([("exitCode".to_string(), "137".to_string())]);
        assert_eq!(
            ContainerAction::parse("die", &attrs),
            ContainerAction::Die {
                exit_code: Some(137)
            }
        );
        assert_eq!(
            ContainerAction::parse("health_status: healthy", &attrs),
            ContainerAction::Healthy
        );
        assert_eq!(
            ContainerAction::parse("health_status: unhealthy", &attrs),
            ContainerAction::Unhealthy
        );
        assert_eq!(
            ContainerAction::parse("start", &attrs),
            ContainerAction::Start
        );
        assert!(matches!(
            ContainerAction::parse("exec_create: sh", &attrs),
            ContainerAction::Other(_)
        ));
    }

    #[test]
    fn podmans_died_with_its_exit_code_attribute_is_a_die() {
        let attrs = HashMap::from([("containerExitCode".to_string(), "3".to_string())]);
        assert_eq!(
            ContainerAction::parse("died", &attrs),
            ContainerAction::Die { exit_code: Some(3) }
        );
    }

    #[test]
    fn since_is_seconds_dot_nanoseconds() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 42);
        assert_eq!(timestamp(t), "1700000000.000000042");
    }
}
