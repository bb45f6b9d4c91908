//! The commands through Tauri's IPC on the mock runtime, against a real
//! engine in a temporary home and real git repositories.

use std::path::Path;
use std::process::Command;

use branchyard_core::paths::Home;
use branchyard_core::Engine;
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

struct Fixture {
    _home: tempfile::TempDir,
    _app: App<tauri::test::MockRuntime>,
    window: WebviewWindow<tauri::test::MockRuntime>,
}

fn app() -> Fixture {
    let home = tempfile::tempdir().unwrap();
    let engine = Engine::open(Home::at(home.path()).unwrap()).unwrap();
    let app = crate::with_commands(mock_builder(), engine)
        .build(mock_context(noop_assets()))
        .unwrap();
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    Fixture {
        _home: home,
        _app: app,
        window,
    }
}

fn invoke(f: &Fixture, cmd: &str, args: Value) -> Result<Value, Value> {
    let req = InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        // On Linux anything but this origin is refused as remote.
        url: "tauri://localhost".parse().unwrap(),
        body: InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    get_ipc_response(&f.window, req).map(|b| b.deserialize::<Value>().unwrap())
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?} failed");
}

/// A repository `shop` with `main` and a newer `feature-x`.
fn repo() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    std::fs::create_dir(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README"), "hi\n").unwrap();
    git(&dir, &["add", "."]);
    git(
        &dir,
        &[
            "commit",
            "-q",
            "-m",
            "first commit",
            "--date",
            "2020-01-01T00:00:00",
        ],
    );
    git(&dir, &["checkout", "-q", "-b", "feature-x"]);
    std::fs::write(dir.join("README"), "hello\n").unwrap();
    git(&dir, &["commit", "-q", "-am", "say hello"]);
    git(&dir, &["checkout", "-q", "main"]);
    (tmp, dir)
}

#[test]
fn a_fresh_home_lists_no_repos_and_no_previews() {
    let f = app();
    assert_eq!(invoke(&f, "list_repos", json!({})), Ok(json!([])));
    assert_eq!(invoke(&f, "list_previews", json!({})), Ok(json!([])));
}

#[test]
fn an_added_repo_is_listed_with_its_branches_newest_first() {
    let f = app();
    let (_tmp, dir) = repo();
    let added = invoke(&f, "add_repo", json!({"path": dir.to_string_lossy()})).unwrap();
    assert_eq!(added["name"], "shop");
    let repos = invoke(&f, "list_repos", json!({})).unwrap();
    assert_eq!(repos.as_array().unwrap().len(), 1);
    assert_eq!(repos[0]["name"], "shop");

    let branches = invoke(&f, "list_branches", json!({"repo": "shop"})).unwrap();
    let names: Vec<&str> = branches
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["feature-x", "main"]);
    assert_eq!(branches[0]["subject"], "say hello");
    assert_eq!(branches[0]["preview"], Value::Null);
}

#[test]
fn trust_and_auto_update_are_toggled_and_the_repo_removed() {
    let f = app();
    let (_tmp, dir) = repo();
    invoke(&f, "add_repo", json!({"path": dir.to_string_lossy()})).unwrap();
    let r = invoke(
        &f,
        "set_repo_trusted",
        json!({"name": "shop", "trusted": true}),
    )
    .unwrap();
    assert_eq!(r["trusted"], true);
    let r = invoke(
        &f,
        "set_repo_auto_update",
        json!({"name": "shop", "on": false}),
    )
    .unwrap();
    assert_eq!(r["auto_update"], false);
    invoke(
        &f,
        "set_repo_auto_suspend",
        json!({"name": "shop", "minutes": 30}),
    )
    .unwrap();
    let s = invoke(&f, "settings_get", json!({})).unwrap();
    assert_eq!(s["auto_suspend"]["shop"], 1800, "30 minutes, in seconds");
    invoke(
        &f,
        "set_repo_auto_suspend",
        json!({"name": "shop", "minutes": 0}),
    )
    .unwrap();
    let s = invoke(&f, "settings_get", json!({})).unwrap();
    assert!(s["auto_suspend"]["shop"].is_null(), "0 turns it off");
    invoke(&f, "remove_repo", json!({"name": "shop", "force": false})).unwrap();
    assert_eq!(invoke(&f, "list_repos", json!({})), Ok(json!([])));
}

#[test]
fn a_path_that_is_not_a_repo_comes_back_as_a_coded_error() {
    let f = app();
    let err = invoke(&f, "add_repo", json!({"path": "/definitely/not/here"})).unwrap_err();
    assert!(err["code"].is_string(), "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("/definitely/not/here"),
        "{err}"
    );
    assert!(err.get("detail").is_some(), "{err}");
}

