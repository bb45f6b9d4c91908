//! The gateway container: created or recreated when its image, token, ports
//! or network are not what is wanted, started when stopped, and found again
//! without changes for status and doctor.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, HostConfig, Mount, MountType, PortBinding,
    RestartPolicy, RestartPolicyNameEnum, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use tracing::Instrument;

use super::admin::AdminClient;
use super::handle::Gateway;
use super::image::ensure_image;
use super::{network, ports, token, GatewayError, GatewaySettings};

/// Label with the ports a gateway container publishes (`http:admin`).
const PORTS_LABEL: &str = "dev.branchyard.gateway-ports";
/// Ports the gateway listens on inside its container.
const INNER_HTTP: u16 = 80;
const INNER_ADMIN: u16 = 2019;

/// Maps a bollard error to [`GatewayError::Docker`] saying what we were doing.
pub(super) fn docker_err(action: &str) -> impl Fn(bollard::errors::Error) -> GatewayError + '_ {
    move |e| GatewayError::Docker {
        action: action.to_string(),
        message: e.to_string(),
    }
}

fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// What an existing container runs with, read back from Docker.
struct Current {
    running: bool,
    image_id: String,
    has_token: bool,
    /// `(http, admin)` from [`PORTS_LABEL`].
    ports: Option<(u16, u16)>,
    network_mode: String,
}

impl Current {
    fn read(c: &ContainerInspectResponse, token: &str) -> Current {
        let config = c.config.as_ref();
        let labels = config.and_then(|c| c.labels.clone()).unwrap_or_default();
        let env = config.and_then(|c| c.env.clone()).unwrap_or_default();
        let wanted_env = format!("BRANCHYARD_GATEWAY_TOKEN={token}");
        Current {
            running: c.state.as_ref().and_then(|s| s.running).unwrap_or(false),
            image_id: c.image.clone().unwrap_or_default(),
            has_token: env.iter().any(|e| e == &wanted_env),
            ports: labels.get(PORTS_LABEL).and_then(|p| parse_ports(p)),
            network_mode: c
                .host_config
                .as_ref()
                .and_then(|h| h.network_mode.clone())
                .unwrap_or_default(),
        }
    }
}

fn parse_ports(label: &str) -> Option<(u16, u16)> {
    let (h, a) = label.split_once(':')?;
    Some((h.parse().ok()?, a.parse().ok()?))
}

async fn inspect(
    docker: &Docker,
    name: &str,
) -> Result<Option<ContainerInspectResponse>, GatewayError> {
    match docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
    {
        Ok(c) => Ok(Some(c)),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(docker_err("inspecting the gateway container")(e)),
    }
}

/// Makes sure the gateway runs as `settings` say and answers; returns it.
///
/// Keeps a container that runs the current image with this home's token on
/// the wanted ports and network (starting it if stopped); otherwise replaces
/// it, choosing fallback ports when the wanted ones are taken, and rejoins
/// every preview network. Waits until `/healthz` answers.
///
/// # Errors
/// Missing binary, Docker failures, no free port, or a gateway that never answers.
pub async fn ensure(
    docker: &Docker,
    home: &Path,
    settings: &GatewaySettings,
) -> Result<Gateway, GatewayError> {
    let span = tracing::info_span!("gateway_ensure", name = %settings.container_name);
    match ensure_once(docker, home, settings)
        .instrument(span.clone())
        .await
    {
        // Two processes starting the gateway at once: the loser finds the winner's.
        Err(GatewayError::Docker { message, .. })
            if message.contains("409") || message.contains("already") =>
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
            ensure_once(docker, home, settings).instrument(span).await
        }
        r => r,
    }
}

