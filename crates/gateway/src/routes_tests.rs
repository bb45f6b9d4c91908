//! Unit tests of the route table.
#![allow(clippy::unwrap_used)]

use super::*;

fn route(host: &str) -> Route {
    Route {
        host: host.into(),
        upstream: "web:80".into(),
        upstreams: Vec::new(),
        preview: "p".into(),
        repo: "r".into(),
        branch: "b".into(),
        state: None,
        step: None,
        reason: None,
        logs: Vec::new(),
        wake: false,
        tls: None,
        extra: Default::default(),
    }
}

#[test]
fn hosts_match_without_port_case_or_trailing_dot() {
    let t = RouteTable::load(None).unwrap();
    t.put(route("Main.Shop.localhost")).unwrap();
    assert!(t.lookup("main.shop.localhost:8080").is_some());
    assert!(t.lookup("MAIN.shop.localhost.").is_some());
    assert!(t.lookup("other.shop.localhost").is_none());
}

#[test]
fn the_table_survives_a_restart_through_its_state_file() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("routes.json");
    let t = RouteTable::load(Some(f.clone())).unwrap();
    t.put(route("a.r.localhost")).unwrap();
    t.put(route("b.r.localhost")).unwrap();
    t.remove("a.r.localhost").unwrap();
    let again = RouteTable::load(Some(f)).unwrap();
    assert!(again.lookup("b.r.localhost").is_some());
    assert!(again.lookup("a.r.localhost").is_none());
}

#[test]
fn fields_the_gateway_does_not_know_are_kept() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("routes.json");
    let t = RouteTable::load(Some(f.clone())).unwrap();
    let r: Route = serde_json::from_str(
        r#"{"host":"a.r.localhost","upstream":"web:80","preview":"a.r","repo":"r","branch":"a","color":"blue"}"#,
    )
    .unwrap();
    t.put(r).unwrap();
    let again = RouteTable::load(Some(f)).unwrap();
    let kept = again.lookup("a.r.localhost").unwrap();
    assert_eq!(
        kept.route.extra["color"], "blue",
        "newer engines' fields survive a round trip"
    );
}

#[test]
fn a_failed_save_leaves_the_live_table_unchanged() {
    let d = tempfile::tempdir().unwrap();
    // A directory where the file should be: every save fails.
    let f = d.path().join("routes.json");
    let t = RouteTable::load(Some(f.clone())).unwrap();
    std::fs::create_dir(&f).unwrap();
    let err = t.put(route("a.r.localhost")).unwrap_err();
    assert_eq!(err.status(), 500);
    assert!(
        t.lookup("a.r.localhost").is_none(),
        "nothing unsaved is served"
    );
}

#[test]
fn an_unreadable_state_file_is_set_aside_and_the_gateway_starts_empty() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("routes.json");
    std::fs::write(&f, "not json").unwrap();
    let t = RouteTable::load(Some(f.clone())).unwrap();
    assert!(t.snapshot().hosts.is_empty());
    assert!(
        d.path().join("routes.json.corrupt").exists(),
        "the bad file is kept to look at"
    );
}

#[test]
fn a_route_without_state_is_ready_and_states_map_to_what_the_proxy_does() {
    let mut r = route("a.r.localhost");
    assert_eq!(Phase::of(&r), Phase::Serving, "old engines send no state");
    for (state, wake, phase) in [
        ("updating", false, Phase::Serving),
        ("building", false, Phase::Busy),
        ("starting", false, Phase::Busy),
        ("failed", false, Phase::Failed),
        ("stopped", true, Phase::Asleep),
        ("stopped", false, Phase::Stopped),
    ] {
        r.state = Some(state.into());
        r.wake = wake;
        assert_eq!(Phase::of(&r), phase, "{state} wake={wake}");
    }
}

#[test]
fn a_bad_certificate_is_refused_and_changes_nothing() {
    let t = RouteTable::load(None).unwrap();
    let mut r = route("a.r.localhost");
    r.tls = Some(RouteTls {
        cert_pem: "not a cert".into(),
        key_pem: "not a key".into(),
    });
    let e = t.put(r).unwrap_err();
    assert_eq!(e.status(), 400, "{e}");
    assert!(t.lookup("a.r.localhost").is_none());
}
