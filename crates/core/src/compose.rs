//! Native compose: load (YAML → [`model::Project`]), plan, apply on bollard.

pub mod apply;
pub mod model;
pub mod plan;

use crate::error::Code;

/// Errors loading, checking or applying a compose project.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// Placeholder until the loader lands.
    #[error("{0}")]
    Other(String),
}

impl ComposeError {
    /// The stable code for this error.
    pub fn code(&self) -> Code {
        Code::Config
    }
}
