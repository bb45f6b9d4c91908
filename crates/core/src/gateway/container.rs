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
/// Label with how it publishes the rest (`https=<port|none>;lan=<0|1>`).
const PUBLISH_LABEL: &str = "dev.branchyard.gateway-publish";
/// Ports the gateway listens on inside its container.
const INNER_HTTP: u16 = 80;
const INNER_HTTPS: u16 = 443;
const INNER_ADMIN: u16 = 2019;

/// Where one gateway container publishes its listeners on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Published {
    /// HTTP port.
    pub http: u16,
    /// HTTPS port, when HTTPS is on.
    pub https: Option<u16>,
    /// Admin API port (always 127.0.0.1).
    pub admin: u16,
    /// HTTP and HTTPS on every interface.
    pub lan: bool,
}

fn publish_label(p: &Published) -> String {
    format!(
        "https={};lan={}",
        p.https
            .map(|h| h.to_string())
            .unwrap_or_else(|| "none".into()),
        u8::from(p.lan)
    )
}

/// Reads [`PORTS_LABEL`] and [`PUBLISH_LABEL`] back; `None` when either is
/// missing (a gateway from before HTTPS: replaced).
fn parse_published(ports: &str, publish: &str) -> Option<Published> {
    let (http, admin) = parse_ports(ports)?;
    let mut https = None;
    let mut lan = None;
    for part in publish.split(';') {
        match part.split_once('=')? {
            ("https", "none") => https = Some(None),
            ("https", p) => https = Some(Some(p.parse().ok()?)),
            ("lan", l) => lan = Some(l == "1"),
            _ => {}
        }
    }
    Some(Published {
        http,
        https: https?,
        admin,
        lan: lan?,
    })
}

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
    /// From [`PORTS_LABEL`] and [`PUBLISH_LABEL`].
    published: Option<Published>,
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
            published: labels
                .get(PORTS_LABEL)
                .zip(labels.get(PUBLISH_LABEL))
                .and_then(|(p, q)| parse_published(p, q)),
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
        if let Some(p) = cur.published.filter(|_| {
            cur.image_id == image_id
                && cur.has_token
                && (cur.network_mode == network_id || cur.network_mode == network_name)
        }) {
            if keeps(settings, &p, cur.running) {
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
                    let gw =
                        Gateway::new(name, p, settings, AdminClient::new(p.admin, token.clone()));
                    gw.wait_healthy().await?;
                    gw.push_config(&settings.config()).await;
                    return Ok(gw);
                }
            }
        }
        tracing::info!(
            "replacing the gateway container: its image, token, ports, network or publishing changed"
        );
        docker
            .remove_container(
                name,
                Some(RemoveContainerOptionsBuilder::default().force(true).build()),
            )
            .await
            .map_err(docker_err("replacing the gateway"))?;
    }

    let ip = settings.publish_ip();
    let http = ports::pick_on(ip, "http_port", settings.http_port, ports::http_fallbacks())?;
    let https = match settings.https_port {
        None => None,
        Some(p) => Some(ports::pick_on(
            ip,
            "https_port",
            p,
            ports::https_fallbacks(),
        )?),
    };
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
    let p = Published {
        http,
        https,
        admin,
        lan: settings.lan,
    };
    create(docker, settings, &image, &network_id, &token, p).await?;
    let gw = Gateway::new(name, p, settings, AdminClient::new(admin, token));
    gw.wait_healthy().await?;
    gw.push_config(&settings.config()).await;
    // A new container must rejoin every preview network (its routes are in its volume).
    for n in network::route_networks(docker, settings).await? {
        gw.connect_network(docker, &n).await?;
    }
    Ok(gw)
}

/// Whether a container publishing `p` serves `settings` as it is.
fn keeps(settings: &GatewaySettings, p: &Published, running: bool) -> bool {
    let ip = settings.publish_ip();
    // On the wanted port, or on a fallback while someone else holds the wanted
    // one (ours holds it while running, so test "taken" only otherwise).
    let http_ok = p.http == settings.http_port
        || (ports::http_fallbacks().any(|f| f == p.http)
            && !ports::free_on(ip, settings.http_port));
    let https_ok = match (settings.https_port, p.https) {
        (None, None) => true,
        (Some(w), Some(h)) => {
            h == w || (ports::https_fallbacks().any(|f| f == h) && !ports::free_on(ip, w))
        }
        _ => false,
    };
    let admin_ok = settings.admin_port == 0 || p.admin == settings.admin_port;
    // A stopped one can only start if nobody took its ports meanwhile.
    let startable = running
        || (ports::free_on(ip, p.http)
            && p.https.is_none_or(|h| ports::free_on(ip, h))
            && ports::free(p.admin));
    http_ok && https_ok && admin_ok && p.lan == settings.lan && startable
}

