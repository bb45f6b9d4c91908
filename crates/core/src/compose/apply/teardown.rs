//! Taking a project down: stop, down (containers, networks, volumes by the
//! project's label), and undo of exactly what a failed run created. All
//! idempotent: what is already gone is skipped.

use std::collections::HashMap;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerSummary, ContainerSummaryStateEnum, NetworkDisconnectRequest};
use bollard::query_parameters::{
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptions, StopContainerOptions,
};
use bollard::Docker;
use futures_util::future::try_join_all;
use serde::Serialize;

use super::{hooks, Applied};
use crate::docker::labels::PROJECT;
use crate::docker::{is_not_found, list_project_containers, DockerError};

/// What `down` (or `undo`) removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DownReport {
    /// Containers removed.
    pub containers: Vec<String>,
    /// Networks removed.
    pub networks: Vec<String>,
    /// Volumes removed.
    pub volumes: Vec<String>,
    /// What failing `pre_stop` hooks said (the containers were stopped anyway).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Containers stopped, and what their failing `pre_stop` hooks said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stopped {
    /// The containers (all of the project's for [`stop_all`], the running ones for [`stop`]).
    pub containers: Vec<String>,
    /// One line per failing hook; the containers were stopped anyway.
    pub warnings: Vec<String>,
}

fn status(e: &BollardError) -> Option<u16> {
    match e {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn name_of(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// Stops a listed container after its `pre_stop` hooks (when it runs);
/// returns what failing hooks said.
async fn stop_listed(docker: &Docker, c: &ContainerSummary) -> Result<Vec<String>, DockerError> {
    let name = name_of(c);
    let warnings = if c.state == Some(ContainerSummaryStateEnum::RUNNING) {
        hooks::pre_stop(docker, &name, c.labels.as_ref()).await
    } else {
        Vec::new()
    };
    stop_container(docker, &name).await?;
    Ok(warnings)
}

/// Stops every container of `list` in parallel, hooks first.
async fn stop_each(docker: &Docker, list: &[ContainerSummary]) -> Result<Stopped, DockerError> {
    let warnings = try_join_all(list.iter().map(|c| stop_listed(docker, c))).await?;
    Ok(Stopped {
        containers: list.iter().map(name_of).collect(),
        warnings: warnings.into_iter().flatten().collect(),
    })
}

/// Stops a container. Without a timeout Docker applies the container's own
/// (`stop_grace_period`, else 10 s), as compose does.
async fn stop_container(docker: &Docker, name: &str) -> Result<(), DockerError> {
    match docker
        .stop_container(name, None::<StopContainerOptions>)
        .await
    {
        Ok(()) => Ok(()),
        // 304: already stopped; 404: gone.
        Err(e) if matches!(status(&e), Some(304 | 404)) => Ok(()),
        Err(e) => Err(DockerError::from_bollard(
            &format!("stopping container {name}"),
            e,
        )),
    }
}

/// Stops (gracefully) and removes one container with its anonymous volumes,
/// tolerating "gone".
///
/// # Errors
/// When Docker refuses.
pub(super) async fn remove_container(docker: &Docker, name: &str) -> Result<(), DockerError> {
    stop_container(docker, name).await?;
    delete_container(docker, name).await
}

/// Removes a container (stopped already, or killed) with its anonymous
/// volumes, tolerating "gone".
async fn delete_container(docker: &Docker, name: &str) -> Result<(), DockerError> {
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(name, Some(opts)).await {
        Ok(()) => Ok(()),
        // 409: a removal is already in progress.
        Err(e) if matches!(status(&e), Some(404 | 409)) => Ok(()),
        Err(e) => Err(DockerError::from_bollard(
            &format!("removing container {name}"),
            e,
        )),
    }
}

/// Removes a network, detaching whatever is still attached (the gateway) when
/// Docker refuses because of it.
async fn remove_network(docker: &Docker, name: &str) -> Result<(), DockerError> {
    for attempt in 0..5 {
        match docker.remove_network(name).await {
            Ok(()) => return Ok(()),
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) if attempt == 4 => {
                return Err(DockerError::from_bollard(
                    &format!("removing network {name}"),
                    e,
                ))
            }
            Err(_) => {}
        }
        if let Ok(n) = docker.inspect_network(name, None).await {
            for id in n.containers.unwrap_or_default().into_keys() {
                let req = NetworkDisconnectRequest {
                    container: id,
                    force: Some(true),
                };
                let _ = docker.disconnect_network(name, req).await;
            }
        }
        // Endpoints of just-removed containers may take a moment to go.
        tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
    }
    Ok(())
}

async fn remove_volume(docker: &Docker, name: &str) -> Result<(), DockerError> {
    match docker
        .remove_volume(name, None::<RemoveVolumeOptions>)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(DockerError::from_bollard(
            &format!("removing volume {name} (is another container using it?)"),
            e,
        )),
    }
}

fn by_project(project: &str) -> HashMap<&'static str, Vec<String>> {
    HashMap::from([("label", vec![format!("{PROJECT}={project}")])])
}

