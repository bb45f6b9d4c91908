//! Status pages instead of 502s: a preview on its way, a failed one, a stopped one.

use crate::support::{body_of, gateway, http, put_route_json, upstream};

#[tokio::test]
async fn a_starting_route_gets_a_self_refreshing_page_then_the_app_once_ready() {
    let gw = gateway(None).await;
    let up = upstream("app").await;
    let route = |state: &str| {
        serde_json::json!({"upstream": up.addr.to_string(), "preview": "main.shop", "repo": "shop",
            "branch": "main", "state": state, "step": "start: web"})
    };
    put_route_json(&gw, "main.shop.localhost", route("starting")).await;
    let (s, t) = http(gw.proxy, "GET", "/", &[("host", "main.shop.localhost")], "").await;
    assert_eq!(s, 503, "{t}");
    let lower = t.to_lowercase();
    assert!(lower.contains("retry-after: 1"), "{t}");
    assert!(
        t.contains("http-equiv=\"refresh\" content=\"1\""),
        "the page reloads itself: {t}"
    );
    assert!(
        t.contains("starting") && t.contains("start: web"),
        "names the state and step: {t}"
    );
    assert_eq!(up.accepted(), 0, "nothing forwarded while starting");

    put_route_json(&gw, "main.shop.localhost", route("ready")).await;
    let (s, t) = http(gw.proxy, "GET", "/", &[("host", "main.shop.localhost")], "").await;
    assert_eq!(s, 200, "{t}");
    assert!(
        body_of(&t).starts_with("app\n"),
        "ready: the app itself: {t}"
    );
}

#[tokio::test]
async fn a_failed_route_gets_its_reason_and_last_log_lines() {
    let gw = gateway(None).await;
    let up = upstream("app").await;
    put_route_json(
        &gw,
        "bad.shop.localhost",
        serde_json::json!({"upstream": up.addr.to_string(), "preview": "bad.shop", "repo": "shop",
            "branch": "bad", "state": "failed", "reason": "web exited with code 1",
            "logs": ["npm ERR! missing script: start", "<b>not bold</b>"]}),
    )
    .await;
    let (s, t) = http(gw.proxy, "GET", "/", &[("host", "bad.shop.localhost")], "").await;
    assert_eq!(s, 502, "{t}");
    assert!(t.contains("web exited with code 1"), "{t}");
    assert!(t.contains("npm ERR! missing script: start"), "{t}");
    assert!(
        t.contains("&lt;b&gt;not bold") && !t.contains("<b>"),
        "logs are escaped: {t}"
    );
    assert_eq!(up.accepted(), 0);
}

#[tokio::test]
async fn a_stopped_route_without_wake_says_how_to_start_it() {
    let gw = gateway(None).await;
    let up = upstream("app").await;
    put_route_json(
        &gw,
        "off.shop.localhost",
        serde_json::json!({"upstream": up.addr.to_string(), "preview": "off.shop", "repo": "shop",
            "branch": "off", "state": "stopped"}),
    )
    .await;
    let (s, t) = http(gw.proxy, "GET", "/", &[("host", "off.shop.localhost")], "").await;
    assert_eq!(s, 503, "{t}");
    assert!(t.contains("branchyard up shop off"), "{t}");
    assert_eq!(up.accepted(), 0);
}
