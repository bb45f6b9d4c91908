//! `branchyard-gateway`: the proxy binary that runs in the gateway container.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use branchyard_gateway::{serve, Config, Limits};
use tokio_util::sync::CancellationToken;

#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

/// A number from the environment, `default` when unset.
fn env_num(key: &str, default: u64) -> Result<u64> {
    match std::env::var(key) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{key} must be a whole number, not {v:?}")),
        Err(_) => Ok(default),
    }
}

fn limits() -> Result<Limits> {
    let d = Limits::default();
    Ok(Limits {
        header_timeout: Duration::from_millis(env_num(
            "BRANCHYARD_GATEWAY_HEADER_TIMEOUT_MS",
            d.header_timeout.as_millis() as u64,
        )?),
        idle_timeout: Duration::from_millis(env_num(
            "BRANCHYARD_GATEWAY_IDLE_TIMEOUT_MS",
            d.idle_timeout.as_millis() as u64,
        )?),
        max_connections: env_num(
            "BRANCHYARD_GATEWAY_MAX_CONNECTIONS",
            d.max_connections as u64,
        )? as usize,
        ..d
    })
}

// Worker threads beyond this one run their own runtimes (see `serve`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let token = std::env::var("BRANCHYARD_GATEWAY_TOKEN").unwrap_or_default();
    if token.len() < 16 {
        bail!("BRANCHYARD_GATEWAY_TOKEN must be set (at least 16 characters): the admin API is refused without it");
    }
    let config = Config {
        listen: env_or("BRANCHYARD_GATEWAY_LISTEN", "0.0.0.0:80")
            .parse()
            .context("BRANCHYARD_GATEWAY_LISTEN")?,
        admin_listen: env_or("BRANCHYARD_GATEWAY_ADMIN_LISTEN", "0.0.0.0:2019")
            .parse()
            .context("BRANCHYARD_GATEWAY_ADMIN_LISTEN")?,
        tls_listen: match env_or("BRANCHYARD_GATEWAY_TLS_LISTEN", "0.0.0.0:443").as_str() {
            "" | "off" => None,
            a => Some(a.parse().context("BRANCHYARD_GATEWAY_TLS_LISTEN")?),
        },
        token,
        state_file: Some(env_or("BRANCHYARD_GATEWAY_STATE", "/data/routes.json").into()),
        public_port: std::env::var("BRANCHYARD_GATEWAY_PUBLIC_PORT")
            .ok()
            .and_then(|p| p.parse().ok()),
        public_tls_port: std::env::var("BRANCHYARD_GATEWAY_PUBLIC_TLS_PORT")
            .ok()
            .and_then(|p| p.parse().ok()),
        limits: limits()?,
        workers: env_num("BRANCHYARD_GATEWAY_WORKERS", 0)? as usize,
    };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        // Docker stops us with SIGTERM; exit at once instead of waiting for the kill.
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        stop.cancel();
    });
    serve(config, shutdown, None).await.context("gateway")?;
    Ok(())
}
