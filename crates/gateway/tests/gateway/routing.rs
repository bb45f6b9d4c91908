//! Routing by Host: the right upstream, the right headers, and nothing
//! forwarded for hosts without a route.

use tokio::net::TcpListener;

use crate::support::{body_of, gateway, http, put_route, upstream, upstream_with};

#[tokio::test]
async fn each_host_reaches_its_own_upstream_with_forwarded_headers() {
    let gw = gateway(None).await;
    put_route(&gw, "main.shop.localhost", upstream("main").await.addr).await;
    put_route(
        &gw,
        "feature-x.shop.localhost",
        upstream("feature").await.addr,
    )
    .await;
    let (s1, t1) = http(
        gw.proxy,
        "GET",
        "/a?b=c",
        &[("host", "main.shop.localhost:8080")],
        "",
    )
    .await;
    let (s2, t2) = http(
        gw.proxy,
        "GET",
        "/",
        &[("host", "Feature-X.shop.localhost")],
        "",
    )
    .await;
    assert_eq!(s1, 200);
    assert!(
        body_of(&t1).starts_with("main\n"),
        "main's host reaches main: {t1}"
    );
    assert!(
        t1.contains("GET /a?b=c HTTP/1.1"),
        "path and query kept: {t1}"
    );
    let seen = t1.to_lowercase();
    assert!(seen.contains("x-forwarded-for: 127.0.0.1"), "{t1}");
    assert!(
        seen.contains("x-forwarded-host: main.shop.localhost:8080"),
        "{t1}"
    );
    assert!(seen.contains("x-forwarded-proto: http"), "{t1}");
    assert!(
        seen.contains("host: main.shop.localhost:8080"),
        "the app sees its own host: {t1}"
    );
    assert_eq!(s2, 200);
    assert!(
        body_of(&t2).starts_with("feature\n"),
        "host match ignores case: {t2}"
    );
}

#[tokio::test]
async fn hop_by_hop_headers_stay_on_their_hop() {
    let gw = gateway(None).await;
    put_route(&gw, "main.shop.localhost", upstream("main").await.addr).await;
    let (s, t) = http(
        gw.proxy,
        "GET",
        "/",
        &[
            ("host", "main.shop.localhost"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("connection", "x-secret-hop"),
        ],
        "",
    )
    .await;
    assert_eq!(s, 200);
    let seen = body_of(&t).to_lowercase();
    assert!(
        !seen.contains("keep-alive: timeout"),
        "keep-alive is per hop: {seen}"
    );
    assert!(
        !seen.contains("x-secret-hop"),
        "headers named by Connection are per hop: {seen}"
    );
}

#[tokio::test]
async fn an_unknown_host_gets_the_list_of_previews_and_reaches_no_upstream() {
    let gw = gateway(None).await;
    let main = upstream("main").await;
    put_route(&gw, "main.shop.localhost", main.addr).await;
    let (s, t) = http(gw.proxy, "GET", "/", &[("host", "evil.example")], "").await;
    assert_eq!(s, 404);
    assert!(
        t.contains("href=\"http://main.shop.localhost/\""),
        "the page links live previews: {t}"
    );
    let (s, t) = http(gw.proxy, "GET", "/", &[("host", "localhost")], "").await;
    assert_eq!(
        s, 200,
        "the bare gateway host is an index, not an error: {t}"
    );
    let (s, _) = http(gw.proxy, "GET", "/", &[("host", "127.0.0.1:80")], "").await;
    assert_eq!(s, 200, "so is 127.0.0.1");
    assert_eq!(
        main.accepted(),
        0,
        "no request for another host reached an upstream"
    );
}

#[tokio::test]
async fn a_stopped_upstream_is_a_502_naming_the_preview() {
    let gw = gateway(None).await;
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    put_route(&gw, "gone.shop.localhost", dead).await;
    let (s, t) = http(gw.proxy, "GET", "/", &[("host", "gone.shop.localhost")], "").await;
    assert_eq!(s, 502);
    assert!(
        t.contains("gone.shop.localhost") && t.contains("starting"),
        "{t}"
    );
}

#[tokio::test]
async fn upstream_connections_are_reused_across_requests() {
    let gw = gateway(None).await;
    let up = upstream_with("pooled", true).await;
    put_route(&gw, "pool.r.localhost", up.addr).await;
    for _ in 0..3 {
        let (s, t) = http(gw.proxy, "GET", "/", &[("host", "pool.r.localhost")], "").await;
        assert_eq!(s, 200, "{t}");
        // Give the finished connection a moment to return to the pool.
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    assert_eq!(up.accepted(), 1, "three requests, one upstream connection");
}

#[tokio::test]
async fn several_worker_threads_share_the_listeners_and_each_reuses_its_upstream_connections() {
    let gw = crate::support::gateway_full(None, branchyard_gateway::Limits::default(), 2).await;
    let up = upstream_with("sharded", true).await;
    put_route(&gw, "shard.r.localhost", up.addr).await;
    for i in 0..20 {
        let (s, t) = http(gw.proxy, "GET", "/", &[("host", "shard.r.localhost")], "").await;
        assert_eq!(s, 200, "request {i}: {t}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        up.accepted() <= 2,
        "at most one pooled upstream connection per worker, got {}",
        up.accepted()
    );
}

#[tokio::test]
async fn many_open_connections_over_two_workers_are_all_served_whichever_serves_them() {
    let gw = crate::support::gateway_full(None, branchyard_gateway::Limits::default(), 2).await;
    let up = upstream_with("spread", true).await;
    put_route(&gw, "spread.r.localhost", up.addr).await;
    // Held open together, so that some are handed from one worker to the
    // other (crate::balance, whose choice is unit-tested there): none is lost
    // in the hand-over, and each keeps being served where it landed.
    let mut open = Vec::new();
    for _ in 0..16 {
        open.push(tokio::net::TcpStream::connect(gw.proxy).await.unwrap());
    }
    for round in 0..2 {
        for (i, s) in open.iter_mut().enumerate() {
            let (status, body) = crate::support::exchange(s, "spread.r.localhost").await;
            assert_eq!(status, 200, "round {round}, connection {i}: {body}");
        }
    }
}
