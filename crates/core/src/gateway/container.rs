//! The gateway container: created or recreated when its image or ports are not
//! what is wanted, started when stopped, and joined to each preview's network.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Mount, MountType, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest, PortBinding, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListNetworksOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use hyper::Method;
use rand::RngCore;

use super::admin::{AdminClient, GatewayHealth};
use super::image::ensure_image;
use super::{GatewayError, GatewaySettings, Route, NETWORK};

/// Label with the ports a gateway container publishes (`http:admin`).
const PORTS_LABEL: &str = "dev.branchyard.gateway-ports";
/// Ports the gateway listens on inside its container.
const INNER_HTTP: u16 = 80;
const INNER_ADMIN: u16 = 2019;

/// A running gateway.
#[derive(Clone)]
pub struct Gateway {
    name: String,
    http_port: u16,
    admin_port: u16,
    fell_back: Option<u16>,
    admin: AdminClient,
}

fn docker_err(action: &str) -> impl Fn(bollard::errors::Error) -> GatewayError + '_ {
    move |e| GatewayError::Docker {
        action: action.to_string(),
        message: e.to_string(),
    }
}

fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

/// The admin token, created once per home (mode 0600). Creation is
/// exclusive, so two processes starting at once agree on one token.
fn token(home: &Path) -> Result<String, GatewayError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let path = home.join("gateway.token");
    let io = |e: std::io::Error| GatewayError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    match opts.open(&path) {
        Ok(mut f) => {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            let t = hex::encode(bytes);
            f.write_all(t.as_bytes()).map_err(io)?;
            Ok(t)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Another process may be writing it this very moment.
            for _ in 0..50 {
                let t = std::fs::read_to_string(&path).map_err(io)?;
                if t.trim().len() >= 32 {
                    return Ok(t.trim().to_string());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(GatewayError::Io { path: path.display().to_string(), message: "the token file is empty: delete it and retry".into() })
        }
        Err(e) => Err(io(e)),
    }
}

fn free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// `wanted` if free, else the first free of `fallbacks`.
fn pick(wanted: u16, fallbacks: impl IntoIterator<Item = u16>) -> Result<u16, GatewayError> {
    let mut tried = vec![wanted];
    if free(wanted) {
        return Ok(wanted);
    }
    for p in fallbacks {
        tried.push(p);
        if free(p) {
            return Ok(p);
        }
    }
    Err(GatewayError::NoPort {
        tried: tried.iter().map(u16::to_string).collect::<Vec<_>>().join(", "),
    })
}

/// Makes sure the gateway runs as `settings` say and answers; returns it.
///
/// # Errors
/// Missing binary, Docker failures, no free port, or a gateway that never answers.
pub async fn ensure(docker: &Docker, home: &Path, settings: &GatewaySettings) -> Result<Gateway, GatewayError> {
    use tracing::Instrument;
    let span = tracing::info_span!("gateway", name = %settings.container_name);
    match ensure_inner(docker, home, settings).instrument(span.clone()).await {
        // Two processes starting the gateway at once: the loser finds the winner's.
        Err(GatewayError::Docker { message, .. }) if message.contains("409") || message.contains("already") => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            ensure_inner(docker, home, settings).instrument(span).await
        }
        r => r,
    }
}

