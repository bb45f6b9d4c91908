//! Upstream connections: a kept-alive client keeps one to itself, a closed
//! one is replaced without an error, and a route change is followed at once.
//! (A client that goes leaves its connection to the next one: see
//! `routing::upstream_connections_are_reused_across_requests`.)

use std::time::Duration;

use tokio::net::TcpStream;

use crate::support::{exchange, gateway, put_route, upstream_with};

#[tokio::test]
async fn a_kept_alive_client_sends_every_request_on_one_upstream_connection() {
    let gw = gateway(None).await;
    let up = upstream_with("kept", true).await;
    put_route(&gw, "kept.r.localhost", up.addr).await;
    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    for i in 0..10 {
        let (s, body) = exchange(&mut c, "kept.r.localhost").await;
        assert_eq!(s, 200, "request {i}: {body}");
        assert!(body.starts_with("kept\nGET /n HTTP/1.1"), "{body}");
    }
    assert_eq!(
        up.accepted(),
        1,
        "ten requests of one client, one upstream connection"
    );
}

#[tokio::test]
async fn an_upstream_that_closes_after_each_answer_is_reconnected_without_an_error() {
    let gw = gateway(None).await;
    let up = upstream_with("closing", false).await;
    put_route(&gw, "closing.r.localhost", up.addr).await;
    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    for i in 0..5 {
        let (s, body) = exchange(&mut c, "closing.r.localhost").await;
        assert_eq!(s, 200, "request {i}: {body}");
        // The upstream's close reaches the gateway a moment after its answer.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        up.accepted(),
        5,
        "a connection per request, as the upstream wants"
    );
}

#[tokio::test]
async fn a_route_changed_under_a_kept_alive_client_is_followed_at_once() {
    let gw = gateway(None).await;
    let (a, b) = (
        upstream_with("old", true).await,
        upstream_with("new", true).await,
    );
    put_route(&gw, "moved.r.localhost", a.addr).await;
    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    let (_, body) = exchange(&mut c, "moved.r.localhost").await;
    assert!(body.starts_with("old\n"), "{body}");
    // A preview recreated: its container (and address) changed.
    put_route(&gw, "moved.r.localhost", b.addr).await;
    let (s, body) = exchange(&mut c, "moved.r.localhost").await;
    assert_eq!(s, 200);
    assert!(
        body.starts_with("new\n"),
        "the same client connection reaches the new upstream: {body}"
    );
}
