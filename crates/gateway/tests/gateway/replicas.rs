//! A route with several upstreams (a service's replicas): new client
//! connections take them in turn, on the fast path and on hyper's, and an
//! upstream that cannot be reached is passed over without losing a request.

use std::collections::HashMap;
use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::support::{
    body_of, exchange, gateway, http, put_route_json, read_answer, read_head, upstream_with, Gw,
};

const HOST: &str = "main.shop.localhost";

async fn route_to(gw: &Gw, upstreams: &[SocketAddr]) {
    let list: Vec<String> = upstreams.iter().map(|a| a.to_string()).collect();
    put_route_json(
        gw,
        HOST,
        serde_json::json!({ "upstream": list[0], "upstreams": list, "preview": "main.shop", "repo": "shop", "branch": "main" }),
    )
    .await;
}

/// A loopback address nothing listens on (a replica that died).
async fn dead_address() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// Which upstream answered each of `n` requests, each on a new client connection.
async fn answers(gw: &Gw, n: usize, chunked: bool) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (status, text) = if chunked {
            // A chunked body is not the fast path's: hyper serves it.
            http_chunked(gw.proxy).await
        } else {
            http(gw.proxy, "GET", "/", &[("host", HOST)], "").await
        };
        assert_eq!(status, 200, "every request is answered: {text}");
        out.push(
            body_of(&text)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        );
    }
    out
}

/// A POST with a chunked body (hyper's path); `(status, whole response text)`.
async fn http_chunked(addr: SocketAddr) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /up HTTP/1.1\r\nhost: {HOST}\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let (status, body) = read_answer(&mut s).await;
    (status, format!("\r\n\r\n{body}"))
}

fn counts(seen: &[String]) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for s in seen {
        *m.entry(s.as_str()).or_default() += 1;
    }
    m
}

#[tokio::test]
async fn new_connections_take_the_replicas_in_turn_on_both_paths() {
    let gw = gateway(None).await;
    let (a, b) = (
        upstream_with("a", true).await,
        upstream_with("b", true).await,
    );
    route_to(&gw, &[a.addr, b.addr]).await;
    for chunked in [false, true] {
        let seen = answers(&gw, 6, chunked).await;
        let c = counts(&seen);
        assert_eq!(
            (c.get("a"), c.get("b")),
            (Some(&3), Some(&3)),
            "turn by turn (chunked: {chunked}): {seen:?}"
        );
        assert!(
            seen.windows(2).all(|w| w[0] != w[1]),
            "alternating (chunked: {chunked}): {seen:?}"
        );
    }
}

#[tokio::test]
async fn a_client_connection_keeps_its_replica_for_every_request() {
    let gw = gateway(None).await;
    let (a, b) = (
        upstream_with("a", true).await,
        upstream_with("b", true).await,
    );
    route_to(&gw, &[a.addr, b.addr]).await;
    let mut s = TcpStream::connect(gw.proxy).await.unwrap();
    let first = exchange(&mut s, HOST).await.1;
    for _ in 0..5 {
        let (status, body) = exchange(&mut s, HOST).await;
        assert_eq!(status, 200);
        assert_eq!(
            body.lines().next(),
            first.lines().next(),
            "one upstream connection per client connection"
        );
    }
    assert_eq!(a.accepted() + b.accepted(), 1, "and only one was opened");
}

#[tokio::test]
async fn a_dead_replica_is_skipped_and_no_request_is_lost() {
    let gw = gateway(None).await;
    let live = upstream_with("live", true).await;
    route_to(&gw, &[dead_address().await, live.addr]).await;
    for chunked in [false, true] {
        let seen = answers(&gw, 6, chunked).await;
        assert!(
            seen.iter().all(|s| s == "live"),
            "every request reaches the live replica (chunked: {chunked}): {seen:?}"
        );
    }
}

#[tokio::test]
async fn when_every_replica_is_down_the_page_names_them() {
    let gw = gateway(None).await;
    let (d1, d2) = (dead_address().await, dead_address().await);
    route_to(&gw, &[d1, d2]).await;
    let (status, text) = http(gw.proxy, "GET", "/", &[("host", HOST)], "").await;
    assert_eq!(status, 502, "{text}");
    assert!(
        text.contains(&d1.to_string()) && text.contains(&d2.to_string()),
        "both upstreams are named: {text}"
    );
    let up = upstream_with("back", true).await;
    route_to(&gw, &[d1, up.addr]).await;
    let (status, text) = http(gw.proxy, "GET", "/", &[("host", HOST)], "").await;
    assert_eq!((status, body_of(&text).lines().next()), (200, Some("back")));
}

/// An upstream that keeps connections alive until `kill` closes them all
/// and stops listening, as a killed container does.
async fn killable(name: &'static str) -> (SocketAddr, CancellationToken) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let kill = CancellationToken::new();
    let k = kill.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = tokio::select! {
                a = l.accept() => a.unwrap(),
                () = k.cancelled() => return,
            };
            let k = k.clone();
            tokio::spawn(async move {
                loop {
                    let head = tokio::select! {
                        h = read_head(&mut s) => h,
                        () = k.cancelled() => return,
                    };
                    if head.is_empty() {
                        return;
                    }
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name}",
                        name.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, kill)
}

#[tokio::test]
async fn a_held_connection_to_a_replica_that_died_moves_to_another() {
    let gw = gateway(None).await;
    let (a, kill_a) = killable("a").await;
    let (b, kill_b) = killable("b").await;
    route_to(&gw, &[a, b]).await;
    let mut s = TcpStream::connect(gw.proxy).await.unwrap();
    let (_, first) = exchange(&mut s, HOST).await;
    let other = if first == "a" { "b" } else { "a" };
    // Kill the replica this client connection is using.
    if first == "a" {
        kill_a.cancel();
    } else {
        kill_b.cancel();
    }
    for _ in 0..3 {
        let (status, body) = exchange(&mut s, HOST).await;
        assert_eq!(
            (status, body.as_str()),
            (200, other),
            "the request goes to the live replica"
        );
    }
}
