//! `branchyard-gateway`: the proxy binary that runs in the gateway container.

use anyhow::{bail, Context, Result};
use branchyard_gateway::{serve, Config};
use tokio_util::sync::CancellationToken;

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
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
        token,
        state_file: Some(env_or("BRANCHYARD_GATEWAY_STATE", "/data/routes.json").into()),
        public_port: std::env::var("BRANCHYARD_GATEWAY_PUBLIC_PORT")
            .ok()
            .and_then(|p| p.parse().ok()),
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
