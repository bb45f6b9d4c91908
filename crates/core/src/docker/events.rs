//! Docker's event stream for Branchyard's containers, resubscribed on errors.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use futures_util::{Stream, StreamExt};

/// A container event for one of our containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    /// `start`, `die`, `health_status: healthy`, …
    pub action: String,
    /// The container's labels (and Docker's attributes).
    pub attributes: HashMap<String, String>,
}

impl ContainerEvent {
    /// The preview the container belongs to.
    pub fn preview(&self) -> Option<&str> {
        self.attributes.get("dev.branchyard.preview").map(String::as_str)
    }
}

/// Container events of Branchyard-managed containers, forever: a broken
/// stream (Docker restarted) is logged and resubscribed after a short pause.
pub fn container_events(docker: &Docker) -> impl Stream<Item = ContainerEvent> + use<> {
    let docker = docker.clone();
    futures_util::stream::unfold((docker, None), |(docker, mut current)| async move {
        loop {
            let stream = current.get_or_insert_with(|| {
                let filters = HashMap::from([
                    ("type", vec!["container".to_string()]),
                    ("label", vec!["dev.branchyard.managed=true".to_string()]),
                ]);
                docker.events(Some(EventsOptionsBuilder::default().filters(&filters).build())).boxed()
            });
            match stream.next().await {
                Some(Ok(msg)) => {
                    let actor = msg.actor.unwrap_or_default();
                    let ev = ContainerEvent {
                        action: msg.action.unwrap_or_default(),
                        attributes: actor.attributes.unwrap_or_default(),
                    };
                    return Some((ev, (docker, current)));
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "docker event stream broke; resubscribing");
                    current = None;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                None => {
                    current = None;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    })
}
