//! Hardening: header limits, slow clients, and nothing of another host's.

use std::time::{Duration, Instant};

use branchyard_gateway::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{exchange, gateway, gateway_with, http, put_route, read_answer, upstream};

#[tokio::test]
async fn oversized_or_too_many_headers_get_431() {
    let gw = gateway(None).await;
    let up = upstream("app").await;
    put_route(&gw, "main.shop.localhost", up.addr).await;
    let big = "x".repeat(20 * 1024);
    let (s, _) = http(
        gw.proxy,
        "GET",
        "/",
        &[("host", "main.shop.localhost"), ("x-big", &big)],
        "",
    )
    .await;
    assert_eq!(s, 431, "a 20 KiB header block is over the 16 KiB limit");
    let names: Vec<String> = (0..120).map(|i| format!("x-h{i}")).collect();
    let mut many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    many.push(("host", "main.shop.localhost"));
    let (s, _) = http(gw.proxy, "GET", "/", &many, "").await;
    assert_eq!(s, 431, "120 headers are over the 100 limit");
    assert_eq!(up.accepted(), 0, "neither reached the upstream");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let gw = gateway_with(None, limits).await;
    let mut s = TcpStream::connect(gw.proxy).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: main.shop.localhost\r\nx-slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the slow client was never cut off");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "not before the header timeout"
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_too() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let gw = gateway_with(None, limits).await;
    let mut s = TcpStream::connect(gw.proxy).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 64];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a connection that sends nothing is closed");
}

#[tokio::test]
async fn a_proxy_connection_cannot_reach_another_hosts_upstream_by_any_host_header() {
    let gw = gateway(None).await;
    let up = upstream("main").await;
    put_route(&gw, "main.shop.localhost", up.addr).await;
    for host in [
        "evil.example",
        "main.shop.localhost.evil.example",
        "shop.localhost",
        "",
    ] {
        let (s, t) = http(gw.proxy, "GET", "/", &[("host", host)], "").await;
        assert!(s == 404 || s == 400, "{host:?}: {t}");
    }
    let (s, t) = http(
        gw.proxy,
        "GET",
        "http://main.shop.localhost/",
        &[("host", "evil.example")],
        "",
    )
    .await;
    assert_ne!(s, 200, "an absolute URI does not override the Host: {t}");
    assert_eq!(up.accepted(), 0, "the upstream counted no request");
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_is_freed() {
    let limits = Limits {
        max_connections: 2,
        // Long, so that a freed slot taken by the wrong listener (the TLS one)
        // would leave the third client waiting past the 5 s below.
        header_timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let gw = gateway_with(None, limits).await;
    let up = crate::support::upstream_with("capped", true).await;
    put_route(&gw, "cap.r.localhost", up.addr).await;
    let req = b"GET / HTTP/1.1\r\nhost: cap.r.localhost\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(gw.proxy).await.unwrap();
        let (status, body) = exchange(&mut s, "cap.r.localhost").await;
        assert_eq!(status, 200, "{body}");
        held.push(s);
    }
    // A third is accepted by the kernel but not served while two are open.
    let mut third = TcpStream::connect(gw.proxy).await.unwrap();
    third.write_all(req).await.unwrap();
    let mut buf = [0u8; 4096];
    let early = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(early.is_err(), "served over the cap of 2 connections");
    drop(held.pop());
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), read_answer(&mut third))
        .await
        .expect("served once a connection was freed");
    assert_eq!(status, 200, "{body}");
}
