//! Native compose: load (YAML → [`model::Project`]), plan, apply on bollard.

pub mod apply;
mod error;
pub mod load;
pub mod model;
pub mod plan;
pub mod safety;
pub mod source_mounts;

pub use error::{ComposeError, MissingFile, Refusal, SAFETY_GUIDE};
pub use load::{load, LoadOptions};
