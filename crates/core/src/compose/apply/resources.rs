//! A project's networks and named volumes: created when missing (and
//! recorded, so undo removes exactly those), external ones checked.

use bollard::models::{NetworkCreateRequest, VolumeCreateRequest};
use bollard::Docker;
use futures_util::future::join_all;
use futures_util::FutureExt;

use super::spec::{network_name, volume_name};
use super::AppliedLog;
use crate::compose::model::Project;
use crate::docker::{is_not_found, DockerError, PreviewLabels};

/// Creates the networks the services use and the named volumes that are
/// missing, in parallel; external ones must exist.
///
/// # Errors
/// [`DockerError::ExternalMissing`], or Docker refusing to create one.
pub(super) async fn ensure(
    docker: &Docker,
    p: &Project,
    labels: &PreviewLabels,
    log: &AppliedLog,
) -> Result<String, DockerError> {
    let used = p.networks.iter().filter(|(key, _)| {
        p.services
            .values()
            .any(|s| s.networks.contains_key(*key) && s.privileged_settings.network_mode.is_none())
    });
    // join_all, not try_join_all: a create cut short would still happen in Docker.
    let networks = join_all(used.map(|(key, net)| async move {
        let name = network_name(p, key);
        match docker.inspect_network(&name, None).await {
            Ok(_) => Ok(false),
            Err(e) if is_not_found(&e) && net.external => Err(DockerError::ExternalMissing {
                kind: "network",
                name,
            }),
            Err(e) if is_not_found(&e) => {
                let mut l = labels.network(&p.name, key);
                l.extend(net.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                let req = NetworkCreateRequest {
                    name: name.clone(),
                    driver: Some("bridge".into()),
                    internal: Some(net.internal),
                    labels: Some(l),
                    ..Default::default()
                };
                log.update(|a| a.networks.push(name.clone()));
                docker.create_network(req).await.map_err(|e| {
                    log.update(|a| a.networks.retain(|n| n != &name));
                    DockerError::from_bollard(&format!("creating network {name}"), e)
                })?;
                Ok(true)
            }
            Err(e) => Err(DockerError::from_bollard(
                &format!("looking up network {name}"),
                e,
            )),
        }
    }))
    .map(|all| all.into_iter().collect::<Result<Vec<bool>, DockerError>>());
    let volumes = join_all(p.volumes.iter().map(|(key, vol)| async move {
        let name = volume_name(p, key);
        match docker.inspect_volume(&name).await {
            Ok(_) => Ok(false),
            Err(e) if is_not_found(&e) && vol.external => Err(DockerError::ExternalMissing {
                kind: "volume",
                name,
            }),
            Err(e) if is_not_found(&e) => {
                let mut l = labels.volume(&p.name, key);
                l.extend(vol.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                let req = VolumeCreateRequest {
                    name: Some(name.clone()),
                    labels: Some(l),
                    ..Default::default()
                };
                log.update(|a| a.volumes.push(name.clone()));
                docker.create_volume(req).await.map_err(|e| {
                    log.update(|a| a.volumes.retain(|n| n != &name));
                    DockerError::from_bollard(&format!("creating volume {name}"), e)
                })?;
                Ok(true)
            }
            Err(e) => Err(DockerError::from_bollard(
                &format!("looking up volume {name}"),
                e,
            )),
        }
    }))
    .map(|all| all.into_iter().collect::<Result<Vec<bool>, DockerError>>());
    let (networks, volumes) = tokio::join!(networks, volumes);
    let (networks, volumes) = (networks?, volumes?);
    let count = |v: &[bool]| v.iter().filter(|c| **c).count();
    Ok(format!(
        "{} networks and {} volumes created",
        count(&networks),
        count(&volumes)
    ))
}
