//! Reaching a Docker engine, and only the one the docker CLI would use.
//!
//! This layer knows addresses, contexts, sockets and TLS; it knows nothing of
//! what runs on an engine (a later `Runtime` takes an [`Endpoint`]).
//! [`resolve`] is a pure function of the flag, the setting and an
//! [`EnvSnapshot`]; [`locate`] adds the probe of well-known sockets; [`connect`]
//! checks TLS files and reaches the engine, never falling back to another.

mod connect;
pub mod contexts;
mod env;
mod error;
mod host;
mod locate;
pub mod probe;
mod resolve;
mod tls;

pub use connect::{connect, engine_info, EngineInfo};
pub use contexts::{StoredContext, DEFAULT_CONTEXT};
pub use env::EnvSnapshot;
pub use error::EndpointError;
pub use host::{normalize, ClientCert, Endpoint, EndpointSource, TlsFiles};
pub use locate::{locate, Located};
pub use resolve::{resolve, Resolution};
