//! Branchyard's gateway: a reverse proxy that routes `<branch>.<repo>.localhost`
//! to each preview's container by Host header, with an admin API the engine
//! pushes routes through. It runs inside a `FROM scratch` container.

pub mod admin;
pub mod error;
pub mod pages;
pub mod proxy;
pub mod routes;
pub mod server;

pub use error::GatewayError;
pub use routes::{Route, RouteTable};
pub use server::{serve, Config};
