//! The shared gateway: its image, its container and its routes.

/// Errors managing the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Placeholder until the module lands.
    #[error("{0}")]
    Other(String),
}
