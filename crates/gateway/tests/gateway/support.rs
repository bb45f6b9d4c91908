//! Upstreams, a gateway on ephemeral ports, and a raw HTTP/1.1 client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use branchyard_gateway::{serve, Config};

/// The admin token every test gateway uses.
pub const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// An upstream answering `name` plus the request head it saw, one request
/// per connection; `accepts` counts the connections it took.
pub struct Upstream {
    pub addr: SocketAddr,
    pub accepts: Arc<AtomicUsize>,
}

impl Upstream {
    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }
}

/// Reads until the end of a request head; what was read.
pub async fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = vec![0u8; 65536];
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    head
}

/// See [`Upstream`]; `keep_alive` answers many requests per connection.
pub async fn upstream_with(name: &'static str, keep_alive: bool) -> Upstream {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepts = Arc::new(AtomicUsize::new(0));
    let count = accepts.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                loop {
                    let head = read_head(&mut s).await;
                    if head.is_empty() {
                        return;
                    }
                    let text = String::from_utf8_lossy(&head).to_string();
                    let body = format!("{name}\n{text}");
                    let conn = if keep_alive { "keep-alive" } else { "close" };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: {conn}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() || !keep_alive {
                        return;
                    }
                }
            });
        }
    });
    Upstream { addr, accepts }
}

/// A one-request-per-connection upstream answering `name`.
pub async fn upstream(name: &'static str) -> Upstream {
    upstream_with(name, false).await
}

/// A WebSocket echo upstream.
pub async fn ws_upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(s).await.unwrap();
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() {
                        ws.send(m).await.unwrap();
                    }
                }
            });
        }
    });
    addr
}

/// A gateway served in-process; stopped on drop.
pub struct Gw {
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Gw {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A gateway on ephemeral loopback ports, its table saved to `state` if given.
pub async fn gateway(state: Option<std::path::PathBuf>) -> Gw {
    let stop = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let cfg = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        token: TOKEN.into(),
        state_file: state,
        public_port: None,
    };
    tokio::spawn(serve(cfg, stop.clone(), Some(tx)));
    let (proxy, admin) = rx.await.unwrap();
    Gw { proxy, admin, stop }
}

/// A raw HTTP/1.1 exchange; `(status, whole response text)`.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// An admin call with the token; `(status, whole response text)`.
pub async fn admin(gw: &Gw, method: &str, path: &str, body: &str) -> (u16, String) {
    let auth = format!("Bearer {TOKEN}");
    http(
        gw.admin,
        method,
        path,
        &[("host", "admin"), ("authorization", &auth)],
        body,
    )
    .await
}

/// Routes `host` to `upstream` through the admin API.
pub async fn put_route(gw: &Gw, host: &str, upstream: SocketAddr) {
    let body = serde_json::json!({ "upstream": upstream.to_string(), "preview": host, "repo": "r", "branch": "b" })
        .to_string();
    let (s, t) = admin(gw, "PUT", &format!("/routes/{host}"), &body).await;
    assert_eq!(s, 200, "route push: {t}");
}

/// The body of a raw response text.
pub fn body_of(text: &str) -> &str {
    text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}
