//! The gateway's networks: its own (made when missing) and the preview
//! networks it joins so it can reach each preview's containers by name.

use std::collections::HashMap;

use bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::ListNetworksOptionsBuilder;
use bollard::Docker;

use super::container::docker_err;
use super::{GatewayError, GatewaySettings};

/// Label the engine puts on every preview network the gateway must join.
pub(super) const ROUTE_NETWORK_LABEL: &str = "dev.branchyard.route-network=true";

use crate::reconcile::HOME as HOME_LABEL;

/// Networks named exactly `name`, smallest id first.
async fn named(docker: &Docker, name: &str) -> Result<Vec<String>, GatewayError> {
    let filters = HashMap::from([("name", vec![name.to_string()])]);
    let nets = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(docker_err("listing networks"))?;
    // The name filter matches substrings.
    let mut ids: Vec<String> = nets
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(name))
        .filter_map(|n| n.id)
        .collect();
    ids.sort();
    Ok(ids)
}

/// Makes the gateway's network if missing; its id.
///
/// Docker 20.10 does not refuse a second network of the same name, so two
/// processes starting the gateway at once can make two; every process then
/// keeps the one with the smallest id and removes the others while unused.
///
/// # Errors
/// Docker failures.
pub(super) async fn ensure_own(
    docker: &Docker,
    settings: &GatewaySettings,
) -> Result<String, GatewayError> {
    let name = settings.network();
    if named(docker, &name).await?.is_empty() {
        docker
            .create_network(NetworkCreateRequest {
                name: name.clone(),
                driver: Some("bridge".into()),
                labels: Some(settings.object_labels()),
                ..Default::default()
            })
            .await
            .map_err(docker_err("creating the gateway's network"))?;
    }
    let ids = named(docker, &name).await?;
    let Some((keep, extra)) = ids.split_first() else {
        return Err(GatewayError::Docker {
            action: format!("creating network {name}"),
            message: "it vanished right after being made: is something removing networks?".into(),
        });
    };
    for id in extra {
        // In use means another process already relies on it: leave it.
        let _ = docker.remove_network(id).await;
    }
    Ok(keep.clone())
}

/// Every preview network the gateway should be on.
///
/// # Errors
/// Docker failures.
pub(super) async fn route_networks(
    docker: &Docker,
    settings: &GatewaySettings,
) -> Result<Vec<String>, GatewayError> {
    // Only this home's previews: another home's gateway serves its own.
    let mut wanted = vec![ROUTE_NETWORK_LABEL.to_string()];
    if let Some(home) = settings.labels.get(HOME_LABEL) {
        wanted.push(format!("{HOME_LABEL}={home}"));
    }
    let filters = HashMap::from([("label", wanted)]);
    let nets = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(docker_err("listing preview networks"))?;
    Ok(nets.into_iter().filter_map(|n| n.name).collect())
}

/// Puts `container` on `network`; already there is fine.
///
/// # Errors
/// Docker failures, a missing network among them.
pub(super) async fn connect(
    docker: &Docker,
    container: &str,
    network: &str,
) -> Result<(), GatewayError> {
    let req = NetworkConnectRequest {
        container: container.to_string(),
        endpoint_config: Some(EndpointSettings::default()),
    };
    match docker.connect_network(network, req).await {
        Ok(()) => Ok(()),
        // 20.10 answers 403 "endpoint with name … already exists in network …".
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 403,
            message,
        }) if message.contains("already exists") => Ok(()),
        Err(e) => Err(GatewayError::Docker {
            action: format!("joining preview network {network}"),
            message: e.to_string(),
        }),
    }
}

/// Takes `container` off `network`; not there, or no such network, is fine.
///
/// # Errors
/// Other Docker failures.
pub(super) async fn disconnect(
    docker: &Docker,
    container: &str,
    network: &str,
) -> Result<(), GatewayError> {
    let req = NetworkDisconnectRequest {
        container: container.to_string(),
        force: Some(true),
    };
    match docker.disconnect_network(network, req).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        // 20.10 answers 500 "container … is not connected to network …".
        Err(bollard::errors::Error::DockerResponseServerError { message, .. })
            if message.contains("is not connected") =>
        {
            Ok(())
        }
        Err(e) => Err(GatewayError::Docker {
            action: format!("leaving preview network {network}"),
            message: e.to_string(),
        }),
    }
}
