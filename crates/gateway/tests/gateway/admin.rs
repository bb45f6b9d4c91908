//! The admin API: token, route table operations, and persistence.

use crate::support::{admin, body_of, gateway, http, put_route, upstream};

#[tokio::test]
async fn the_admin_api_refuses_without_the_token() {
    let gw = gateway(None).await;
    let (s, _) = http(gw.admin, "GET", "/routes", &[("host", "a")], "").await;
    assert_eq!(s, 401, "no token");
    let wrong = [("host", "a"), ("authorization", "Bearer wrong")];
    let (s, _) = http(gw.admin, "GET", "/routes", &wrong, "").await;
    assert_eq!(s, 401, "wrong token");
    let (s, _) = http(gw.admin, "PUT", "/routes", &wrong, "[]").await;
    assert_eq!(s, 401, "writes too");
    for (method, path, body) in [
        ("GET", "/events", ""),
        ("GET", "/stats", ""),
        ("GET", "/config", ""),
        ("PUT", "/config", "{\"redirect_https\":true}"),
    ] {
        let (s, _) = http(gw.admin, method, path, &wrong, body).await;
        assert_eq!(s, 401, "{method} {path} with a wrong token");
        let (s, _) = http(gw.admin, method, path, &[("host", "a")], body).await;
        assert_eq!(s, 401, "{method} {path} without a token");
    }
    let (s, t) = http(gw.admin, "GET", "/healthz", &[("host", "a")], "").await;
    assert_eq!(s, 200, "health needs no token: {t}");
}

#[tokio::test]
async fn routes_are_listed_replaced_and_deleted() {
    let gw = gateway(None).await;
    let list = serde_json::json!([
        {"host": "a.r.localhost", "upstream": "a:80", "preview": "a.r", "repo": "r", "branch": "a"},
        {"host": "B.r.localhost", "upstream": "b:80", "preview": "b.r", "repo": "r", "branch": "b", "state": "running"},
    ]);
    let (s, t) = admin(&gw, "PUT", "/routes", &list.to_string()).await;
    assert_eq!(s, 200, "{t}");
    let (_, t) = admin(&gw, "GET", "/routes", "").await;
    let got: serde_json::Value = serde_json::from_str(body_of(&t)).unwrap();
    let hosts: Vec<&str> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts,
        ["a.r.localhost", "b.r.localhost"],
        "hosts are stored lowercase"
    );
    assert_eq!(got[1]["state"], "running", "extra fields are kept");

    let (s, _) = admin(&gw, "DELETE", "/routes/a.r.localhost", "").await;
    assert_eq!(s, 200);
    let (s, _) = admin(&gw, "DELETE", "/routes/never.r.localhost", "").await;
    assert_eq!(s, 200, "deleting an absent route is fine");
    let (s, t) = admin(&gw, "PUT", "/routes", "[]").await;
    assert_eq!(s, 200, "{t}");
    let (_, t) = admin(&gw, "GET", "/routes", "").await;
    assert_eq!(
        body_of(&t),
        "[]",
        "replacing with an empty list empties the table"
    );
}

#[tokio::test]
async fn bad_admin_requests_get_a_json_error_with_its_status() {
    let gw = gateway(None).await;
    let (s, t) = admin(&gw, "PUT", "/routes/x.r.localhost", "{\"nope\":1}").await;
    assert_eq!(s, 400, "a route needs an upstream: {t}");
    assert!(body_of(&t).contains("\"error\""), "{t}");
    let (s, _) = admin(&gw, "POST", "/elsewhere", "").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn routes_come_back_after_a_restart_from_the_state_file() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("routes.json");
    let up = upstream("kept").await;
    {
        let gw = gateway(Some(state.clone())).await;
        put_route(&gw, "kept.r.localhost", up.addr).await;
    }
    let gw = gateway(Some(state)).await;
    let (s, t) = http(gw.proxy, "GET", "/", &[("host", "kept.r.localhost")], "").await;
    assert_eq!(
        s, 200,
        "a new gateway serves the saved route with no engine around: {t}"
    );
}

#[tokio::test]
async fn the_config_comes_back_after_a_restart_and_missing_fields_keep_their_defaults() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("routes.json");
    {
        let gw = gateway(Some(state.clone())).await;
        let (s, t) = admin(&gw, "PUT", "/config", r#"{"redirect_https":true}"#).await;
        assert_eq!(s, 200, "{t}");
    }
    assert!(
        d.path().join("config.json").exists(),
        "kept beside the route table"
    );
    let gw = gateway(Some(state)).await;
    let (_, t) = admin(&gw, "GET", "/config", "").await;
    let got: serde_json::Value = serde_json::from_str(body_of(&t)).unwrap();
    assert_eq!(got["redirect_https"], true, "{t}");
    assert_eq!(got["wake_timeout_ms"], 60000, "the default: {t}");
}
