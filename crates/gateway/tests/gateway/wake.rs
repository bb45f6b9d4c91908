//! Wake on request: a stopped preview's request emits `wake` and is held
//! until the engine marks the route ready; traffic counts on /stats and /events.

use std::time::Duration;

use branchyard_gateway::Limits;

use crate::support::{
    admin, body_of, events, gateway, gateway_with, http, next_event, put_route_json, upstream,
};

fn route(up: std::net::SocketAddr, state: &str) -> serde_json::Value {
    serde_json::json!({"upstream": up.to_string(), "preview": "nap.shop", "repo": "shop",
        "branch": "nap", "state": state, "wake": true})
}

#[tokio::test]
async fn a_held_request_gets_the_upstream_answer_once_the_route_turns_ready() {
    let gw = gateway(None).await;
    let up = upstream("awake").await;
    put_route_json(&gw, "nap.shop.localhost", route(up.addr, "stopped")).await;
    let mut ev = events(&gw).await;
    next_event(&mut ev, |v| v["type"] == "hello").await;

    let proxy = gw.proxy;
    let held = tokio::spawn(async move {
        http(proxy, "GET", "/api", &[("host", "nap.shop.localhost")], "").await
    });
    let wake = next_event(&mut ev, |v| v["type"] == "wake").await;
    assert_eq!(wake["preview"], "nap.shop");
    assert_eq!(wake["host"], "nap.shop.localhost");
    assert!(wake["at_ms"].as_u64().unwrap() > 1_700_000_000_000);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!held.is_finished(), "the request waits for the preview");

    // The engine's side: starting, then ready.
    put_route_json(&gw, "nap.shop.localhost", route(up.addr, "starting")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!held.is_finished(), "still held while starting");
    assert_eq!(up.accepted(), 0);
    put_route_json(&gw, "nap.shop.localhost", route(up.addr, "ready")).await;
    let (s, t) = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("released once ready")
        .unwrap();
    assert_eq!(s, 200, "{t}");
    assert!(body_of(&t).starts_with("awake\nGET /api"), "{t}");
}

#[tokio::test]
async fn a_browser_gets_the_starting_page_at_once_and_one_wake_per_stop() {
    let gw = gateway(None).await;
    let up = upstream("awake").await;
    put_route_json(&gw, "nap.shop.localhost", route(up.addr, "stopped")).await;
    let mut ev = events(&gw).await;
    let browser = [("host", "nap.shop.localhost"), ("accept", "text/html,*/*")];
    let (s, t) = http(gw.proxy, "GET", "/", &browser, "").await;
    assert_eq!(s, 503, "{t}");
    assert!(t.contains("http-equiv=\"refresh\""), "{t}");
    let (s, _) = http(gw.proxy, "GET", "/", &browser, "").await;
    assert_eq!(s, 503);
    next_event(&mut ev, |v| v["type"] == "wake").await;
    let second = tokio::time::timeout(Duration::from_millis(300), async {
        crate::support::next_event(&mut ev, |v| v["type"] == "wake").await
    })
    .await;
    assert!(second.is_err(), "at most one wake per preview per stop");
}

#[tokio::test]
async fn a_held_request_times_out_with_a_504_page() {
    let gw = gateway(None).await;
    let up = upstream("never").await;
    let (s, t) = admin(&gw, "PUT", "/config", r#"{"wake_timeout_ms":200}"#).await;
    assert_eq!(s, 200, "{t}");
    let (_, t) = admin(&gw, "GET", "/config", "").await;
    assert!(
        body_of(&t).contains("\"redirect_https\":false"),
        "defaults kept: {t}"
    );
    put_route_json(&gw, "nap.shop.localhost", route(up.addr, "stopped")).await;
    let (s, t) = http(gw.proxy, "GET", "/", &[("host", "nap.shop.localhost")], "").await;
    assert_eq!(s, 504, "{t}");
    assert!(t.contains("nap.shop"), "{t}");
    assert_eq!(up.accepted(), 0);
}

#[tokio::test]
async fn stats_and_traffic_events_count_requests_per_preview() {
    let gw = gateway_with(None, Limits::default()).await;
    let up = upstream("counted").await;
    put_route_json(
        &gw,
        "main.shop.localhost",
        serde_json::json!({"upstream": up.addr.to_string(), "preview": "main.shop", "repo": "shop", "branch": "main"}),
    )
    .await;
    put_route_json(
        &gw,
        "api.main.shop.localhost",
        serde_json::json!({"upstream": up.addr.to_string(), "preview": "main.shop", "repo": "shop", "branch": "main"}),
    )
    .await;
    let mut ev = events(&gw).await;
    for host in [
        "main.shop.localhost",
        "main.shop.localhost",
        "api.main.shop.localhost",
    ] {
        let (s, _) = http(gw.proxy, "GET", "/", &[("host", host)], "").await;
        assert_eq!(s, 200);
    }
    let (s, t) = admin(&gw, "GET", "/stats", "").await;
    assert_eq!(s, 200);
    let stats: serde_json::Value = serde_json::from_str(body_of(&t)).unwrap();
    assert_eq!(
        stats["previews"]["main.shop"]["requests"], 3,
        "both hosts of a preview count for it: {t}"
    );
    assert!(
        stats["previews"]["main.shop"]["last_request_ms"]
            .as_u64()
            .unwrap()
            > 1_700_000_000_000
    );
    let traffic = next_event(&mut ev, |v| v["type"] == "traffic").await;
    assert_eq!(traffic["previews"]["main.shop"]["requests"], 3, "{traffic}");
}
