//! Networks, volumes and images a project needs; and tearing a project down.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::future::try_join_all;
use futures_util::StreamExt;

use super::spec::{network_name, volume_name};
use crate::compose::model::Project;
use crate::docker::{is_not_found, DockerError, PreviewLabels};
use crate::reconcile::PROJECT;

fn err(action: String) -> impl Fn(bollard::errors::Error) -> DockerError {
    move |e| DockerError::Other(format!("{action}: {e}"))
}

/// Creates the project's networks and volumes that are missing; external ones must exist.
pub(super) async fn ensure(docker: &Docker, p: &Project, labels: &PreviewLabels) -> Result<(), DockerError> {
    let nets = p.networks.iter().filter(|(key, _)| p.services.values().any(|s| s.networks.contains_key(*key)));
    try_join_all(nets.map(|(key, net)| async move {
        let name = network_name(p, key);
        match docker.inspect_network(&name, None).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) && net.external => Err(DockerError::Other(format!(
                "network {name} is declared external but does not exist: create it with `docker network create {name}`"
            ))),
            Err(e) if is_not_found(&e) => {
                let mut l = labels.network(&p.name, key);
                l.extend(net.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                docker
                    .create_network(NetworkCreateRequest {
                        name: name.clone(),
                        driver: Some("bridge".into()),
                        internal: Some(net.internal),
                        labels: Some(l),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ())
                    .map_err(err(format!("creating network {name}")))
            }
            Err(e) => Err(err(format!("inspecting network {name}"))(e)),
        }
    }))
    .await?;
    try_join_all(p.volumes.iter().map(|(key, vol)| async move {
        let name = volume_name(p, key);
        match docker.inspect_volume(&name).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) && vol.external => Err(DockerError::Other(format!(
                "volume {name} is declared external but does not exist: create it with `docker volume create {name}`"
            ))),
            Err(e) if is_not_found(&e) => {
                let mut l = labels.volume(&p.name, key);
                l.extend(vol.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                docker
                    .create_volume(VolumeCreateRequest { name: Some(name.clone()), labels: Some(l), ..Default::default() })
                    .await
                    .map(|_| ())
                    .map_err(err(format!("creating volume {name}")))
            }
            Err(e) => Err(err(format!("inspecting volume {name}"))(e)),
        }
    }))
    .await?;
    Ok(())
}

/// The image id of `image`, pulling it when absent (offline this fails clearly).
pub(super) async fn image_id(
    docker: &Docker,
    service: &str,
    image: &str,
    on_line: &(dyn Fn(String) + Send + Sync),
) -> Result<String, DockerError> {
    if let Ok(i) = docker.inspect_image(image).await {
        return Ok(i.id.unwrap_or_default());
    }
    let opts = CreateImageOptionsBuilder::default().from_image(image).build();
    let mut pull = docker.create_image(Some(opts), None, None);
    while let Some(item) = pull.next().await {
        match item {
            Ok(info) => {
                if let Some(s) = info.status {
                    on_line(format!("pull {image}: {s}"));
                }
            }
            Err(e) => {
                return Err(DockerError::ImageMissing { service: service.into(), image: image.into(), message: e.to_string() })
            }
        }
    }
    docker
        .inspect_image(image)
        .await
        .map(|i| i.id.unwrap_or_default())
        .map_err(|e| DockerError::ImageMissing { service: service.into(), image: image.into(), message: e.to_string() })
}

fn by_project(project: &str) -> HashMap<&'static str, Vec<String>> {
    HashMap::from([("label", vec![format!("{PROJECT}={project}")])])
}

/// Names of every container of `project` (running or not).
pub(super) async fn containers(docker: &Docker, project: &str) -> Result<Vec<bollard::models::ContainerSummary>, DockerError> {
    docker
        .list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&by_project(project)).build()))
        .await
        .map_err(err(format!("listing containers of {project}")))
}

/// Stops and removes one container, tolerating "gone". Without a `t`, Docker
/// applies the container's own stop timeout (`stop_grace_period`, default 10 s).
pub(super) async fn remove_container(docker: &Docker, name: &str) -> Result<(), DockerError> {
    match docker.stop_container(name, None::<bollard::query_parameters::StopContainerOptions>).await {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => {}
        Err(e) => return Err(err(format!("stopping {name}"))(e)),
    }
    match docker.remove_container(name, Some(RemoveContainerOptionsBuilder::default().force(true).v(true).build())).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => Ok(()), // removal already in progress
        Err(e) => Err(err(format!("removing {name}"))(e)),
    }
}

/// Removes every container of `project` (in parallel), its networks, and with
/// `volumes` its volumes. Idempotent.
///
/// # Errors
/// When Docker refuses.
pub async fn down(docker: &Docker, project: &str, volumes: bool) -> Result<(), DockerError> {
    let list = containers(docker, project).await?;
    try_join_all(list.iter().map(|c| {
        let name = c.names.as_ref().and_then(|n| n.first()).map(|n| n.trim_start_matches('/').to_string()).unwrap_or_default();
        async move { remove_container(docker, &name).await }
    }))
    .await?;
    let nets = docker
        .list_networks(Some(ListNetworksOptionsBuilder::default().filters(&by_project(project)).build()))
        .await
        .map_err(err(format!("listing networks of {project}")))?;
    for n in nets.into_iter().filter_map(|n| n.name) {
        remove_network(docker, &n).await?;
    }
    if volumes {
        let vols = docker
            .list_volumes(Some(ListVolumesOptionsBuilder::default().filters(&by_project(project)).build()))
            .await
            .map_err(err(format!("listing volumes of {project}")))?;
        for v in vols.volumes.unwrap_or_default() {
            match docker.remove_volume(&v.name, None::<bollard::query_parameters::RemoveVolumeOptions>).await {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(err(format!("removing volume {}", v.name))(e)),
            }
        }
    }
    Ok(())
}

/// Removes a network, first detaching anything still attached (the gateway).
async fn remove_network(docker: &Docker, name: &str) -> Result<(), DockerError> {
    if let Ok(n) = docker.inspect_network(name, None).await {
        for id in n.containers.unwrap_or_default().into_keys() {
            let _ = docker
                .disconnect_network(name, bollard::models::NetworkDisconnectRequest { container: id, force: Some(true) })
                .await;
        }
    }
    for attempt in 0..5 {
        match docker.remove_network(name).await {
            Ok(()) => return Ok(()),
            Err(e) if is_not_found(&e) => return Ok(()),
            // Endpoints may still be going away just after their containers.
            Err(_) if attempt < 4 => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => return Err(err(format!("removing network {name}"))(e)),
        }
    }
    Ok(())
}

/// Stops every container of `project` in parallel (containers and volumes kept).
///
/// # Errors
/// When Docker refuses.
pub async fn stop(docker: &Docker, project: &str) -> Result<(), DockerError> {
    let list = containers(docker, project).await?;
    try_join_all(list.iter().map(|c| {
        let name = c.names.as_ref().and_then(|n| n.first()).map(|n| n.trim_start_matches('/').to_string()).unwrap_or_default();
        async move {
            match docker.stop_container(&name, None::<bollard::query_parameters::StopContainerOptions>).await {
                Ok(()) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
                Err(e) => Err(err(format!("stopping {name}"))(e)),
            }
        }
    }))
    .await?;
    Ok(())
}
