//! The shared gateway: its image (built locally FROM scratch around the static
//! `branchyard-gateway` binary), its container on network `branchyard`, and
//! the routes the engine pushes through its token-guarded admin API.

mod admin;
mod binary;
mod container;
mod handle;
mod image;
mod network;
mod ports;
#[cfg(test)]
mod static_binary_tests;
#[cfg(test)]
mod tests;
mod token;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use admin::GatewayHealth;
pub use binary::{Arch, GatewayBinary, Lookup, Place, Source, BIN_VAR};
pub use container::{attach, ensure};
pub use handle::Gateway;
// The wire types, shared with the gateway (crates/protocol).
pub use branchyard_protocol::{GatewayConfig, GatewayEvent, Route, RouteTls, Stats, Traffic};

/// Errors managing the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No static gateway binary for the engine's architecture.
    #[error("no gateway binary for {arch} (the Docker engine's architecture); looked at: {}. Build it with `scripts/setup` (or `{build}`), or point {var} at one", looked.join("; "))]
    BinaryMissing {
        /// The architecture wanted.
        arch: Arch,
        /// Every place looked at, with why.
        looked: Vec<String>,
        /// The command that builds it.
        build: String,
        /// The override variable for this architecture.
        var: &'static str,
    },
    /// The binary found is built for another CPU than the engine's.
    #[error("the gateway binary {path} is {found}, but the Docker engine is {arch}: point {var} at an {arch} build (`{build}`)")]
    BinaryWrongArch {
        /// The file, with why it was chosen.
        path: String,
        /// What it is instead.
        found: String,
        /// The architecture wanted.
        arch: Arch,
        /// The override variable for this architecture.
        var: &'static str,
        /// The command that builds it.
        build: String,
    },
    /// The engine is not one the gateway can run on.
    #[error("the Docker engine reports OSType {os:?} and Architecture {arch:?}; the gateway container needs a Linux engine on x86_64 (amd64) or aarch64 (arm64): choose such an engine (on Docker Desktop for Windows, switch to Linux containers)")]
    UnsupportedEngine {
        /// `docker info` OSType.
        os: String,
        /// `docker info` Architecture.
        arch: String,
    },
    /// Docker refused something.
    #[error("gateway: {action}: {message}")]
    Docker {
        /// What we were doing.
        action: String,
        /// Docker's answer.
        message: String,
    },
    /// No port could be had.
    #[error("no free port for the gateway on {ip} (tried {tried}): free one, or choose one with `branchyard settings set gateway.{key} N`")]
    NoPort {
        /// Ports tried.
        tried: String,
        /// The host address they were tried on.
        ip: String,
        /// The setting that chooses it (`http_port`, `https_port`, `admin_port`).
        key: String,
    },
    /// The admin API did not answer as expected.
    #[error("gateway admin API: {0}")]
    Admin(String),
    /// The gateway did not come up.
    #[error(
        "the gateway container did not become healthy within {secs} s: see `docker logs {name}`"
    )]
    NotHealthy {
        /// Container name.
        name: String,
        /// How long we waited.
        secs: u64,
    },
    /// Files under the home.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// What failed.
        message: String,
    },
}

/// Where the gateway listens and what it is called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewaySettings {
    /// HTTP port on 127.0.0.1 (falls back when taken).
    pub http_port: u16,
    /// Admin API port on 127.0.0.1; 0 chooses (2019 or the next free).
    pub admin_port: u16,
    /// HTTPS port (falls back when taken); `None` when HTTPS is off.
    #[serde(default)]
    pub https_port: Option<u16>,
    /// Whether preview URLs are shown as https (HTTPS on, and the user asked
    /// for it or trusts the CA).
    #[serde(default)]
    pub https_urls: bool,
    /// Plain HTTP is redirected to HTTPS for hosts that have a certificate.
    #[serde(default)]
    pub redirect_https: bool,
    /// Publish HTTP and HTTPS on every interface, not only 127.0.0.1.
    #[serde(default)]
    pub lan: bool,
    /// Container name; network, volume and image derive from it.
    pub container_name: String,
    /// Extra labels on every Docker object the gateway makes (tests mark theirs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The container name of the user's own gateway.
pub const DEFAULT_NAME: &str = "branchyard-gateway";

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            http_port: 80,
            admin_port: 0,
            https_port: Some(443),
            https_urls: false,
            redirect_https: false,
            lan: false,
            container_name: DEFAULT_NAME.to_string(),
            labels: BTreeMap::new(),
        }
    }
}

impl GatewaySettings {
    /// The gateway's own network: `branchyard` for the default gateway, so a
    /// second gateway (tests, benchmarks) never shares or removes it.
    pub fn network(&self) -> String {
        if self.container_name == DEFAULT_NAME {
            NETWORK.to_string()
        } else {
            format!("{}-net", self.container_name)
        }
    }

    /// The volume holding the gateway's route table.
    pub fn volume(&self) -> String {
        format!("{}-data", self.container_name)
    }

    /// The image tag: one per gateway name and Branchyard version.
    pub fn image(&self) -> String {
        format!("{}:{}", self.container_name, env!("CARGO_PKG_VERSION"))
    }

    /// The host address HTTP and HTTPS are published on.
    pub fn publish_ip(&self) -> &'static str {
        if self.lan {
            "0.0.0.0"
        } else {
            "127.0.0.1"
        }
    }

    /// The config pushed with `PUT /config`.
    pub fn config(&self) -> GatewayConfig {
        GatewayConfig {
            redirect_https: self.redirect_https && self.https_port.is_some(),
            ..GatewayConfig::default()
        }
    }

    /// Labels for every object made: managed, gateway, plus [`Self::labels`].
    pub(crate) fn object_labels(&self) -> std::collections::HashMap<String, String> {
        let mut l: std::collections::HashMap<String, String> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        l.insert("dev.branchyard.managed".into(), "true".into());
        l.insert("dev.branchyard.gateway".into(), "true".into());
        l
    }
}

/// The network the default gateway container lives on.
pub const NETWORK: &str = "branchyard";
