//! Listeners: the proxy on one address, the admin API on another.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin::Admin;
use crate::proxy::Proxy;
use crate::routes::RouteTable;

/// Where to listen and what to guard with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Proxy address.
    pub listen: SocketAddr,
    /// Admin API address.
    pub admin_listen: SocketAddr,
    /// Admin token.
    pub token: String,
    /// Route table file (`None`: in memory only).
    pub state_file: Option<PathBuf>,
    /// The port users reach the proxy on, for links in pages.
    pub public_port: Option<u16>,
}

/// Binds both listeners and serves until `shutdown`; returns the bound addresses
/// through `bound` as soon as they are known (tests bind port 0).
pub async fn serve(
    config: Config,
    shutdown: CancellationToken,
    bound: Option<tokio::sync::oneshot::Sender<(SocketAddr, SocketAddr)>>,
) -> std::io::Result<()> {
    let table = RouteTable::load(config.state_file.clone())?;
    let proxy_l = TcpListener::bind(config.listen).await?;
    let admin_l = TcpListener::bind(config.admin_listen).await?;
    if let Some(tx) = bound {
        let _ = tx.send((proxy_l.local_addr()?, admin_l.local_addr()?));
    }
    let proxy = Arc::new(Proxy::new(table.clone(), config.public_port));
    let admin = Arc::new(Admin::new(table, config.token));
    let proxy_loop = {
        let shutdown = shutdown.clone();
        async move {
            loop {
                let (stream, peer) = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    a = proxy_l.accept() => match a { Ok(a) => a, Err(e) => { pause_after(e).await; continue } },
                };
                let _ = stream.set_nodelay(true);
                let proxy = proxy.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let proxy = proxy.clone();
                        async move { proxy.handle(req, peer).await }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        }
    };
    let admin_loop = {
        let shutdown = shutdown.clone();
        async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    a = admin_l.accept() => match a { Ok(a) => a, Err(e) => { pause_after(e).await; continue } },
                };
                let admin = admin.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let admin = admin.clone();
                        async move { admin.handle(req).await }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    };
    tokio::join!(proxy_loop, admin_loop);
    Ok(())
}

/// Accept failures (out of file descriptors, mostly) pass; retrying at once
/// would spin a core, so wait a moment first.
async fn pause_after(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}
