//! A running gateway as the engine holds it: where it listens, and the calls
//! that change its routes and the networks it is on.

use std::time::{Duration, Instant};

use bollard::Docker;
use http_body_util::BodyExt;
use hyper::Method;
use tokio::sync::mpsc;

use super::admin::{AdminClient, GatewayHealth};
use super::container::Published;
use super::{network, GatewayConfig, GatewayError, GatewayEvent, GatewaySettings, Route, Stats};

/// How long a started gateway may take to answer `/healthz`.
const HEALTHY_WITHIN: Duration = Duration::from_secs(15);

/// A running gateway.
#[derive(Clone)]
pub struct Gateway {
    name: String,
    http_port: u16,
    https_port: Option<u16>,
    admin_port: u16,
    fell_back: Option<u16>,
    fell_back_https: Option<u16>,
    https_urls: bool,
    lan: bool,
    admin: AdminClient,
}

impl std::fmt::Debug for Gateway {
    // By hand: the admin client holds the token, which must not reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("name", &self.name)
            .field("http_port", &self.http_port)
            .field("https_port", &self.https_port)
            .field("admin_port", &self.admin_port)
            .field("fell_back", &self.fell_back)
            .field("fell_back_https", &self.fell_back_https)
            .field("lan", &self.lan)
            .finish()
    }
}

impl Gateway {
    pub(super) fn new(
        name: &str,
        p: Published,
        settings: &GatewaySettings,
        admin: AdminClient,
    ) -> Self {
        Gateway {
            name: name.to_string(),
            http_port: p.http,
            https_port: p.https,
            admin_port: p.admin,
            fell_back: (p.http != settings.http_port).then_some(p.http),
            fell_back_https: p.https.filter(|h| Some(*h) != settings.https_port),
            https_urls: settings.https_urls && p.https.is_some(),
            lan: p.lan,
            admin,
        }
    }

    /// The HTTPS port, when HTTPS is on.
    pub fn https_port(&self) -> Option<u16> {
        self.https_port
    }

    /// The HTTPS port used instead of the wanted one, when that was taken.
    pub fn fell_back_https(&self) -> Option<u16> {
        self.fell_back_https
    }

    /// Whether HTTP and HTTPS are published on every interface.
    pub fn lan(&self) -> bool {
        self.lan
    }

    /// Whether preview URLs are https.
    pub fn https_urls(&self) -> bool {
        self.https_urls
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

    /// `http://host[:port]` (or `https://` when URLs are https), the port
    /// left out when it is the scheme's default.
    pub fn url_for(&self, host: &str) -> String {
        match self.https_port.filter(|_| self.https_urls) {
            Some(443) => format!("https://{host}"),
            Some(p) => format!("https://{host}:{p}"),
            None if self.http_port == 80 => format!("http://{host}"),
            None => format!("http://{host}:{}", self.http_port),
        }
    }

    /// `http://host[:port]` whatever the URL scheme (for probes and links).
    pub fn http_url_for(&self, host: &str) -> String {
        if self.http_port == 80 {
            format!("http://{host}")
        } else {
            format!("http://{host}:{}", self.http_port)
        }
    }

    /// Sets the gateway's config (`PUT /config`).
    ///
    /// # Errors
    /// When the admin API refuses.
    pub async fn put_config(&self, config: &GatewayConfig) -> Result<(), GatewayError> {
        let body = serde_json::to_string(config).map_err(|e| GatewayError::Admin(e.to_string()))?;
        self.admin
            .ok(Method::PUT, "/config", Some(body))
            .await
            .map(|_| ())
    }

    /// [`Self::put_config`], a failure only logged: a gateway that cannot take
    /// it still serves routes.
    pub(super) async fn push_config(&self, config: &GatewayConfig) {
        if let Err(e) = self.put_config(config).await {
            tracing::warn!(error = %e, "the gateway did not take its config");
        }
    }

    /// Request counts per preview (`GET /stats`).
    ///
    /// # Errors
    /// When the admin API refuses or answers something else.
    pub async fn stats(&self) -> Result<Stats, GatewayError> {
        let text = self.admin.ok(Method::GET, "/stats", None).await?;
        serde_json::from_str(&text).map_err(|e| GatewayError::Admin(format!("/stats: {e}")))
    }

    /// Follows `GET /events`, sending each event to `tx`, until the stream
    /// ends or `tx` is closed.
    ///
    /// # Errors
    /// When the stream cannot be opened or breaks (the gateway restarted).
    pub async fn follow_events(
        &self,
        tx: &mpsc::UnboundedSender<GatewayEvent>,
    ) -> Result<(), GatewayError> {
        let mut body = self.admin.stream("/events").await?;
        let mut buf = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| GatewayError::Admin(format!("/events: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buf.extend_from_slice(&data);
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&line);
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<GatewayEvent>(line.trim()) {
                    Ok(ev) => {
                        if tx.send(ev).is_err() {
                            return Ok(());
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, %line, "unreadable gateway event"),
                }
            }
        }
        Err(GatewayError::Admin("/events: the stream ended".into()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(https: Option<u16>, https_urls: bool, http: u16) -> Gateway {
        let settings = GatewaySettings {
            http_port: http,
            https_port: https,
            https_urls,
            ..GatewaySettings::default()
        };
        let p = Published {
            http,
            https,
            admin: 2019,
            lan: false,
        };
        Gateway::new("g", p, &settings, AdminClient::new(2019, String::new()))
    }

    #[test]
    fn urls_are_https_only_when_https_is_served_and_shown() {
        let host = "main.shop.localhost";
        assert_eq!(
            gateway(Some(443), true, 80).url_for(host),
            "https://main.shop.localhost"
        );
        assert_eq!(
            gateway(Some(8443), true, 80).url_for(host),
            "https://main.shop.localhost:8443"
        );
        assert_eq!(
            gateway(Some(443), false, 8080).url_for(host),
            "http://main.shop.localhost:8080",
            "served but the CA is not trusted: http"
        );
        assert_eq!(
            gateway(None, true, 80).url_for(host),
            "http://main.shop.localhost",
            "HTTPS off: http whatever was asked"
        );
    }
}
