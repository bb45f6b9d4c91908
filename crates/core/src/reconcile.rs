//! Docker labels are the truth for what runs: each preview's services are read
//! back from the containers that carry its compose project label, and anything
//! labelled as ours that no preview owns is an orphan.

use std::collections::{HashMap, HashSet};

use bollard::models::{ContainerStateStatusEnum, HealthStatusEnum};
use bollard::query_parameters::{
    InspectContainerOptions, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::future::join_all;

use crate::docker::DockerError;
use crate::events::{ServiceState, ServiceStatus};

/// Compose's project label.
pub const PROJECT: &str = "com.docker.compose.project";
/// Compose's service label.
pub const SERVICE: &str = "com.docker.compose.service";
/// Everything Branchyard creates carries this label.
pub const MANAGED: &str = "dev.branchyard.managed";
/// The Branchyard home (its id) an object belongs to: `gc` only ever touches its own.
pub const HOME: &str = "dev.branchyard.home";
/// The gateway's own objects carry this label (never orphans).
pub const GATEWAY: &str = "dev.branchyard.gateway";

fn docker_err(what: &str) -> impl Fn(bollard::errors::Error) -> DockerError + '_ {
    move |e| DockerError::Other(format!("{what}: {e}"))
}

/// The status of every service container of `project`, by service name.
///
/// # Errors
/// When Docker cannot list the containers.
pub async fn service_statuses(
    docker: &Docker,
    project: &str,
) -> Result<Vec<ServiceStatus>, DockerError> {
    let list = crate::docker::list_project_containers(docker, project).await?;
    let inspections = join_all(
        list.iter()
            .filter_map(|c| c.id.clone())
            .map(|id| async move {
                docker
                    .inspect_container(&id, None::<InspectContainerOptions>)
                    .await
            }),
    )
    .await;
    let mut out: Vec<ServiceStatus> = inspections
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|c| {
            let labels = c.config.as_ref()?.labels.clone().unwrap_or_default();
            let service = labels.get(SERVICE)?.clone();
            let st = c.state?;
            let health = st.health.as_ref().and_then(|h| h.status);
            let state = if st.oom_killed == Some(true) && st.running != Some(true) {
                ServiceState::OomKilled
            } else {
                match (st.status, health) {
                    (Some(ContainerStateStatusEnum::RESTARTING), _) => ServiceState::Restarting,
                    (Some(ContainerStateStatusEnum::RUNNING), Some(HealthStatusEnum::HEALTHY)) => {
                        ServiceState::Healthy
                    }
                    (
                        Some(ContainerStateStatusEnum::RUNNING),
                        Some(HealthStatusEnum::UNHEALTHY),
                    ) => ServiceState::Unhealthy,
                    (Some(ContainerStateStatusEnum::RUNNING), Some(HealthStatusEnum::STARTING)) => {
                        ServiceState::Starting
                    }
                    (Some(ContainerStateStatusEnum::RUNNING), _) => ServiceState::Running,
                    (Some(ContainerStateStatusEnum::CREATED), _) => ServiceState::Created,
                    _ => ServiceState::Exited,
                }
            };
            let running = matches!(
                state,
                ServiceState::Running
                    | ServiceState::Healthy
                    | ServiceState::Unhealthy
                    | ServiceState::Starting
            );
            let replica = labels
                .get(crate::docker::labels::CONTAINER_NUMBER)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            Some(ServiceStatus {
                service,
                replica,
                container: c
                    .name
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                exit_code: (state == ServiceState::Exited || state == ServiceState::OomKilled)
                    .then_some(st.exit_code)
                    .flatten(),
                state,
                restarts: c.restart_count.unwrap_or(0),
                started_at: running.then_some(st.started_at).flatten(),
            })
        })
        .collect();
    // Replica 1 first: `exec`, `logs` and the health probe default to it.
    out.sort_by(|a, b| (&a.service, a.replica).cmp(&(&b.service, b.replica)));
    Ok(out)
}

/// A container's name without Docker's leading `/`.
fn container_name(c: &bollard::models::ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// A Docker object labelled as ours that no preview owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphaned {
    /// `container`, `network` or `volume`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// The compose project it claims.
    pub project: String,
}

/// Containers, networks and volumes labelled as Branchyard's whose compose
/// project is not in `known` (the gateway's own objects excluded).
///
/// # Errors
/// When Docker cannot list them.
pub async fn orphaned_objects(
    docker: &Docker,
    known: &HashSet<String>,
    home_id: &str,
) -> Result<Vec<Orphaned>, DockerError> {
    // Only this home's objects: another home (another user, a test run) owns the rest.
    let scope = vec![format!("{MANAGED}=true"), format!("{HOME}={home_id}")];
    let filters = HashMap::from([("label", scope.clone())]);
    let mut out = Vec::new();
    let keep = |labels: &HashMap<String, String>| {
        labels.contains_key(GATEWAY) || labels.get(PROJECT).is_none_or(|p| known.contains(p))
    };
    for c in crate::docker::list_containers_labelled(docker, &scope).await? {
        let labels = c.labels.clone().unwrap_or_default();
        if !keep(&labels) {
            out.push(Orphaned {
                kind: "container",
                name: container_name(&c),
                project: labels.get(PROJECT).cloned().unwrap_or_default(),
            });
        }
    }
    for n in docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(docker_err("listing networks"))?
    {
        let labels = n.labels.unwrap_or_default();
        if !keep(&labels) {
            out.push(Orphaned {
                kind: "network",
                name: n.name.unwrap_or_default(),
                project: labels.get(PROJECT).cloned().unwrap_or_default(),
            });
        }
    }
    let vols = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(docker_err("listing volumes"))?;
    for v in vols.volumes.unwrap_or_default() {
        if !keep(&v.labels) {
            out.push(Orphaned {
                kind: "volume",
                name: v.name,
                project: v.labels.get(PROJECT).cloned().unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// Removes an orphan (containers forcibly: nothing owns them).
///
/// # Errors
/// When Docker refuses.
pub async fn remove_orphan(docker: &Docker, o: &Orphaned) -> Result<(), DockerError> {
    let r = match o.kind {
        "container" => {
            docker
                .remove_container(
                    &o.name,
                    Some(
                        RemoveContainerOptionsBuilder::default()
                            .force(true)
                            .v(true)
                            .build(),
                    ),
                )
                .await
        }
        "network" => {
            // The gateway (or anything else) still attached would block removal.
            if let Ok(n) = docker.inspect_network(&o.name, None).await {
                for id in n.containers.unwrap_or_default().into_keys() {
                    let _ = docker
                        .disconnect_network(
                            &o.name,
                            bollard::models::NetworkDisconnectRequest {
                                container: id,
                                force: Some(true),
                            },
                        )
                        .await;
                }
            }
            docker.remove_network(&o.name).await
        }
        _ => {
            docker
                .remove_volume(
                    &o.name,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await
        }
    };
    r.map_err(docker_err("removing an orphan"))
}

/// Names of the volumes of `project`.
///
/// # Errors
/// When Docker cannot list them.
pub async fn project_volumes(docker: &Docker, project: &str) -> Result<Vec<String>, DockerError> {
    let filters = HashMap::from([("label", vec![format!("{PROJECT}={project}")])]);
    let vols = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(docker_err("listing volumes"))?;
    Ok(vols
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect())
}