async fn create(
    docker: &Docker,
    settings: &GatewaySettings,
    image: &str,
    network_id: &str,
    token: &str,
    p: Published,
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
    let bind = |ip: &str, port: u16| {
        Some(vec![PortBinding {
            host_ip: Some(ip.into()),
            host_port: Some(port.to_string()),
        }])
    };
    let ip = if p.lan { "0.0.0.0" } else { "127.0.0.1" };
    let mut labels = settings.object_labels();
    labels.insert(PORTS_LABEL.into(), format!("{}:{}", p.http, p.admin));
    labels.insert(PUBLISH_LABEL.into(), publish_label(&p));
    let mut env = vec![
        format!("BRANCHYARD_GATEWAY_TOKEN={token}"),
        format!("BRANCHYARD_GATEWAY_LISTEN=0.0.0.0:{INNER_HTTP}"),
        match p.https {
            Some(_) => format!("BRANCHYARD_GATEWAY_TLS_LISTEN=0.0.0.0:{INNER_HTTPS}"),
            None => "BRANCHYARD_GATEWAY_TLS_LISTEN=off".into(),
        },
        format!("BRANCHYARD_GATEWAY_ADMIN_LISTEN=0.0.0.0:{INNER_ADMIN}"),
        "BRANCHYARD_GATEWAY_STATE=/data/routes.json".into(),
        format!("BRANCHYARD_GATEWAY_PUBLIC_PORT={}", p.http),
    ];
    let mut exposed = vec![format!("{INNER_HTTP}/tcp"), format!("{INNER_ADMIN}/tcp")];
    // The admin API stays on 127.0.0.1 even with LAN sharing: it holds the routes' keys.
    let mut bindings = HashMap::from([
        (format!("{INNER_HTTP}/tcp"), bind(ip, p.http)),
        (format!("{INNER_ADMIN}/tcp"), bind("127.0.0.1", p.admin)),
    ]);
    if let Some(https) = p.https {
        env.push(format!("BRANCHYARD_GATEWAY_PUBLIC_TLS_PORT={https}"));
        exposed.push(format!("{INNER_HTTPS}/tcp"));
        bindings.insert(format!("{INNER_HTTPS}/tcp"), bind(ip, https));
    }
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        env: Some(env),
        labels: Some(labels),
        exposed_ports: Some(exposed),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
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
    tracing::info!(http = p.http, https = ?p.https, admin = p.admin, lan = p.lan, "gateway container created");
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
    match (cur.running && cur.has_token, cur.published) {
        (true, Some(p)) => Ok(Some(Gateway::new(
            &settings.container_name,
            p,
            settings,
            AdminClient::new(p.admin, token),
        ))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishing_labels_round_trip_and_old_gateways_are_not_kept() {
        let p = Published {
            http: 8080,
            https: Some(8443),
            admin: 2019,
            lan: true,
        };
        assert_eq!(parse_published("8080:2019", &publish_label(&p)), Some(p));
        let off = Published {
            https: None,
            lan: false,
            ..p
        };
        assert_eq!(
            parse_published("8080:2019", &publish_label(&off)),
            Some(off)
        );
        assert_eq!(
            parse_published("8080:2019", ""),
            None,
            "a gateway from before HTTPS has no publish label: it is replaced"
        );
    }

    #[test]
    fn a_gateway_is_replaced_when_https_or_lan_sharing_changes() {
        let settings = GatewaySettings {
            http_port: 18_991,
            https_port: Some(18_992),
            ..GatewaySettings::default()
        };
        let p = Published {
            http: 18_991,
            https: Some(18_992),
            admin: 18_993,
            lan: false,
        };
        assert!(keeps(&settings, &p, true), "the same publishing is kept");
        assert!(
            !keeps(&settings, &Published { lan: true, ..p }, true),
            "turning LAN sharing off recreates it"
        );
        assert!(
            !keeps(&settings, &Published { https: None, ..p }, true),
            "turning HTTPS on recreates it"
        );
        assert!(
            !keeps(
                &settings,
                &Published {
                    https: Some(18_994),
                    ..p
                },
                true
            ),
            "another HTTPS port (not a fallback) recreates it"
        );
    }
}
