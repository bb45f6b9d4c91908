//! The gateway in-process, against real upstream servers on loopback: one
//! module per concern, shared servers and clients in `support`.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod admin;
mod binary;
mod fastpath;
mod hardening;
mod replicas;
mod reuse;
mod routing;
mod status;
mod streaming;
mod support;
mod tls;
mod upgrades;
mod wake;