async fn ensure_inner(docker: &Docker, home: &Path, settings: &GatewaySettings) -> Result<Gateway, GatewayError> {
    let name = settings.container_name.as_str();
    let tag = format!("{name}:{}", env!("CARGO_PKG_VERSION"));
    let image = ensure_image(docker, &tag).await?;
    let image_id = docker.inspect_image(&image).await.map_err(docker_err("inspecting the gateway image"))?.id;
    let token = token(home)?;
    ensure_network(docker).await?;

    let existing = match docker.inspect_container(name, None::<InspectContainerOptions>).await {
        Ok(c) => Some(c),
        Err(e) if not_found(&e) => None,
        Err(e) => return Err(docker_err("inspecting the gateway")(e)),
    };
    // Keep a container that runs our image with our token on the wanted port.
    if let Some(c) = &existing {
        let labels = c.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default();
        let env = c.config.as_ref().and_then(|c| c.env.clone()).unwrap_or_default();
        let same_image = c.image == image_id;
        let same_token = env.iter().any(|e| e == &format!("BRANCHYARD_GATEWAY_TOKEN={token}"));
        let ports = labels.get(PORTS_LABEL).and_then(|p| p.split_once(':')).and_then(|(h, a)| Some((h.parse::<u16>().ok()?, a.parse::<u16>().ok()?)));
        if let (true, true, Some((http, admin))) = (same_image, same_token, ports) {
            let wanted_http_ok = http == settings.http_port || !free(settings.http_port);
            let wanted_admin_ok = settings.admin_port == 0 || admin == settings.admin_port;
            if wanted_http_ok && wanted_admin_ok {
                let running = c.state.as_ref().and_then(|s| s.running).unwrap_or(false);
                if !running {
                    docker.start_container(name, None).await.map_err(docker_err("starting the gateway"))?;
                }
                let fell_back = (http != settings.http_port).then_some(http);
                let gw = Gateway { name: name.to_string(), http_port: http, admin_port: admin, fell_back, admin: AdminClient::new(admin, token) };
                gw.wait_healthy().await?;
                return Ok(gw);
            }
        }
        docker
            .remove_container(name, Some(RemoveContainerOptionsBuilder::default().force(true).build()))
            .await
            .map_err(docker_err("replacing the gateway"))?;
    }

    let http = pick(settings.http_port, [8080].into_iter().chain(8081..8100))?;
    let admin = if settings.admin_port != 0 { pick(settings.admin_port, [])? } else { pick(2019, 2020..2040)? };
    let volume = format!("{name}-data");
    docker
        .create_volume(VolumeCreateRequest {
            name: Some(volume.clone()),
            labels: Some(HashMap::from([("dev.branchyard.managed".into(), "true".into()), ("dev.branchyard.gateway".into(), "true".into())])),
            ..Default::default()
        })
        .await
        .map_err(docker_err("creating the gateway's volume"))?;
    let bind = |p: u16| Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(p.to_string()) }]);
    let body = ContainerCreateBody {
        image: Some(image.clone()),
        env: Some(vec![
            format!("BRANCHYARD_GATEWAY_TOKEN={token}"),
            format!("BRANCHYARD_GATEWAY_LISTEN=0.0.0.0:{INNER_HTTP}"),
            format!("BRANCHYARD_GATEWAY_ADMIN_LISTEN=0.0.0.0:{INNER_ADMIN}"),
            "BRANCHYARD_GATEWAY_STATE=/data/routes.json".into(),
            format!("BRANCHYARD_GATEWAY_PUBLIC_PORT={http}"),
        ]),
        labels: Some(HashMap::from([
            ("dev.branchyard.managed".into(), "true".into()),
            ("dev.branchyard.gateway".into(), "true".into()),
            (PORTS_LABEL.into(), format!("{http}:{admin}")),
        ])),
        exposed_ports: Some(vec![format!("{INNER_HTTP}/tcp"), format!("{INNER_ADMIN}/tcp")]),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(format!("{INNER_HTTP}/tcp"), bind(http)), (format!("{INNER_ADMIN}/tcp"), bind(admin))])),
            restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::UNLESS_STOPPED), maximum_retry_count: None }),
            mounts: Some(vec![Mount { target: Some("/data".into()), source: Some(volume), typ: Some(MountType::VOLUME), ..Default::default() }]),
            network_mode: Some(NETWORK.into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(name).build()), body)
        .await
        .map_err(docker_err("creating the gateway"))?;
    docker.start_container(name, None).await.map_err(docker_err("starting the gateway"))?;
    let gw = Gateway {
        name: name.to_string(),
        http_port: http,
        admin_port: admin,
        fell_back: (http != settings.http_port).then_some(http),
        admin: AdminClient::new(admin, token),
    };
    gw.wait_healthy().await?;
    // A new container must rejoin every preview network (its routes are in its volume).
    let filters = HashMap::from([("label", vec!["dev.branchyard.route-network=true".to_string()])]);
    let nets = docker
        .list_networks(Some(ListNetworksOptionsBuilder::default().filters(&filters).build()))
        .await
        .map_err(docker_err("listing preview networks"))?;
    for n in nets.into_iter().filter_map(|n| n.name) {
        gw.connect_network(docker, &n).await?;
    }
    Ok(gw)
}