async fn ensure_once(
    docker: &Docker,
    home: &Path,
    settings: &GatewaySettings,
) -> Result<Gateway, GatewayError> {
    let name = settings.container_name.as_str();
    let image = ensure_image(docker, settings).await?;
    let image_id = docker
        .inspect_image(&image)
        .await
        .map_err(docker_err("inspecting the gateway image"))?
        .id
        .unwrap_or_default();
    let token = token::ensure(home)?;
    let network_id = network::ensure_own(docker, settings).await?;
    let network_name = settings.network();

    if let Some(c) = inspect(docker, name).await? {
        let cur = Current::read(&c, &token);
        if let Some((http, admin)) = cur.ports.filter(|_| {
            cur.image_id == image_id
                && cur.has_token
                && (cur.network_mode == network_id || cur.network_mode == network_name)
        }) {
            // On the wanted port, or on a fallback while someone else holds the
            // wanted one (ours holds it while running, so test "taken" only otherwise).
            let http_ok = http == settings.http_port
                || (ports::http_fallbacks().any(|p| p == http) && !ports::free(settings.http_port));
            let admin_ok = settings.admin_port == 0 || admin == settings.admin_port;
            // A stopped one can only start if nobody took its ports meanwhile.
            let startable = cur.running || (ports::free(http) && ports::free(admin));
            if http_ok && admin_ok && startable {
                // A stopped gateway may no longer start: a preview network it had
                // joined can be gone (removed while it was down). Then replace it:
                // its routes live in its volume and it rejoins the networks below.
                let started = cur.running
                    || {
                        tracing::info!("starting the stopped gateway");
                        match docker.start_container(name, None).await {
                            Ok(()) => true,
                            Err(e) => {
                                tracing::warn!(error = %e, "the stopped gateway does not start; replacing it");
                                false
                            }
                        }
                    };
                if started {
                    let gw = Gateway::new(
                        name,
                        http,
                        admin,
                        settings.http_port,
                        AdminClient::new(admin, token.clone()),
                    );
                    gw.wait_healthy().await?;
                    return Ok(gw);
                }
            }
        }
        tracing::info!(
            "replacing the gateway container: its image, token, ports or network changed"
        );
        docker
            .remove_container(
                name,
                Some(RemoveContainerOptionsBuilder::default().force(true).build()),
            )
            .await
            .map_err(docker_err("replacing the gateway"))?;
    }

    let http = ports::pick(settings.http_port, ports::http_fallbacks())?;
    let admin = match settings.admin_port {
        0 => ports::pick(ports::ADMIN_DEFAULT, ports::admin_fallbacks())?,
        p => ports::pick(p, [])?,
    };
    if http != settings.http_port {
        tracing::warn!(
            wanted = settings.http_port,
            using = http,
            "the wanted gateway port is taken"
        );
    }
    create(docker, settings, &image, &network_id, &token, (http, admin)).await?;
    let gw = Gateway::new(
        name,
        http,
        admin,
        settings.http_port,
        AdminClient::new(admin, token),
    );
    gw.wait_healthy().await?;
    // A new container must rejoin every preview network (its routes are in its volume).
    for n in network::route_networks(docker, settings).await? {
        gw.connect_network(docker, &n).await?;
    }
    Ok(gw)
}

async fn create(
    docker: &Docker,
    settings: &GatewaySettings,
    image: &str,
    network_id: &str,
    token: &str,
    (http, admin): (u16, u16),
) -> Result<(), GatewayError> {
    let name = settings.container_name.as_str();
    let volume = settings.volume();
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(volume.clone()),
            labels: Some(settings.object_labels()),
            ..Default::default()
        })
        .await
        .map_err(docker_err("creating the gateway's volume"))?;
    let bind = |p: u16| {
        Some(vec![PortBinding {
            host_ip: Some("127.0.0.1".into()),
            host_port: Some(p.to_string()),
        }])
    };
    let mut labels = settings.object_labels();
    labels.insert(PORTS_LABEL.into(), format!("{http}:{admin}"));
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        env: Some(vec![
            format!("BRANCHYARD_GATEWAY_TOKEN={token}"),
            format!("BRANCHYARD_GATEWAY_LISTEN=0.0.0.0:{INNER_HTTP}"),
            format!("BRANCHYARD_GATEWAY_ADMIN_LISTEN=0.0.0.0:{INNER_ADMIN}"),
            "BRANCHYARD_GATEWAY_STATE=/data/routes.json".into(),
            format!("BRANCHYARD_GATEWAY_PUBLIC_PORT={http}"),
        ]),
        labels: Some(labels),
        exposed_ports: Some(vec![
            format!("{INNER_HTTP}/tcp"),
            format!("{INNER_ADMIN}/tcp"),
        ]),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([
                (format!("{INNER_HTTP}/tcp"), bind(http)),
                (format!("{INNER_ADMIN}/tcp"), bind(admin)),
            ])),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            mounts: Some(vec![Mount {
                target: Some("/data".into()),
                source: Some(volume),
                typ: Some(MountType::VOLUME),
                ..Default::default()
            }]),
            network_mode: Some(network_id.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(name).build()),
            body,
        )
        .await
        .map_err(docker_err("creating the gateway"))?;
    docker
        .start_container(name, None)
        .await
        .map_err(docker_err("starting the gateway"))?;
    tracing::info!(http, admin, "gateway container created");
    Ok(())
}

/// The gateway `settings` name, if its container runs with this home's
/// token; never changes anything (for status and doctor).
///
/// # Errors
/// Docker failures other than "not found", or an unreadable token file.
pub async fn attach(
    docker: &Docker,
    home: &Path,
    settings: &GatewaySettings,
) -> Result<Option<Gateway>, GatewayError> {
    let Some(c) = inspect(docker, &settings.container_name).await? else {
        return Ok(None);
    };
    // A gateway started from another Branchyard home has another token: not ours to use.
    let Some(token) = token::read(home)? else {
        return Ok(None);
    };
    let cur = Current::read(&c, &token);
    match (cur.running && cur.has_token, cur.ports) {
        (true, Some((http, admin))) => Ok(Some(Gateway::new(
            &settings.container_name,
            http,
            admin,
            settings.http_port,
            AdminClient::new(admin, token),
        ))),
        _ => Ok(None),
    }
}
