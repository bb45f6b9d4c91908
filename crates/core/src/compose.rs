//! Native compose: load (YAML → [`model::Project`]), plan, apply on bollard.

pub mod apply;
mod error;
pub mod load;
pub mod model;
pub mod plan;
pub mod safety;

pub use error::ComposeError;
pub use load::{load, LoadOptions};
