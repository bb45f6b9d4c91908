//! Listeners: plain HTTP, HTTPS (SNI, ALPN h2/http1.1) and the admin API,
//! with the hardening limits every proxy connection gets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::admin::Admin;
use crate::balance::{Balance, Handed};
use crate::events::Events;
use crate::proxy::{Conn, Proxy};
use crate::routes::RouteTable;
use crate::settings::SettingsStore;
use crate::timer::CoarseTimer;
use crate::tls;

/// Limits on every proxy connection (slowloris, header floods, fd exhaustion).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Headers must arrive within this of the connection (or of the previous
    /// request on a kept-alive one); also bounds the TLS handshake. Zero: no limit.
    pub header_timeout: Duration,
    /// A quiet HTTP/2 connection is pinged after this and closed when the
    /// ping goes unanswered (HTTP/1.1 idle gaps fall under `header_timeout`).
    pub idle_timeout: Duration,
    /// Connections served at once; beyond it each listener holds one accepted
    /// connection and the rest wait in the kernel's accept queue.
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
    /// Worker threads, each with its own runtime (`0`: one per core).
    pub workers: usize,
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
    let workers = match config.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let http_l = reuseport_listener(config.listen)?;
    let http_addr = http_l.local_addr()?;
    let tls_l = match config.tls_listen {
        Some(a) => Some(reuseport_listener(a)?),
        None => None,
    };
    let tls_addr = match &tls_l {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let admin_l = TcpListener::bind(config.admin_listen).await?;
    let acceptor = match tls_addr {
        Some(_) => Some(TlsAcceptor::from(
            tls::server_config(table.clone()).map_err(std::io::Error::other)?,
        )),
        None => None,
    };
    let (balance, mut inboxes) = Balance::new(workers);
    let shard = Shard {
        index: 0,
        balance,
        proxy: Arc::new(Proxy::new(
            table.clone(),
            settings.clone(),
            events.clone(),
            config.public_port,
            config.public_tls_port,
        )),
        table: table.clone(),
        slots: Arc::new(Semaphore::new(config.limits.max_connections.max(1))),
        limits: Arc::new(config.limits),
        acceptor,
        shutdown: shutdown.clone(),
        timer: CoarseTimer::default(),
    };
    // One current-thread runtime per core, each with its own listeners
    // (SO_REUSEPORT) and upstream pool: a request never hops between threads.
    for i in 1..workers {
        let s = shard.fresh(i);
        let inbox = inboxes.remove(1);
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("gateway-{i}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let bound = (|| {
                        let h = reuseport_listener(http_addr)?;
                        let t = tls_addr.map(reuseport_listener).transpose()?;
                        Ok::<_, std::io::Error>((h, t))
                    })();
                    match bound {
                        Ok((h, t)) => {
                            let _ = tx.send(Ok(()));
                            s.run(h, t, inbox).await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        rx.await
            .map_err(|_| std::io::Error::other("a gateway worker thread died at start"))??;
    }
    if let Some(tx) = bound {
        let _ = tx.send(Bound {
            http: http_addr,
            tls: tls_addr,
            admin: admin_l.local_addr()?,
        });
    }
    let admin = Arc::new(Admin::new(
        table.clone(),
        settings,
        events.clone(),
        config.token,
    ));
    tokio::spawn(events.run_traffic(table.clone(), shutdown.child_token()));
    let proxy_loops = shard.run(http_l, tls_l, inboxes.remove(0));
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
    tokio::join!(proxy_loops, admin_loop);
    Ok(())
}

/// What one worker thread serves proxy connections with.
#[derive(Clone)]
struct Shard {
    /// Which worker this is.
    index: usize,
    balance: Arc<Balance>,
    proxy: Arc<Proxy>,
    table: RouteTable,
    limits: Arc<Limits>,
    slots: Arc<Semaphore>,
    acceptor: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    /// Header-read and h2 ping deadlines of this worker's connections.
    timer: CoarseTimer,
}

impl Shard {
    /// The same shard for worker `index`, with upstream connections of its own.
    fn fresh(&self, index: usize) -> Shard {
        Shard {
            index,
            proxy: Arc::new(self.proxy.with_own_pool()),
            timer: CoarseTimer::default(),
            ..self.clone()
        }
    }

    /// Serves the proxy listeners, and the connections other workers hand
    /// over, until shutdown.
    async fn run(
        self,
        http_l: TcpListener,
        tls_l: Option<TcpListener>,
        mut inbox: tokio::sync::mpsc::UnboundedReceiver<Handed>,
    ) {
        let handed = async {
            loop {
                let h = tokio::select! {
                    _ = self.shutdown.cancelled() => return,
                    h = inbox.recv() => match h { Some(h) => h, None => return },
                };
                match TcpStream::from_std(h.stream) {
                    Ok(stream) => self.serve(stream, h.peer, h.tls, h.permit),
                    Err(_) => self.balance.done(self.index),
                }
            }
        };
        let tls_loop = async {
            if let Some(l) = tls_l {
                self.accept(l, true).await;
            }
        };
        tokio::join!(self.accept(http_l, false), tls_loop, handed);
    }

    /// Accepts while a connection slot is free; serves each connection here
    /// or hands it to a worker with fewer (see [`crate::balance`]).
    async fn accept(&self, l: TcpListener, tls: bool) {
        if tls && self.acceptor.is_none() {
            return;
        }
        while let Some((stream, peer, permit)) = next_conn(&l, &self.slots, &self.shutdown).await {
            let to = self.balance.assign(self.index);
            if to == self.index {
                self.serve(stream, peer, tls, permit);
                continue;
            }
            let h = match stream.into_std() {
                Ok(stream) => Handed {
                    stream,
                    peer,
                    tls,
                    permit,
                },
                Err(_) => {
                    self.balance.done(to);
                    continue;
                }
            };
            if let Err(h) = self.balance.hand(to, h) {
                self.balance.recount(to, self.index);
                if let Ok(stream) = TcpStream::from_std(h.stream) {
                    self.serve(stream, h.peer, h.tls, h.permit);
                } else {
                    self.balance.done(self.index);
                }
            }
        }
    }

    /// Serves one connection (already counted for this worker) in its own task.
    fn serve(&self, stream: TcpStream, peer: SocketAddr, tls: bool, permit: OwnedSemaphorePermit) {
        let (proxy, limits, balance, me, timer) = (
            self.proxy.clone(),
            self.limits.clone(),
            self.balance.clone(),
            self.index,
            self.timer.clone(),
        );
        let tls = if tls { self.acceptor.clone() } else { None };
        let table = self.table.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    serve_tls(stream, peer, acceptor, table, proxy, &limits, timer).await
                }
                None => {
                    let conn = Arc::new(Conn::new(peer, None));
                    crate::fastpath::serve(stream, conn, proxy, &limits, timer).await
                }
            }
            balance.done(me);
            drop(permit);
        });
    }
}

