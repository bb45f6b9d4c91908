//! The shared gateway: its image (built locally FROM scratch around the static
//! `branchyard-gateway` binary), its container on network `branchyard`, and
//! the routes the engine pushes through its token-guarded admin API.

mod admin;
mod container;
mod image;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use admin::GatewayHealth;
pub use container::{attach, ensure, Gateway};
pub use image::binary_path;

/// Errors managing the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The static gateway binary is not built.
    #[error("the gateway binary {path} is missing: run `scripts/setup` (it builds it with `cargo build -p branchyard-gateway --release --target x86_64-unknown-linux-musl`), or set BRANCHYARD_GATEWAY_BIN")]
    BinaryMissing {
        /// Where it was looked for.
        path: PathBuf,
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
    #[error("no free port for the gateway on 127.0.0.1 (tried {tried}): free one, or choose one with `branchyard settings set gateway.http_port N`")]
    NoPort {
        /// Ports tried.
        tried: String,
    },
    /// The admin API did not answer as expected.
    #[error("gateway admin API: {0}")]
    Admin(String),
    /// The gateway did not come up.
    #[error("the gateway container did not become healthy within {secs} s: see `docker logs {name}`")]
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
    /// Container name; network, volume and image derive from it.
    pub container_name: String,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            http_port: 80,
            admin_port: 0,
            container_name: "branchyard-gateway".to_string(),
        }
    }
}

/// One routed host, as the gateway's admin API takes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Host name.
    pub host: String,
    /// `container:port` on the preview's network.
    pub upstream: String,
    /// Preview id.
    pub preview: String,
    /// Repository name.
    pub repo: String,
    /// Branch.
    pub branch: String,
}

/// The shared network every gateway container joins.
pub const NETWORK: &str = "branchyard";
