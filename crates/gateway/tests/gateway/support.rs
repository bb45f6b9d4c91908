//! Upstreams, a gateway on ephemeral ports, and a raw HTTP/1.1 client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use branchyard_gateway::{serve, Config, Limits};

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

/// One answer read whole on a kept-alive connection (by its content-length): status and body.
pub async fn read_answer<S>(s: &mut S) -> (u16, String)
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the gateway closed the connection mid-answer");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let len: usize = text[..end]
            .lines()
            .find_map(|l| {
                l.to_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("a content-length");
        if buf.len() >= end + 4 + len {
            let status = text[9..12].parse().unwrap();
            return (status, text[end + 4..end + 4 + len].to_string());
        }
    }
}

/// Reads from `s` into `seen` until it contains `needle` (fails after 5 s).
pub async fn read_until(s: &mut TcpStream, seen: &mut Vec<u8>, needle: &str, why: &str) {
    let mut buf = vec![0u8; 65536];
    let found = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while !String::from_utf8_lossy(seen).contains(needle) {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before {needle:?} arrived");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "{why}: {needle:?} never arrived; got {:?}",
        String::from_utf8_lossy(seen)
    );
}

/// `GET /n` for `host` on a kept-alive connection, and its answer.
pub async fn exchange<S>(s: &mut S, host: &str) -> (u16, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let req = format!("GET /n HTTP/1.1\r\nhost: {host}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    read_answer(s).await
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

/// Sends `text` over `ws` and checks that the echo upstream sends it back.
pub async fn echoes<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, text: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(text.into()).await.unwrap();
    let m = ws.next().await.unwrap().unwrap();
    assert_eq!(
        m.into_text().unwrap().as_str(),
        text,
        "the message echoes back"
    );
}

/// A gateway served in-process; stopped on drop.
pub struct Gw {
    pub proxy: SocketAddr,
    pub tls: SocketAddr,
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
    gateway_with(state, Limits::default()).await
}

/// [`gateway`] with its own connection limits.
pub async fn gateway_with(state: Option<std::path::PathBuf>, limits: Limits) -> Gw {
    gateway_full(state, limits, 1).await
}

/// [`gateway`] with its own limits and number of worker threads.
pub async fn gateway_full(state: Option<std::path::PathBuf>, limits: Limits, workers: usize) -> Gw {
    let stop = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let cfg = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        token: TOKEN.into(),
        state_file: state,
        public_port: None,
        public_tls_port: None,
        limits,
        workers,
    };
    tokio::spawn(serve(cfg, stop.clone(), Some(tx)));
    let b = rx.await.unwrap();
    Gw {
        proxy: b.http,
        tls: b.tls.unwrap(),
        admin: b.admin,
        stop,
    }
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
    put_route_json(
        gw,
        host,
        serde_json::json!({ "upstream": upstream.to_string(), "preview": host, "repo": "r", "branch": "b" }),
    )
    .await;
}

/// Pushes `route` for `host` through the admin API.
pub async fn put_route_json(gw: &Gw, host: &str, route: serde_json::Value) {
    let (s, t) = admin(gw, "PUT", &format!("/routes/{host}"), &route.to_string()).await;
    assert_eq!(s, 200, "route push: {t}");
}

/// The body of a raw response text.
pub fn body_of(text: &str) -> &str {
    text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

/// A test CA that signs one leaf per host, and a rustls client that trusts only it.
pub struct Ca {
    key: rcgen::KeyPair,
    params: rcgen::CertificateParams,
    pub pem: String,
}

impl Ca {
    /// A fresh CA.
    pub fn new() -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Branchyard test CA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { key, params, pem }
    }

    /// The route's `tls` object for `host`: leaf then CA, and the leaf's key.
    pub fn leaf(&self, host: &str) -> serde_json::Value {
        let key = rcgen::KeyPair::generate().unwrap();
        let p = rcgen::CertificateParams::new(vec![host.to_string()]).unwrap();
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = p.signed_by(&key, &issuer).unwrap();
        serde_json::json!({
            "cert_pem": format!("{}{}", cert.pem(), self.pem),
            "key_pem": key.serialize_pem(),
        })
    }

    /// A client that trusts this CA alone, offering `alpn`.
    pub fn client(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls_pki_types::CertificateDer::from_pem_slice(self.pem.as_bytes()).unwrap())
            .unwrap();
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
    }
}

/// A TLS connection to the gateway's HTTPS listener for `sni`.
pub async fn tls_connect(
    gw: &Gw,
    connector: &tokio_rustls::TlsConnector,
    sni: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(gw.tls).await?;
    let name = rustls_pki_types::ServerName::try_from(sni.to_string()).unwrap();
    connector.connect(name, tcp).await
}

/// One HTTP/1.1 request over `s`; the whole response text.
pub async fn http_over<S>(mut s: S, host: &str, path: &str) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let req = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).to_string()
}

/// Reads the admin event stream until a line satisfies `pick` (fails after 5 s).
pub async fn next_event(
    lines: &mut (impl futures_util::Stream<Item = serde_json::Value> + Unpin),
    pick: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let v = lines.next().await.expect("the event stream ended");
            if pick(&v) {
                return v;
            }
        }
    })
    .await
    .expect("the awaited event never came")
}

/// `GET /events` with the token, as a stream of parsed lines.
pub async fn events(gw: &Gw) -> impl futures_util::Stream<Item = serde_json::Value> + Unpin {
    let mut s = TcpStream::connect(gw.admin).await.unwrap();
    let req =
        format!("GET /events HTTP/1.1\r\nhost: admin\r\nauthorization: Bearer {TOKEN}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let head = read_head(&mut s).await;
    let text = String::from_utf8_lossy(&head).to_string();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let (_, rest) = text.split_once("\r\n\r\n").unwrap();
    // Chunked framing: keep only the JSON lines.
    let first = rest.to_string();
    Box::pin(futures_util::stream::unfold(
        (s, first, Vec::<serde_json::Value>::new()),
        |(mut s, mut buf, mut ready)| async move {
            loop {
                if let Some(v) = ready.pop() {
                    return Some((v, (s, buf, ready)));
                }
                let mut found = Vec::new();
                while let Some(i) = buf.find('\n') {
                    let line: String = buf.drain(..=i).collect();
                    if let Ok(v @ serde_json::Value::Object(_)) =
                        serde_json::from_str::<serde_json::Value>(line.trim())
                    {
                        found.push(v);
                    }
                }
                if !found.is_empty() {
                    found.reverse();
                    ready = found;
                    continue;
                }
                let mut chunk = vec![0u8; 4096];
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        },
    ))
}
