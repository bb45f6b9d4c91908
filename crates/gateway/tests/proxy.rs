//! The gateway in-process, against real upstream servers on loopback.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use branchyard_gateway::{serve, Config};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// An HTTP/1.1 upstream answering `name` plus the request head it saw.
async fn upstream(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut head = Vec::new();
                loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 { return; }
                    head.extend_from_slice(&buf[..n]);
                    if head.windows(4).any(|w| w == b"\r\n\r\n") { break; }
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let body = format!("{name}\n{text}");
                let resp = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

/// A WebSocket echo upstream.
async fn ws_upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(s).await.unwrap();
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() { ws.send(m).await.unwrap(); }
                }
            });
        }
    });
    addr
}

struct Gw {
    proxy: SocketAddr,
    admin: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Gw {
    fn drop(&mut self) { self.stop.cancel(); }
}

async fn gateway(state: Option<std::path::PathBuf>) -> Gw {
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

/// A raw HTTP/1.1 exchange; returns (status, whole response text).
async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers { req.push_str(&format!("{k}: {v}\r\n")); }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

async fn put_route(gw: &Gw, host: &str, upstream: SocketAddr) {
    let body = serde_json::json!({ "upstream": upstream.to_string(), "preview": host, "repo": "r", "branch": "b" }).to_string();
    let auth = format!("Bearer {TOKEN}");
    let (s, t) = http(gw.admin, "PUT", &format!("/routes/{host}"), &[("host", "admin"), ("authorization", &auth)], &body).await;
    assert_eq!(s, 200, "route push: {t}");
}

#[tokio::test]
async fn each_host_reaches_its_own_upstream_with_forwarded_headers() {
    let gw = gateway(None).await;
    put_route(&gw, "main.shop.localhost", upstream("main").await).await;
    put_route(&gw, "feature-x.shop.localhost", upstream("feature").await).await;
    let (s1, t1) = http(gw.proxy, "GET", "/a?b=c", &[("host", "main.shop.localhost:8080")], "").await;
    let (s2, t2) = http(gw.proxy, "GET", "/", &[("host", "Feature-X.shop.localhost")], "").await;
    assert_eq!(s1, 200);
    assert!(t1.contains("\r\n\r\nmain\n"), "{t1}");
    assert!(t1.contains("GET /a?b=c HTTP/1.1"), "path and query kept: {t1}");
    assert!(t1.to_lowercase().contains("x-forwarded-for: 127.0.0.1"), "{t1}");
    assert!(t1.to_lowercase().contains("x-forwarded-host: main.shop.localhost:8080"), "{t1}");
    assert!(t1.to_lowercase().contains("x-forwarded-proto: http"), "{t1}");
    assert_eq!(s2, 200);
    assert!(t2.contains("\r\n\r\nfeature\n"), "{t2}");
}

#[tokio::test]
async fn an_unknown_host_gets_the_list_of_previews_and_reaches_no_upstream() {
    let gw = gateway(None).await;
    put_route(&gw, "main.shop.localhost", upstream("main").await).await;
    let (s, t) = http(gw.proxy, "GET", "/", &[("host", "evil.example")], "").await;
    assert_eq!(s, 404);
    assert!(t.contains("main.shop.localhost"), "the page lists live previews: {t}");
    assert!(!t.contains("\r\n\r\nmain\n"), "never forwarded");
    let (s, _) = http(gw.proxy, "GET", "/", &[("host", "localhost")], "").await;
    assert_eq!(s, 200, "the bare gateway host is an index, not an error");
}

#[tokio::test]
async fn a_stopped_upstream_is_a_502_naming_the_preview() {
    let gw = gateway(None).await;
    let dead = { let l = TcpListener::bind("127.0.0.1:0").await.unwrap(); l.local_addr().unwrap() };
    put_route(&gw, "gone.shop.localhost", dead).await;
    let (s, t) = http(gw.proxy, "GET", "/", &[("host", "gone.shop.localhost")], "").await;
    assert_eq!(s, 502);
    assert!(t.contains("gone.shop.localhost"), "{t}");
}

#[tokio::test]
async fn the_admin_api_refuses_without_the_token() {
    let gw = gateway(None).await;
    let (s, _) = http(gw.admin, "GET", "/routes", &[("host", "a")], "").await;
    assert_eq!(s, 401);
    let (s, _) = http(gw.admin, "GET", "/routes", &[("host", "a"), ("authorization", "Bearer wrong")], "").await;
    assert_eq!(s, 401);
    let (s, _) = http(gw.admin, "GET", "/healthz", &[("host", "a")], "").await;
    assert_eq!(s, 200, "health needs no token");
}

#[tokio::test]
async fn routes_come_back_after_a_restart_from_the_state_file() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("routes.json");
    let up = upstream("kept").await;
    {
        let gw = gateway(Some(state.clone())).await;
        put_route(&gw, "kept.r.localhost", up).await;
    }
    let gw = gateway(Some(state)).await;
    let (s, t) = http(gw.proxy, "GET", "/", &[("host", "kept.r.localhost")], "").await;
    assert_eq!(s, 200, "{t}");
}

#[tokio::test]
async fn a_large_body_streams_through() {
    let gw = gateway(None).await;
    // An upstream that counts the request body and answers a 1 MB body.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") || got.len() < 2_000_000 {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 { break; }
            got.extend_from_slice(&buf[..n]);
        }
        let body = vec![b'y'; 1_000_000];
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body).await.unwrap();
    });
    put_route(&gw, "big.r.localhost", addr).await;
    let big = "x".repeat(2_000_000);
    let (s, t) = http(gw.proxy, "POST", "/", &[("host", "big.r.localhost")], &big).await;
    assert_eq!(s, 200);
    assert!(t.len() > 1_000_000, "whole response body came back ({} bytes)", t.len());
}

#[tokio::test]
async fn a_websocket_echo_works_through_the_gateway() {
    let gw = gateway(None).await;
    put_route(&gw, "ws.r.localhost", ws_upstream().await).await;
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{}/", gw.proxy)).unwrap();
    req.headers_mut().insert("host", "ws.r.localhost".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.status(), 101);
    ws.send("ping".into()).await.unwrap();
    let m = ws.next().await.unwrap().unwrap();
    assert_eq!(m.into_text().unwrap().as_str(), "ping");
}
