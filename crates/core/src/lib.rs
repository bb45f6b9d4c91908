//! Branchyard's engine: one running preview per git branch.
//!
//! The desktop app and the `branchyard` CLI do everything through [`Engine`].
//! Data flows one way (client → engine → store, Docker, gateway) and changes
//! come back as one stream of [`events::Event`]s.

pub mod carry;
pub mod compose;
pub mod docker;
pub mod engine;
pub mod error;
pub mod events;
pub mod gateway;
pub mod git;
pub mod lifecycle;
pub mod paths;
pub mod preview_config;
pub mod reconcile;
pub mod saga;
pub mod store;
pub mod tls;
pub mod watch;

pub use engine::Engine;
pub use error::{Code, Error, Result};
