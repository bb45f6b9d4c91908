//! Wake on request and auto-suspend, with `branchyard serve` following the
//! gateway's events: a request for a stopped preview starts it and is answered
//! by the app; a preview with no request for its repo's idle time is suspended.

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::fixture::{httpd_dockerfile, repo};
use crate::support::{eventually, get, preview, sh, Env, GATEWAY};

/// One `serve` per home at a time: tests that need one take turns.
pub static SERVE_TURN: Mutex<()> = Mutex::new(());

/// A running `branchyard serve`, killed on drop.
pub struct Serve(Child);

impl Serve {
    /// Starts `serve` on `env` and waits until it holds its lock.
    pub fn start(env: &Env) -> Serve {
        // Its log stays in the test home, for a failure's post-mortem.
        let log = std::fs::File::create(env.home.path().join("serve.log")).unwrap();
        let child = env
            .cmd(&["serve"])
            .env("BRANCHYARD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        // Its startup pushes every route with `wake` on; give it that moment.
        std::thread::sleep(Duration::from_millis(1500));
        Serve(child)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn app_repo(env: &Env, name: &str) -> std::path::PathBuf {
    repo(
        env,
        name,
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    build: .\n    init: true\n    expose: [\"8080\"]\n",
            ),
            ("Dockerfile", &httpd_dockerfile()),
            ("www/index.html", "awake\n"),
        ],
    )
}

#[test]
fn a_request_wakes_a_stopped_preview_and_is_answered_by_the_app() {
    let _turn = SERVE_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::shared();
    let dir = app_repo(env, "sleepy");
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["up", "sleepy", "main"]);
    env.ok(&["stop", "sleepy", "main"]);
    let (status, body) = get("main.sleepy.localhost", "/");
    assert_eq!(
        status, 503,
        "stopped with nobody to wake it: the stopped page:\n{body}"
    );

    let serve = Serve::start(env);
    // A non-HTML request is held until the preview is ready, then forwarded:
    // a stopped preview answers 200 only through a wake. (Until serve has
    // pushed `wake` on, requests get the stopped page; a loaded machine may
    // take a few seconds for that.)
    let t = Instant::now();
    let body = eventually(Duration::from_secs(60), "the woken app's answer", || {
        let (status, body) = get("main.sleepy.localhost", "/");
        (status == 200).then_some(body)
    });
    assert_eq!(
        body.trim(),
        "awake",
        "the held request gets the app's answer (after {:?})",
        t.elapsed()
    );
    assert_eq!(
        preview(env, "main.sleepy").unwrap()["state"],
        "ready",
        "the wake went through the usual start path"
    );
    let status = env.json(&["status", "sleepy", "main"]);
    let requests = status["traffic"]["requests"].as_u64().unwrap_or(0);
    assert!(
        requests >= 1,
        "status shows the gateway's request count: {}",
        status["traffic"]
    );
    let human = env.ok(&["status", "sleepy", "main"]);
    assert!(human.contains("traffic: "), "{human}");

    // A restarted gateway: serve reconnects to its events and wakes again.
    sh(Path::new("/"), &format!("docker restart -t 1 {}", *GATEWAY));
    eventually(Duration::from_secs(20), "the gateway back", || {
        (get("main.sleepy.localhost", "/").0 == 200).then_some(())
    });
    env.ok(&["stop", "sleepy", "main"]);
    let body = eventually(Duration::from_secs(60), "a wake after the restart", || {
        let (status, body) = get("main.sleepy.localhost", "/");
        (status == 200).then_some(body)
    });
    assert_eq!(
        body.trim(),
        "awake",
        "woken through the reconnected event stream"
    );
    drop(serve);

    env.ok(&["down", "sleepy", "main"]);
    env.ok(&["repo", "rm", "sleepy"]);
}

#[test]
fn an_idle_preview_is_suspended_after_its_repos_idle_time_and_wakes_again() {
    let _turn = SERVE_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::shared();
    let dir = app_repo(env, "idle");
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["repo", "set", "idle", "--auto-suspend", "3s"]);
    env.ok(&["up", "idle", "main"]);
    let _serve = Serve::start(env);

    // Requests keep it awake (often: the gateway reports traffic once a
    // second, so serve's view of the last request lags by up to that).
    for _ in 0..15 {
        assert_eq!(get("main.idle.localhost", "/").0, 200);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(
        preview(env, "main.idle").unwrap()["state"],
        "ready",
        "a preview with requests is not idle"
    );
    // Then none: suspended after about 3 s.
    eventually(Duration::from_secs(30), "auto-suspend", || {
        (preview(env, "main.idle")?["state"] == "stopped").then_some(())
    });
    let status = env.json(&["status", "idle", "main"]);
    let log = status["transitions"].as_array().unwrap();
    assert!(
        log.iter().any(|t| t["trigger"] == "auto-suspend"),
        "the log says why it stopped: {log:?}"
    );
    // And a request wakes it again.
    let (status, body) = get("main.idle.localhost", "/");
    assert_eq!((status, body.trim()), (200, "awake"));

    env.ok(&["repo", "set", "idle", "--auto-suspend", "off"]);
    env.ok(&["down", "idle", "main"]);
    env.ok(&["repo", "rm", "idle"]);
}

#[test]
fn an_idle_time_set_while_serve_runs_takes_effect_without_a_restart() {
    let _turn = SERVE_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::shared();
    let dir = app_repo(env, "later");
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["up", "later", "main"]);
    let _serve = Serve::start(env);
    // Serve's timer has nothing to wait for; a setting written by another
    // process (this CLI) must wake it through the store, not a poll.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(preview(env, "main.later").unwrap()["state"], "ready");
    env.ok(&["repo", "set", "later", "--auto-suspend", "2s"]);
    eventually(
        Duration::from_secs(30),
        "auto-suspend after the new setting",
        || (preview(env, "main.later")?["state"] == "stopped").then_some(()),
    );

    env.ok(&["repo", "set", "later", "--auto-suspend", "off"]);
    env.ok(&["down", "later", "main"]);
    env.ok(&["repo", "rm", "later"]);
}
