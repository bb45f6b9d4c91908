//! `up`, `stop`, `start`, `down` and `undo` against the real Docker engine.

mod failures;
mod lifecycle;
mod structure;
mod support;
mod up;
