//! Connecting to the local engine, and listing containers by label.

use std::collections::HashMap;

use bollard::models::ContainerSummary;
use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker;

use super::labels::PROJECT;
use super::DockerError;

/// Where the client looks for the engine: `$DOCKER_HOST` or the local socket.
fn address() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// Connects to the local Docker engine, agrees on an API version and pings it.
///
/// # Errors
/// [`DockerError::Unreachable`] saying how to start Docker.
pub async fn connect() -> Result<Docker, DockerError> {
    let unreachable = |e: bollard::errors::Error| DockerError::Unreachable {
        address: address(),
        reason: e.to_string(),
    };
    let docker = Docker::connect_with_local_defaults().map_err(unreachable)?;
    let docker = docker.negotiate_version().await.map_err(unreachable)?;
    docker.ping().await.map_err(unreachable)?;
    Ok(docker)
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

    #[test]
    fn the_unreachable_error_says_where_and_what_to_do() {
        let e = DockerError::Unreachable {
            address: "unix:///var/run/docker.sock".into(),
            reason: "connection refused".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("unix:///var/run/docker.sock") && text.contains("dockerd &"),
            "{text}"
        );
    }
}
