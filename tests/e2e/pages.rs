//! Status pages: the gateway answers for a preview from the moment its hosts
//! are planned: the starting page while its health check still fails, the app
//! once healthy, and for a failed preview the reason and its last log lines
//! until it is removed.

use std::process::Stdio;
use std::time::Duration;

use crate::fixture::{httpd_dockerfile, repo};
use crate::support::{eventually, get, sh, text, Env};

#[test]
fn the_starting_page_shows_while_the_health_check_fails_then_the_app_once_healthy() {
    let env = Env::shared();
    // Healthy only once /ok exists: the test decides when.
    let compose = "services:\n  web:\n    build: .\n    init: true\n    expose: [\"8080\"]\n    healthcheck:\n      test: [\"CMD\", \"test\", \"-f\", \"/ok\"]\n      interval: 1s\n      timeout: 1s\n      retries: 300\n";
    let dir = repo(
        env,
        "slow",
        &[
            ("compose.yaml", compose),
            ("Dockerfile", &httpd_dockerfile()),
            ("www/index.html", "slow app\n"),
        ],
    );
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    let up = env
        .cmd(&["up", "slow", "main"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let page = eventually(Duration::from_secs(90), "the starting page", || {
        let (status, body) = get("main.slow.localhost", "/");
        (status == 503).then_some(body)
    });
    assert!(
        page.contains("Starting up"),
        "the page says the preview is on its way:\n{page}"
    );
    // Still starting while the health check fails (the container runs).
    eventually(Duration::from_secs(60), "the container running", || {
        let ps = sh(
            std::path::Path::new("/"),
            "docker ps --filter name=slow--main-web-1 --format '{{.Status}}'",
        );
        ps.contains("health: starting").then_some(())
    });
    let (status, body) = get("main.slow.localhost", "/");
    assert_eq!(status, 503, "not the app before it is healthy:\n{body}");
    assert!(
        body.contains("starting"),
        "the page names the state:\n{body}"
    );

    sh(
        std::path::Path::new("/"),
        "docker exec slow--main-web-1 touch /ok",
    );
    let out = up.wait_with_output().unwrap();
    assert!(out.status.success(), "up once healthy:\n{}", text(&out));
    let (status, body) = get("main.slow.localhost", "/");
    assert_eq!(
        (status, body.trim()),
        (200, "slow app"),
        "the app once the preview is ready"
    );

    env.ok(&["down", "slow", "main"]);
    env.ok(&["repo", "rm", "slow"]);
}

#[test]
fn a_failed_preview_shows_its_reason_and_last_log_lines_until_it_is_removed() {
    let env = Env::shared();
    let compose = "services:\n  web:\n    build: .\n    init: true\n    expose: [\"8080\"]\n    command: [\"sh\", \"-c\", \"echo cannot-open-database-xyz; exit 3\"]\n";
    let dir = repo(
        env,
        "broken",
        &[
            ("compose.yaml", compose),
            ("Dockerfile", &httpd_dockerfile()),
            ("www/index.html", "never\n"),
        ],
    );
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    let out = env.by(&["up", "broken", "main"]);
    assert!(!out.status.success(), "up fails:\n{}", text(&out));

    let (status, body) = get("main.broken.localhost", "/");
    assert_eq!(status, 502, "a failed preview's page:\n{body}");
    assert!(
        body.contains("Preview failed"),
        "the page says it failed:\n{body}"
    );
    assert!(
        body.contains("cannot-open-database-xyz"),
        "the page carries the service's last log lines:\n{body}"
    );
    assert!(
        body.contains("exit") || body.contains("code 3"),
        "and the reason:\n{body}"
    );

    env.ok(&["down", "broken", "main"]);
    let (status, body) = get("main.broken.localhost", "/");
    assert_eq!(status, 404, "removed: no page for it any more:\n{body}");
    env.ok(&["repo", "rm", "broken"]);
}