/// A listener several threads can each open on the same address.
fn reuseport_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    s.set_reuseaddr(true)?;
    s.set_reuseport(true)?;
    s.bind(addr)?;
    s.listen(1024)
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
    while let Some((stream, peer, permit)) = next_conn(&l, &slots, &shutdown).await {
        let fut = serve(stream, peer);
        tokio::spawn(async move {
            fut.await;
            drop(permit);
        });
    }
}

/// The next connection on `l` (TCP_NODELAY) with its slot; `None` at shutdown.
async fn next_conn(
    l: &TcpListener,
    slots: &Arc<Semaphore>,
    shutdown: &CancellationToken,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    // Accepted first, then a slot waited for: the listeners share the slots,
    // and a listener that took a freed slot before it had a connection would
    // sit on it while another listener's client waited for the next one.
    let (stream, peer) = loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            a = l.accept() => match a { Ok(a) => break a, Err(e) => pause_after(e).await },
        }
    };
    let permit = tokio::select! {
        _ = shutdown.cancelled() => return None,
        p = slots.clone().acquire_owned() => p.ok()?,
    };
    let _ = stream.set_nodelay(true);
    Some((stream, peer, permit))
}

fn h1_builder(limits: &Limits, timer: CoarseTimer) -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(timer)
        .header_read_timeout(Some(limits.header_timeout).filter(|d| !d.is_zero()))
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes);
    b
}

/// Serves an HTTP/1 connection with hyper (the fast path hands over the ones it does not take).
pub(crate) async fn serve_http1<I>(
    io: I,
    conn: Arc<Conn>,
    proxy: Arc<Proxy>,
    limits: &Limits,
    timer: CoarseTimer,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let (proxy, conn) = (proxy.clone(), conn.clone());
        async move { proxy.handle(req, &conn).await }
    });
    let _ = h1_builder(limits, timer)
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
    timer: CoarseTimer,
) {
    let handshake = Some(limits.header_timeout)
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(3600));
    let tls = match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
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
        return crate::fastpath::serve(tls, conn, proxy, limits, timer).await;
    }
    let svc = service_fn(move |req| {
        let (proxy, conn) = (proxy.clone(), conn.clone());
        async move { proxy.handle(req, &conn).await }
    });
    let mut b = http2::Builder::new(TokioExecutor::new());
    b.timer(timer)
        .max_header_list_size(limits.max_header_bytes as u32)
        .keep_alive_interval(limits.idle_timeout)
        .keep_alive_timeout(handshake);
    let _ = b.serve_connection(TokioIo::new(tls), svc).await;
}

/// Accept failures (out of file descriptors, mostly) pass; retrying at once
/// would spin a core, so wait a moment first.
async fn pause_after(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
