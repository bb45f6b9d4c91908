//! The v2 admin protocol's types beyond the route's core fields (see
//! docs/gateway-protocol.md): a route's TLS pair, the gateway's config, and
//! the events and traffic counts it streams.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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

/// What `PUT /config` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// A type this engine does not know (a newer gateway).
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
    fn a_route_without_the_new_fields_still_parses_and_none_are_sent_empty() {
        let r: super::super::Route = serde_json::from_str(
            r#"{"host":"a.b.localhost","upstream":"x:1","preview":"a.b","repo":"b","branch":"a"}"#,
        )
        .unwrap();
        assert_eq!(r.state, None);
        let out = serde_json::to_value(&r).unwrap();
        assert!(
            out.get("tls").is_none() && out.get("logs").is_none(),
            "unset optional fields are left out: {out}"
        );
    }
}