/// Removes every container of `project` (in parallel, each stopped within its
/// grace period), its networks, and with `remove_volumes` its volumes.
/// Idempotent.
///
/// # Errors
/// When Docker refuses.
pub async fn down(
    docker: &Docker,
    project: &str,
    remove_volumes: bool,
) -> Result<DownReport, DockerError> {
    let Stopped {
        containers,
        warnings,
    } = stop_all(docker, project).await?;
    let (networks, volumes) = remove_stopped(docker, project, &containers, remove_volumes).await?;
    Ok(DownReport {
        containers,
        networks,
        volumes,
        warnings,
    })
}

/// The first half of [`down`]: every container of `project` stopped within its
/// grace period (after its `pre_stop` hooks), in parallel. Returns the names
/// of all its containers.
///
/// # Errors
/// When Docker refuses.
pub async fn stop_all(docker: &Docker, project: &str) -> Result<Stopped, DockerError> {
    let list = list_project_containers(docker, project).await?;
    stop_each(docker, &list).await
}

/// The second half of [`down`], once [`stop_all`] returned `containers`: they
/// are removed while the networks go (a stopped container holds no network
/// endpoint), then with `remove_volumes` the named volumes (which removed
/// containers no longer use). Returns the networks and volumes removed.
///
/// # Errors
/// When Docker refuses.
pub async fn remove_stopped(
    docker: &Docker,
    project: &str,
    containers: &[String],
    remove_volumes: bool,
) -> Result<(Vec<String>, Vec<String>), DockerError> {
    let containers = async {
        try_join_all(containers.iter().map(|name| delete_container(docker, name))).await?;
        if remove_volumes {
            return remove_project_volumes(docker, project).await;
        }
        Ok(Vec::new())
    };
    let networks = async {
        let list = docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&by_project(project))
                    .build(),
            ))
            .await
            .map_err(|e| DockerError::from_bollard(&format!("listing networks of {project}"), e))?;
        let names: Vec<String> = list.into_iter().filter_map(|n| n.name).collect();
        try_join_all(names.iter().map(|n| remove_network(docker, n))).await?;
        Ok::<_, DockerError>(names)
    };
    let (volumes, networks) = tokio::try_join!(containers, networks)?;
    Ok((networks, volumes))
}

async fn remove_project_volumes(
    docker: &Docker,
    project: &str,
) -> Result<Vec<String>, DockerError> {
    let list = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::default()
                .filters(&by_project(project))
                .build(),
        ))
        .await
        .map_err(|e| DockerError::from_bollard(&format!("listing volumes of {project}"), e))?;
    let names: Vec<String> = list
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect();
    try_join_all(names.iter().map(|v| remove_volume(docker, v))).await?;
    Ok(names)
}

/// Stops every running container of `project` in parallel, each after its
/// `pre_stop` hooks (containers, networks and volumes kept); returns the
/// containers stopped.
///
/// # Errors
/// When Docker refuses.
pub async fn stop(docker: &Docker, project: &str) -> Result<Stopped, DockerError> {
    let running: Vec<ContainerSummary> = list_project_containers(docker, project)
        .await?
        .into_iter()
        .filter(|c| {
            matches!(
                c.state,
                Some(ContainerSummaryStateEnum::RUNNING | ContainerSummaryStateEnum::RESTARTING)
            )
        })
        .collect();
    stop_each(docker, &running).await
}

/// Removes exactly what one run of `up` created: its containers, then its
/// networks and volumes (images it built stay, as build cache). What was
/// already there before the run is untouched.
///
/// # Errors
/// When Docker refuses.
pub async fn undo(docker: &Docker, applied: &Applied) -> Result<DownReport, DockerError> {
    try_join_all(
        applied
            .containers
            .iter()
            .map(|name| remove_container(docker, name)),
    )
    .await?;
    try_join_all(applied.networks.iter().map(|n| remove_network(docker, n))).await?;
    try_join_all(applied.volumes.iter().map(|v| remove_volume(docker, v))).await?;
    Ok(DownReport {
        containers: applied.containers.clone(),
        networks: applied.networks.clone(),
        volumes: applied.volumes.clone(),
        warnings: Vec::new(),
    })
}
