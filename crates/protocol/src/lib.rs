//! The gateway's admin protocol as types (docs/gateway-protocol.md, v3): what
//! the engine pushes (routes with their certificates, the run-time config) and
//! what the gateway streams back (events, traffic counts). One definition for
//! both sides, so the engine and the gateway cannot drift apart.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One host routed to a service's containers. Fields this side does not
/// know are kept (`extra`), so an older gateway passes a newer engine's
/// fields through.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Host name, lowercase, no port (taken from the URL when pushed one by one).
    #[serde(default)]
    pub host: String,
    /// `container:port` on a network the gateway shares with the preview:
    /// the first of `upstreams`, so a gateway older than `upstreams` still
    /// reaches replica 1.
    pub upstream: String,
    /// Every replica's `container:port`, balanced round-robin per new
    /// upstream connection (v3); empty from older engines: `upstream` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstreams: Vec<String>,
    /// Preview id (`<slug>.<repo>`).
    #[serde(default)]
    pub preview: String,
    /// Repository name.
    #[serde(default)]
    pub repo: String,
    /// Branch name.
    #[serde(default)]
    pub branch: String,
    /// Lifecycle state as the engine names it; none means `ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The current step (`build: web`), shown on the status page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Why the preview failed, or what is down in a degraded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Last log lines of a failed preview.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
    /// A request to the stopped preview asks the engine to start it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wake: bool,
    /// The host's leaf certificate and key, for HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RouteTls>,
    /// Anything else the other side sent (kept for newer versions).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Route {
    /// The state name, `ready` when none was sent.
    pub fn state_name(&self) -> &str {
        self.state.as_deref().unwrap_or("ready")
    }

    /// A route to `upstreams` (`container:port` each): `upstream` is the first.
    pub fn to(upstreams: Vec<String>) -> Route {
        Route {
            upstream: upstreams.first().cloned().unwrap_or_default(),
            upstreams,
            ..Route::default()
        }
    }

    /// Every upstream to balance over: `upstreams`, or `upstream` alone (older engines).
    pub fn all_upstreams(&self) -> Vec<&str> {
        if self.upstreams.is_empty() {
            vec![self.upstream.as_str()]
        } else {
            self.upstreams.iter().map(String::as_str).collect()
        }
    }
}

/// A route's certificate: the leaf then the CA, and the leaf's key.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteTls {
    /// Leaf certificate PEM followed by the CA certificate PEM.
    pub cert_pem: String,
    /// PKCS#8 PEM of the leaf's private key.
    pub key_pem: String,
}

impl std::fmt::Debug for RouteTls {
    // By hand: the key must not reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTls").finish_non_exhaustive()
    }
}

/// The gateway's run-time settings (`PUT /config`); missing fields keep their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// Plain HTTP requests for a host with TLS get `308` to https.
    pub redirect_https: bool,
    /// How long a request for a waking preview is held before `504`.
    pub wake_timeout_ms: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            redirect_https: false,
            wake_timeout_ms: 60_000,
        }
    }
}

impl GatewayConfig {
    /// The wake timeout as a duration.
    pub fn wake_timeout(&self) -> Duration {
        Duration::from_millis(self.wake_timeout_ms)
    }
}

/// Requests seen for one preview since the gateway started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    /// How many requests.
    pub requests: u64,
    /// When the last one arrived (Unix ms).
    pub last_request_ms: i64,
}

/// `GET /stats`, and the body of a `traffic` event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Per preview id.
    #[serde(default)]
    pub previews: BTreeMap<String, Traffic>,
}

/// One line of `GET /events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GatewayEvent {
    /// First line on every connection.
    Hello,
    /// A request arrived for a stopped preview that may be woken.
    Wake {
        /// Preview id.
        preview: String,
        /// The host asked for.
        #[serde(default)]
        host: String,
        /// When (Unix ms).
        #[serde(default)]
        at_ms: i64,
    },
    /// Request counts changed.
    Traffic {
        /// Per preview id.
        #[serde(default)]
        previews: BTreeMap<String, Traffic>,
    },
    /// A type this side does not know (a newer gateway).
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn event_lines_parse_as_the_protocol_writes_them() {
        let parse = |s: &str| serde_json::from_str::<GatewayEvent>(s).unwrap();
        assert_eq!(parse(r#"{"type":"hello"}"#), GatewayEvent::Hello);
        assert_eq!(
            parse(
                r#"{"type":"wake","preview":"main.shop","host":"main.shop.localhost","at_ms":5}"#
            ),
            GatewayEvent::Wake {
                preview: "main.shop".into(),
                host: "main.shop.localhost".into(),
                at_ms: 5
            }
        );
        let GatewayEvent::Traffic { previews } = parse(
            r#"{"type":"traffic","previews":{"main.shop":{"requests":12,"last_request_ms":7}}}"#,
        ) else {
            panic!("a traffic line is a traffic event");
        };
        assert_eq!(previews["main.shop"].requests, 12);
        assert_eq!(
            parse(r#"{"type":"something-new","x":1}"#),
            GatewayEvent::Unknown,
            "a newer gateway's event types are skipped, not errors"
        );
    }

    #[test]
    fn a_route_without_the_newer_fields_still_parses_and_none_are_sent_empty() {
        let r: Route = serde_json::from_str(
            r#"{"host":"a.b.localhost","upstream":"x:1","preview":"a.b","repo":"b","branch":"a"}"#,
        )
        .unwrap();
        assert_eq!(r.state, None);
        assert_eq!(r.state_name(), "ready");
        let out = serde_json::to_value(&r).unwrap();
        assert!(
            out.get("tls").is_none() && out.get("logs").is_none() && out.get("wake").is_none(),
            "unset optional fields are left out: {out}"
        );
    }

    #[test]
    fn a_route_lists_its_replicas_and_keeps_the_first_as_upstream_for_older_gateways() {
        let r = Route::to(vec!["p-web-1:80".into(), "p-web-2:80".into()]);
        let wire = serde_json::to_value(&r).unwrap();
        assert_eq!(wire["upstream"], "p-web-1:80");
        assert_eq!(wire["upstreams"][1], "p-web-2:80");
        assert_eq!(r.all_upstreams(), vec!["p-web-1:80", "p-web-2:80"]);
        let old: Route = serde_json::from_str(r#"{"host":"h","upstream":"x:1"}"#).unwrap();
        assert_eq!(
            old.all_upstreams(),
            vec!["x:1"],
            "an older engine's route: one upstream"
        );
        let one = serde_json::to_value(Route::to(vec!["x:1".into()])).unwrap();
        assert_eq!(one["upstreams"][0], "x:1");
    }

    #[test]
    fn fields_of_a_newer_version_are_kept_and_sent_on() {
        let r: Route =
            serde_json::from_str(r#"{"upstream":"x:1","host":"h","color":"teal"}"#).unwrap();
        assert_eq!(r.extra["color"], "teal");
        assert_eq!(serde_json::to_value(&r).unwrap()["color"], "teal");
    }

    #[test]
    fn a_route_key_never_reaches_a_debug_print() {
        let tls = RouteTls {
            cert_pem: "CERT".into(),
            key_pem: "SECRET KEY".into(),
        };
        assert!(!format!("{tls:?}").contains("SECRET"));
    }

    #[test]
    fn a_config_without_fields_takes_the_defaults() {
        let c: GatewayConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, GatewayConfig::default());
        assert_eq!(c.wake_timeout(), Duration::from_secs(60));
    }
}
