//! A running gateway as the engine holds it: where it listens, and the calls
//! that change its routes and the networks it is on.

use std::time::{Duration, Instant};

use bollard::Docker;
use hyper::Method;

use super::admin::{AdminClient, GatewayHealth};
use super::{network, GatewayError, Route};

/// How long a started gateway may take to answer `/healthz`.
const HEALTHY_WITHIN: Duration = Duration::from_secs(15);

/// A running gateway.
#[derive(Clone)]
pub struct Gateway {
    name: String,
    http_port: u16,
    admin_port: u16,
    fell_back: Option<u16>,
    admin: AdminClient,
}

impl std::fmt::Debug for Gateway {
    // By hand: the admin client holds the token, which must not reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("name", &self.name)
            .field("http_port", &self.http_port)
            .field("admin_port", &self.admin_port)
            .field("fell_back", &self.fell_back)
            .finish()
    }
}

impl Gateway {
    pub(super) fn new(
        name: &str,
        http_port: u16,
        admin_port: u16,
        wanted_http: u16,
        admin: AdminClient,
    ) -> Self {
        Gateway {
            name: name.to_string(),
            http_port,
            admin_port,
            fell_back: (http_port != wanted_http).then_some(http_port),
            admin,
        }
    }

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

    /// `http://host[:port]`, the port left out when it is 80.
    pub fn url_for(&self, host: &str) -> String {
        if self.http_port == 80 {
            format!("http://{host}")
        } else {
            format!("http://{host}:{}", self.http_port)
        }
    }

    /// Waits until `/healthz` answers.
    ///
    /// # Errors
    /// [`GatewayError::NotHealthy`] after [`HEALTHY_WITHIN`].
    pub(super) async fn wait_healthy(&self) -> Result<(), GatewayError> {
        let start = Instant::now();
        loop {
            match self.admin.health().await {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() > HEALTHY_WITHIN => {
                    tracing::warn!(error = %e, "the gateway never answered");
                    return Err(GatewayError::NotHealthy {
                        name: self.name.clone(),
                        secs: HEALTHY_WITHIN.as_secs(),
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
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
        self.admin
            .ok(Method::PUT, &format!("/routes/{}", route.host), Some(body))
            .await
            .map(|_| ())
    }

    /// Removes a route (absent is fine).
    ///
    /// # Errors
    /// When the admin API refuses.
    pub async fn remove_route(&self, host: &str) -> Result<(), GatewayError> {
        self.admin
            .ok(Method::DELETE, &format!("/routes/{host}"), None)
            .await
            .map(|_| ())
    }

    /// Every route it serves.
    ///
    /// # Errors
    /// When the admin API refuses.
    pub async fn routes(&self) -> Result<Vec<Route>, GatewayError> {
        let text = self.admin.ok(Method::GET, "/routes", None).await?;
        serde_json::from_str(&text).map_err(|e| GatewayError::Admin(format!("/routes: {e}")))
    }

    /// Replaces the whole table at once.
    ///
    /// # Errors
    /// When the admin API refuses.
    pub async fn replace_routes(&self, routes: &[Route]) -> Result<(), GatewayError> {
        let body = serde_json::to_string(routes).map_err(|e| GatewayError::Admin(e.to_string()))?;
        self.admin
            .ok(Method::PUT, "/routes", Some(body))
            .await
            .map(|_| ())
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
    pub async fn connect_network(
        &self,
        docker: &Docker,
        network: &str,
    ) -> Result<(), GatewayError> {
        network::connect(docker, &self.name, network).await
    }

    /// Leaves the preview network `network` (not joined or gone is fine).
    ///
    /// # Errors
    /// Other Docker failures.
    pub async fn disconnect_network(
        &self,
        docker: &Docker,
        network: &str,
    ) -> Result<(), GatewayError> {
        network::disconnect(docker, &self.name, network).await
    }
}
