//! End-to-end tests: the real `branchyard` CLI against a real Docker engine,
//! the real gateway container and real git repositories made in temp dirs.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod compose_structure;
mod crash;
mod degraded;
mod engines;
mod failures;
mod fixture;
mod following;
mod https;
mod pages;
mod podman;
mod previews;
mod safety;
mod second_engine;
mod settings;
mod support;
mod tls_client;
mod tour;
mod wake;
mod worktree_files;