#[test]
fn branches_of_an_unknown_repo_is_an_error_naming_it() {
    let f = app();
    let err = invoke(&f, "list_branches", json!({"repo": "nope"})).unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("nope"), "{err}");
}

#[test]
fn settings_are_read_and_a_bad_value_is_refused() {
    let f = app();
    invoke(
        &f,
        "settings_set",
        json!({"key": "gateway.http_port", "value": "8088"}),
    )
    .unwrap();
    let s = invoke(&f, "settings_get", json!({})).unwrap();
    assert_eq!(s["http_port"], 8088);
    assert_eq!(
        s["stored"]["gateway.http_port"], "8088",
        "the panel shows what the user stored"
    );
    assert!(
        s["stored"]["gateway.https"].is_null(),
        "an unset key shows as unset, so the panel can show its default"
    );
    let err = invoke(
        &f,
        "settings_set",
        json!({"key": "gateway.http_port", "value": "x"}),
    )
    .unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("port"), "{err}");
}

#[test]
fn the_engine_in_use_and_the_contexts_to_choose_from_are_served() {
    let f = app();
    let report = invoke(&f, "engine_show", json!({})).unwrap();
    let id = Command::new("docker")
        .args(["info", "--format", "{{.ID}}"])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    assert_eq!(report["engine"]["id"], id.as_str(), "{report}");
    assert!(report["endpoint"]["chosen_by"].is_string(), "{report}");
    let contexts = invoke(&f, "engine_contexts", json!({})).unwrap();
    assert_eq!(contexts[0]["name"], "default", "{contexts}");
    let e = invoke(&f, "engine_use", json!({"name": "no-such-context"})).unwrap_err();
    assert_eq!(e["code"], "not_found");
    assert!(
        e["message"].as_str().unwrap().contains("default"),
        "lists the contexts that exist: {e}"
    );
}

#[test]
fn stopping_an_unknown_preview_is_an_error() {
    let f = app();
    let err = invoke(&f, "preview_stop", json!({"id": "shop/nope"})).unwrap_err();
    assert!(err["code"].is_string(), "{err}");
}

#[test]
fn only_http_urls_may_be_opened() {
    let f = app();
    let err = invoke(&f, "open_url", json!({"url": "file:///etc/passwd"})).unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("http"), "{err}");
}

/// Commands as build.rs declares them, the capability grants them and lib.rs
/// registers them: one list in three places, checked here.
#[test]
fn every_registered_command_is_declared_and_granted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let build = std::fs::read_to_string(root.join("src-tauri/build.rs")).unwrap();
    let lib = std::fs::read_to_string(root.join("src-tauri/src/lib.rs")).unwrap();
    let cap: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("src-tauri/capabilities/default.json")).unwrap(),
    )
    .unwrap();
    let registered: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("commands::"))
        .map(|l| l.trim_end_matches(','))
        .collect();
    assert!(registered.len() >= 20, "{registered:?}");
    let granted: Vec<String> = cap["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            p.as_str()?
                .strip_prefix("allow-")
                .map(|s| s.replace('-', "_"))
        })
        .collect();
    for cmd in &registered {
        assert!(
            build.contains(&format!("\"{cmd}\"")),
            "{cmd} missing from build.rs COMMANDS"
        );
        assert!(
            granted.iter().any(|g| g == cmd),
            "{cmd} not granted in default.json"
        );
    }
    assert_eq!(
        granted.len(),
        registered.len(),
        "the capability grants more than the app has"
    );
}

#[test]
fn log_subscriptions_refuse_unknown_previews_and_unknown_ids() {
    let f = app();
    let err = invoke(
        &f,
        "logs_follow",
        json!({"id": "nope.shop", "onBatch": "__CHANNEL__:7"}),
    )
    .unwrap_err();
    assert!(err["code"].is_string(), "{err}");
    assert!(err["message"].as_str().unwrap().contains("nope"), "{err}");
    assert_eq!(
        invoke(&f, "unsubscribe", json!({"sub": 12345})),
        Ok(json!(false))
    );
    let sub = invoke(&f, "output_follow", json!({"onBatch": "__CHANNEL__:8"})).unwrap();
    assert_eq!(
        invoke(&f, "unsubscribe", json!({"sub": sub})),
        Ok(json!(true))
    );
    assert_eq!(
        invoke(&f, "unsubscribe", json!({"sub": sub})),
        Ok(json!(false))
    );
}

#[test]
fn only_dropped_folders_are_offered_as_repositories() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("notes.txt");
    std::fs::write(&file, "x").unwrap();
    let dirs = crate::dropped_dirs(&[tmp.path().to_path_buf(), file, tmp.path().join("missing")]);
    assert_eq!(dirs, [tmp.path().to_string_lossy().into_owned()]);
}
