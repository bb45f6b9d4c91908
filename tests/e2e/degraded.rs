//! A ready preview whose container dies is `degraded`, says which service and
//! how, keeps being routed, and is `ready` again once its services run again:
//! seen by `ls`/`status` alone, and live by `branchyard serve` on Docker's events.

use std::time::Duration;

use branchyard_core::lifecycle::State;
use branchyard_core::paths::Home;
use branchyard_core::store::Store;

use crate::fixture::{httpd_dockerfile, repo};
use crate::support::{eventually, get, preview, sh, Env};
use crate::wake::{Serve, SERVE_TURN};

/// Two routed httpd services, `web` and `api`, so one can die while the other answers.
fn two_service_repo(env: &Env, name: &str) -> std::path::PathBuf {
    repo(
        env,
        name,
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    build: .\n    init: true\n    expose: [\"8080\"]\n  api:\n    build: .\n    init: true\n    expose: [\"8080\"]\n",
            ),
            ("Dockerfile", &httpd_dockerfile()),
            ("www/index.html", "up\n"),
        ],
    )
}

fn docker(args: &str) {
    sh(
        std::path::Path::new("/"),
        &format!("docker {args} >/dev/null"),
    );
}

/// The store's record, read without judging it (unlike `ls`): what serve wrote.
fn stored(env: &Env, id: &str) -> Option<(State, Option<String>)> {
    let home = Home::at(env.home.path()).unwrap();
    let store = Store::open(&home.db_path()).unwrap();
    let rec = store.preview(id).unwrap()?;
    Some((rec.state, rec.error))
}

/// Waits up to `secs` for serve to record `id` degraded; the reason it gave.
fn serve_degrades(env: &Env, id: &str, secs: u64) -> Option<String> {
    eventually(
        Duration::from_secs(secs),
        "serve to mark it degraded",
        || match stored(env, id)? {
            (State::Degraded, reason) => Some(reason),
            _ => None,
        },
    )
}

/// Waits up to `secs` for serve to record `id` ready again.
fn serve_heals(env: &Env, id: &str, secs: u64) {
    eventually(
        Duration::from_secs(secs),
        "serve to mark it ready again",
        || (stored(env, id)?.0 == State::Ready).then_some(()),
    );
}

fn last_transition(env: &Env, id: &str) -> serde_json::Value {
    let status = env.json(&["status", id]);
    status["transitions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone()
}

#[test]
fn a_killed_container_degrades_a_ready_preview_and_start_makes_it_ready() {
    let env = Env::shared();
    let dir = two_service_repo(env, "limp");
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["up", "limp", "main"]);
    assert_eq!(preview(env, "main.limp").unwrap()["state"], "ready");

    docker("kill limp--main-api-1");
    let p = preview(env, "main.limp").unwrap();
    assert_eq!(p["state"], "degraded", "ls sees the dead container: {p}");
    assert_eq!(p["error"], "api exited with code 137 (killed)", "{p}");
    let t = last_transition(env, "main.limp");
    assert_eq!(
        (t["from"].as_str(), t["to"].as_str()),
        (Some("ready"), Some("degraded")),
        "the change is in the log: {t}"
    );
    let ls = env.ok(&["ls"]);
    assert!(
        ls.contains("degraded") && ls.contains("`branchyard start main.limp`"),
        "ls says what is down and what to do:\n{ls}"
    );

    // Still routed: the service that runs answers, the dead one's page says why.
    let (status, body) = get("main.limp.localhost", "/");
    assert_eq!((status, body.trim()), (200, "up"), "web still answers");
    let (status, body) = get("api.main.limp.localhost", "/");
    assert_eq!(status, 502, "{body}");
    assert!(
        body.contains("is degraded (api exited with code 137 (killed))")
            && body.contains("branchyard start main.limp"),
        "the error page names the state, the reason and the fix:\n{body}"
    );

    env.ok(&["start", "main.limp"]);
    let p = preview(env, "main.limp").unwrap();
    assert_eq!(p["state"], "ready", "start restarts what is down: {p}");
    assert!(
        p["error"].is_null(),
        "no reason left on a ready preview: {p}"
    );
    let (status, body) = eventually(Duration::from_secs(10), "api to answer", || {
        let r = get("api.main.limp.localhost", "/");
        (r.0 == 200).then_some(r)
    });
    assert_eq!((status, body.trim()), (200, "up"));

    // `up` converges a degraded preview too (as an update of its containers).
    docker("kill limp--main-web-1");
    assert_eq!(preview(env, "main.limp").unwrap()["state"], "degraded");
    env.ok(&["up", "limp", "main"]);
    let t = last_transition(env, "main.limp");
    assert_eq!(
        (t["from"].as_str(), t["to"].as_str()),
        (Some("updating"), Some("ready")),
        "up went degraded → updating → ready: {t}"
    );
    assert_eq!(get("main.limp.localhost", "/").0, 200);

    // A container removed outright is down too, not a preview with one service fewer.
    docker("rm -f limp--main-api-1");
    let p = preview(env, "main.limp").unwrap();
    assert_eq!(p["state"], "degraded", "ls sees the missing container: {p}");
    assert_eq!(p["error"], "api's container was removed", "{p}");
    assert_eq!(
        preview(env, "main.limp").unwrap()["state"],
        "degraded",
        "a second look does not take the missing service for a whole preview"
    );
    env.ok(&["start", "main.limp"]);
    assert_eq!(preview(env, "main.limp").unwrap()["state"], "ready");
    eventually(Duration::from_secs(10), "the new api to answer", || {
        (get("api.main.limp.localhost", "/").0 == 200).then_some(())
    });

    env.ok(&["down", "main.limp"]);
    env.ok(&["repo", "rm", "limp"]);
}

