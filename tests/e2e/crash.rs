//! A CLI killed with SIGKILL in the middle of `up` leaves no orphan once the
//! engine runs again.

use std::time::Duration;

use crate::fixture::{httpd_dockerfile, repo};
use crate::support::{docker_names, eventually, Env, BASE_IMAGE};

#[test]
fn a_killed_up_is_undone_by_the_next_run() {
    let env = Env::shared();
    // A slow service: the run is surely mid-way when we kill it.
    let compose = format!(
        "services:\n  web:\n    build: .\n    init: true\n    expose: [\"8080\"]\n  slow:\n    image: {BASE_IMAGE}\n    init: true\n    command: [\"sleep\", \"600\"]\n    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 1s\n      retries: 100\n"
    );
    let dir = repo(
        env,
        "killed",
        &[
            ("compose.yaml", &compose),
            ("Dockerfile", &httpd_dockerfile()),
            ("www/index.html", "x\n"),
        ],
    );
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    let mut child = env
        .cmd(&["up", "killed", "main"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until containers exist, then kill -9.
    eventually(Duration::from_secs(60), "containers of the run", || {
        (!docker_names("container", "dev.branchyard.repo=killed").is_empty()).then_some(())
    });
    // A second process acting on the preview meanwhile gets a clear "busy".
    let other = env.by(&["stop", "main.killed"]);
    assert!(!other.status.success(), "stop during up must be refused");
    assert!(
        crate::support::text(&other).contains("busy"),
        "{}",
        crate::support::text(&other)
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // The next engine start undoes the interrupted run.
    let ls = env.json(&["ls"]);
    let p = ls
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "main.killed")
        .expect("record kept")
        .clone();
    assert_eq!(
        p["state"], "failed",
        "the interrupted run is marked failed: {p}"
    );
    for kind in ["container", "network", "volume"] {
        let left = docker_names(kind, "dev.branchyard.repo=killed");
        assert!(left.is_empty(), "orphan {kind}s after recovery: {left:?}");
    }
    assert!(
        !std::path::Path::new(p["worktree"].as_str().unwrap()).exists(),
        "the worktree the run created is removed"
    );
    // gc looks at the whole machine; nothing of this repo may be among what it finds.
    let gc = env.json(&["gc"]);
    let ours: Vec<_> = gc
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["name"].as_str().unwrap_or("").contains("killed"))
        .collect();
    assert!(
        ours.is_empty(),
        "gc finds orphans of the killed run: {ours:?}"
    );
    env.ok(&["down", "main.killed"]);
    env.ok(&["repo", "rm", "killed"]);
}