async fn ensure_network(docker: &Docker) -> Result<(), GatewayError> {
    match docker.inspect_network(NETWORK, None).await {
        Ok(_) => Ok(()),
        Err(e) if not_found(&e) => docker
            .create_network(NetworkCreateRequest {
                name: NETWORK.into(),
                driver: Some("bridge".into()),
                labels: Some(HashMap::from([("dev.branchyard.managed".into(), "true".into()), ("dev.branchyard.gateway".into(), "true".into())])),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(docker_err("creating network branchyard")),
        Err(e) => Err(docker_err("inspecting network branchyard")(e)),
    }
}

/// The gateway `settings` name, if its container runs; never changes anything.
///
/// # Errors
/// Docker failures other than "not found".
pub async fn attach(docker: &Docker, home: &Path, settings: &GatewaySettings) -> Result<Option<Gateway>, GatewayError> {
    let c = match docker.inspect_container(&settings.container_name, None::<InspectContainerOptions>).await {
        Ok(c) => c,
        Err(e) if not_found(&e) => return Ok(None),
        Err(e) => return Err(docker_err("inspecting the gateway")(e)),
    };
    if !c.state.and_then(|s| s.running).unwrap_or(false) {
        return Ok(None);
    }
    // A gateway started from another Branchyard home has another token: not ours to use.
    let Ok(mine) = std::fs::read_to_string(home.join("gateway.token")) else {
        return Ok(None);
    };
    let env = c.config.as_ref().and_then(|c| c.env.clone()).unwrap_or_default();
    if !env.iter().any(|e| e == &format!("BRANCHYARD_GATEWAY_TOKEN={}", mine.trim())) {
        return Ok(None);
    }
    let labels = c.config.and_then(|c| c.labels).unwrap_or_default();
    let Some((http, admin)) = labels.get(PORTS_LABEL).and_then(|p| p.split_once(':')).and_then(|(h, a)| Some((h.parse().ok()?, a.parse().ok()?))) else {
        return Ok(None);
    };
    Ok(Some(Gateway {
        name: settings.container_name.clone(),
        http_port: http,
        admin_port: admin,
        fell_back: (http != settings.http_port).then_some(http),
        admin: AdminClient::new(admin, mine.trim().to_string()),
    }))
}

impl Gateway {
    /// The HTTP port on 127.0.0.1.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The admin API port on 127.0.0.1.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// The port used instead of the wanted one, when that was taken.
    pub fn fell_back(&self) -> Option<u16> {
        self.fell_back
    }

    /// Container name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `http://host[:port]`.
    pub fn url_for(&self, host: &str) -> String {
        if self.http_port == 80 {
            format!("http://{host}")
        } else {
            format!("http://{host}:{}", self.http_port)
        }
    }

    async fn wait_healthy(&self) -> Result<(), GatewayError> {
        let start = Instant::now();
        let limit = Duration::from_secs(15);
        loop {
            if self.admin.health().await.is_ok() {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(GatewayError::NotHealthy { name: self.name.clone(), secs: limit.as_secs() });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Health as the gateway reports it.
    ///
    /// # Errors
    /// When it does not answer.
    pub async fn health(&self) -> Result<GatewayHealth, GatewayError> {
        self.admin.health().await
    }

    /// Adds or replaces a route.
    ///
    /// # Errors
    /// When the admin API refuses.
    pub async fn put_route(&self, route: &Route) -> Result<(), GatewayError> {
        let body = serde_json::to_string(route).map_err(|e| GatewayError::Admin(e.to_string()))?;
        self.admin.ok(Method::PUT, &format!("/routes/{}", route.host), Some(body)).await.map(|_| ())
    }

    /// Removes a route (absent is fine).
    ///
    /// # Errors
    /// When the admin API refuses.
    pub async fn remove_route(&self, host: &str) -> Result<(), GatewayError> {
        self.admin.ok(Method::DELETE, &format!("/routes/{host}"), None).await.map(|_| ())
    }

    /// Every route it serves.
    ///
    /// # Errors
    /// When the admin API refuses.
    pub async fn routes(&self) -> Result<Vec<Route>, GatewayError> {
        let text = self.admin.ok(Method::GET, "/routes", None).await?;
        serde_json::from_str(&text).map_err(|e| GatewayError::Admin(format!("/routes: {e}")))
    }

    /// Replaces the whole table.
    ///
    /// # Errors
    /// When the admin API refuses.
    pub async fn replace_routes(&self, routes: &[Route]) -> Result<(), GatewayError> {
        let body = serde_json::to_string(routes).map_err(|e| GatewayError::Admin(e.to_string()))?;
        self.admin.ok(Method::PUT, "/routes", Some(body)).await.map(|_| ())
    }

    /// `GET path` through the gateway with `Host: host`; the status code.
    ///
    /// # Errors
    /// When the gateway cannot be reached.
    pub async fn probe(&self, host: &str, path: &str) -> Result<u16, GatewayError> {
        let probe = AdminClient::new(self.http_port, String::new());
        let (status, _) = probe.call_host(host, path).await?;
        Ok(status)
    }

    /// Joins the preview network `network` (already joined is fine).
    ///
    /// # Errors
    /// Docker failures other than "already connected".
    pub async fn connect_network(&self, docker: &Docker, network: &str) -> Result<(), GatewayError> {
        let req = NetworkConnectRequest { container: self.name.clone(), endpoint_config: Some(EndpointSettings::default()) };
        match docker.connect_network(network, req).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 403, .. }) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. }) if message.contains("already exists") => Ok(()),
            Err(e) => Err(docker_err("joining a preview network")(e)),
        }
    }

    /// Leaves the preview network `network` (not joined or gone is fine).
    ///
    /// # Errors
    /// Other Docker failures.
    pub async fn disconnect_network(&self, docker: &Docker, network: &str) -> Result<(), GatewayError> {
        let req = NetworkDisconnectRequest { container: self.name.clone(), force: Some(true) };
        match docker.disconnect_network(network, req).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404 | 403 | 500, .. }) => Ok(()),
            Err(e) => Err(docker_err("leaving a preview network")(e)),
        }
    }
}