#[test]
fn serve_degrades_a_preview_on_a_container_death_and_heals_it_on_docker_start() {
    let _turn = SERVE_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::shared();
    let dir = two_service_repo(env, "wobbly");
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["up", "wobbly", "main"]);
    let _serve = Serve::start(env);

    // Nobody runs `ls`: serve alone follows Docker's events.
    docker("kill wobbly--main-web-1");
    let reason = serve_degrades(env, "main.wobbly", 20);
    assert_eq!(
        reason.as_deref(),
        Some("web exited with code 137 (killed)"),
        "the reason names the service and how it ended"
    );

    // The user's own `docker start` brings it back: serve sees it and heals the preview.
    docker("start wobbly--main-web-1");
    serve_heals(env, "main.wobbly", 20);
    let t = last_transition(env, "main.wobbly");
    assert_eq!(
        (t["from"].as_str(), t["to"].as_str(), t["trigger"].as_str()),
        (Some("degraded"), Some("ready"), Some("docker")),
        "serve made the change, from Docker's events: {t}"
    );

    env.ok(&["down", "main.wobbly"]);
    env.ok(&["repo", "rm", "wobbly"]);
}

#[test]
fn serve_degrades_a_preview_whose_health_check_fails_and_heals_it_when_it_passes() {
    let _turn = SERVE_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::shared();
    // `db` is healthy while /ok exists; the test takes it away and puts it back.
    let compose = format!(
        "services:\n  web:\n    build: .\n    init: true\n    expose: [\"8080\"]\n  db:\n    image: {}\n    init: true\n    command: [\"sh\", \"-c\", \"touch /ok && exec sleep 600\"]\n    healthcheck:\n      test: [\"CMD\", \"test\", \"-f\", \"/ok\"]\n      interval: 1s\n      retries: 1\n",
        crate::support::BASE_IMAGE
    );
    let dir = repo(
        env,
        "sickly",
        &[
            ("compose.yaml", &compose),
            ("Dockerfile", &httpd_dockerfile()),
            ("www/index.html", "up\n"),
        ],
    );
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["up", "sickly", "main"]);
    let _serve = Serve::start(env);

    docker("exec sickly--main-db-1 rm /ok");
    let reason = serve_degrades(env, "main.sickly", 30);
    assert_eq!(reason.as_deref(), Some("db is unhealthy"));
    let (status, body) = get("main.sickly.localhost", "/");
    assert_eq!(
        (status, body.trim()),
        (200, "up"),
        "still routed while degraded"
    );

    docker("exec sickly--main-db-1 touch /ok");
    serve_heals(env, "main.sickly", 30);

    env.ok(&["down", "main.sickly"]);
    env.ok(&["repo", "rm", "sickly"]);
}
