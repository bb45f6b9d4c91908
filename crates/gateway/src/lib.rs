//! Branchyard's gateway: a reverse proxy that routes `<branch>.<repo>.localhost`
//! to each preview's container by Host header, over HTTP and HTTPS (a leaf per
//! host, chosen by SNI), with status pages for previews that are not serving,
//! wake on request, and an admin API the engine pushes routes through
//! (docs/gateway-protocol.md). It runs inside a `FROM scratch` container.

pub mod admin;
pub mod balance;
pub mod chunked;
pub mod error;
pub mod events;
pub(crate) mod fastpath;
pub mod forward;
pub mod idle;
pub mod own;
pub mod pages;
pub mod proxy;
pub mod replicas;
pub mod routes;
pub mod server;
pub mod settings;
pub mod timer;
pub mod tls;

pub use error::GatewayError;
pub use routes::{Route, RouteTable};
pub use server::{serve, Bound, Config, Limits};
