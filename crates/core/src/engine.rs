//! The engine facade every client goes through.

/// The engine.
pub struct Engine {}
