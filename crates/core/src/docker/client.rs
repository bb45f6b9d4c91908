//! Connecting to the engine of this environment, and listing containers by label.

use std::collections::HashMap;

use bollard::models::ContainerSummary;
use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker;

use super::endpoint::{self, EndpointError};
use super::labels::PROJECT;
use super::DockerError;

/// Connects to the engine the docker CLI would use in this environment
/// (DOCKER_HOST, DOCKER_CONTEXT, the current context, else the first
/// well-known socket that answers) and pings it. Never another engine.
///
/// # Errors
/// [`EndpointError`] naming the endpoint, who chose it and the fix.
pub async fn connect() -> Result<Docker, EndpointError> {
    let located = endpoint::locate(None, None, &endpoint::EnvSnapshot::capture()).await?;
    endpoint::connect(&located.endpoint).await
}

/// Whether a bollard error is Docker's 404 (no such object).
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Every container (running or not) carrying all of `labels` (`key=value` or `key`).
///
/// # Errors
/// When Docker cannot list them.
pub async fn list_containers_labelled(
    docker: &Docker,
    labels: &[String],
) -> Result<Vec<ContainerSummary>, DockerError> {
    let filters = HashMap::from([("label", labels.to_vec())]);
    docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| {
            DockerError::from_bollard(
                &format!("listing containers labelled {}", labels.join(",")),
                e,
            )
        })
}

/// Every container of compose project `project` (running or not).
///
/// # Errors
/// When Docker cannot list them.
pub async fn list_project_containers(
    docker: &Docker,
    project: &str,
) -> Result<Vec<ContainerSummary>, DockerError> {
    list_containers_labelled(docker, &[format!("{PROJECT}={project}")]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connect_reaches_the_local_engine_and_lists_nothing_for_an_unknown_project() {
        let docker = connect()
            .await
            .expect("Docker must run for these tests (start it with `dockerd &`)");
        let list = list_project_containers(&docker, "branchyard-no-such-project-4711")
            .await
            .expect("list");
        assert!(
            list.is_empty(),
            "no container carries an unknown project label"
        );
    }
}
