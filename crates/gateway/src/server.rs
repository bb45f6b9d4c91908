//! Listeners: plain HTTP, HTTPS (SNI, ALPN h2/http1.1) and the admin API,
//! with the hardening limits every proxy connection gets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::admin::Admin;
use crate::events::Events;
use crate::proxy::{Conn, Proxy};
use crate::routes::RouteTable;
use crate::settings::SettingsStore;
use crate::tls;

/// Limits on every proxy connection (slowloris, header floods, fd exhaustion).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Headers must arrive within this of the connection (or of the previous
    /// request on a kept-alive one); also bounds the TLS handshake.
    pub header_timeout: Duration,
    /// A quiet HTTP/2 connection is pinged after this and closed when the
    /// ping goes unanswered (HTTP/1.1 idle gaps fall under `header_timeout`).
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the accept queue.
    pub max_connections: usize,
    /// Largest request head (`431` above).
    pub max_header_bytes: usize,
    /// Most request headers (`431` above).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
        }
    }
}

/// Where to listen and what to guard with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Plain HTTP address.
    pub listen: SocketAddr,
    /// HTTPS address (`None`: no HTTPS listener).
    pub tls_listen: Option<SocketAddr>,
    /// Admin API address.
    pub admin_listen: SocketAddr,
    /// Admin token.
    pub token: String,
    /// Route table file (`None`: in memory only); `config.json` is kept beside it.
    pub state_file: Option<PathBuf>,
    /// The HTTP port users reach, for links in pages.
    pub public_port: Option<u16>,
    /// The HTTPS port users reach, for links and redirects.
    pub public_tls_port: Option<u16>,
    /// Connection limits.
    pub limits: Limits,
}

/// The addresses actually bound (tests bind port 0).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Plain HTTP.
    pub http: SocketAddr,
    /// HTTPS, when configured.
    pub tls: Option<SocketAddr>,
    /// Admin API.
    pub admin: SocketAddr,
}

/// Binds every listener and serves until `shutdown`; sends the bound
/// addresses through `bound` as soon as they are known.
///
/// # Errors
/// When a listener cannot be bound, the state file cannot be read or the
/// fallback certificate cannot be made.
pub async fn serve(
    config: Config,
    shutdown: CancellationToken,
    bound: Option<tokio::sync::oneshot::Sender<Bound>>,
) -> std::io::Result<()> {
    let table = RouteTable::load(config.state_file.clone())?;
    let settings = SettingsStore::load(
        config
            .state_file
            .as_ref()
            .map(|f| f.with_file_name("config.json")),
    );
    let events = Events::default();
    let http_l = TcpListener::bind(config.listen).await?;
    let tls_l = match config.tls_listen {
        Some(a) => Some(TcpListener::bind(a).await?),
        None => None,
    };
    let admin_l = TcpListener::bind(config.admin_listen).await?;
    if let Some(tx) = bound {
        let _ = tx.send(Bound {
            http: http_l.local_addr()?,
            tls: tls_l.as_ref().and_then(|l| l.local_addr().ok()),
            admin: admin_l.local_addr()?,
        });
    }
    let proxy = Arc::new(Proxy::new(
        table.clone(),
        settings.clone(),
        events.clone(),
        config.public_port,
        config.public_tls_port,
    ));
    let admin = Arc::new(Admin::new(
        table.clone(),
        settings,
        events.clone(),
        config.token,
    ));
    let limits = Arc::new(config.limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tokio::spawn(events.run_traffic(table.clone(), shutdown.child_token()));

    let http_loop = accept_loop(http_l, slots.clone(), shutdown.clone(), {
        let (proxy, limits) = (proxy.clone(), limits.clone());
        move |stream, peer| {
            let (proxy, limits) = (proxy.clone(), limits.clone());
            async move { serve_http1(stream, Arc::new(Conn::new(peer, None)), proxy, &limits).await }
        }
    });
    let tls_loop = async {
        let Some(l) = tls_l else { return };
        let acceptor = match tls::server_config(table.clone()) {
            Ok(c) => TlsAcceptor::from(c),
            Err(e) => {
                tracing::error!(error = %e, "no HTTPS listener");
                return;
            }
        };
        accept_loop(l, slots.clone(), shutdown.clone(), {
            let (proxy, limits, table) = (proxy.clone(), limits.clone(), table.clone());
            move |stream, peer| {
                let (proxy, limits, table) = (proxy.clone(), limits.clone(), table.clone());
                let acceptor = acceptor.clone();
                async move { serve_tls(stream, peer, acceptor, table, proxy, &limits).await }
            }
        })
        .await
    };
    let admin_loop = accept_loop(
        admin_l,
        Arc::new(Semaphore::new(256)),
        shutdown.clone(),
        move |stream, _| {
            let admin = admin.clone();
            async move {
                let svc = service_fn(move |req| {
                    let admin = admin.clone();
                    async move { admin.handle(req).await }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            }
        },
    );
    tokio::join!(http_loop, tls_loop, admin_loop);
    Ok(())
}

/// Accepts while a connection slot is free, serving each connection in its own task.
async fn accept_loop<F, Fut>(
    l: TcpListener,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = l.accept() => match a { Ok(a) => a, Err(e) => { pause_after(e).await; continue } },
        };
        let _ = stream.set_nodelay(true);
        let fut = serve(stream, peer);
        tokio::spawn(async move {
            fut.await;
            drop(permit);
        });
    }
}

fn h1_builder(limits: &Limits) -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes);
    b
}

async fn serve_http1<I>(io: I, conn: Arc<Conn>, proxy: Arc<Proxy>, limits: &Limits)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let (proxy, conn) = (proxy.clone(), conn.clone());
        async move { proxy.handle(req, &conn).await }
    });
    let _ = h1_builder(limits)
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades()
        .await;
}

async fn serve_tls(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    table: RouteTable,
    proxy: Arc<Proxy>,
    limits: &Limits,
) {
    let tls = match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => return,
    };
    let (_, session) = tls.get_ref();
    let h2 = session.alpn_protocol() == Some(b"h2");
    let served = tls::served_name(&table, session.server_name());
    let conn = Arc::new(Conn::new(peer, Some(served)));
    if !h2 {
        return serve_http1(tls, conn, proxy, limits).await;
    }
    let svc = service_fn(move |req| {
        let (proxy, conn) = (proxy.clone(), conn.clone());
        async move { proxy.handle(req, &conn).await }
    });
    let mut b = http2::Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32)
        .keep_alive_interval(limits.idle_timeout)
        .keep_alive_timeout(limits.header_timeout);
    let _ = b.serve_connection(TokioIo::new(tls), svc).await;
}

/// Accept failures (out of file descriptors, mostly) pass; retrying at once
/// would spin a core, so wait a moment first.
async fn pause_after(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
