//! Failures end `failed` with their logs kept and nothing left running;
//! `depends_on: service_healthy` starts services in order.

use crate::fixture::{httpd_dockerfile, repo};
use crate::support::{docker_names, get, text, Env, BASE_IMAGE};

#[test]
fn a_failing_build_ends_failed_with_its_output_and_nothing_running() {
    let env = Env::shared();
    let dir = repo(
        env,
        "badbuild",
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    build: .\n    expose: [\"8080\"]\n",
            ),
            (
                "Dockerfile",
                &format!(
                    "FROM {BASE_IMAGE}\nRUN echo compiling && echo 'error: it broke' && exit 3\n"
                ),
            ),
        ],
    );
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    let out = env.by(&["up", "badbuild", "main"]);
    assert!(!out.status.success(), "up must fail:\n{}", text(&out));
    assert!(
        text(&out).contains("it broke"),
        "the build's output is shown:\n{}",
        text(&out)
    );
    let status = env.json(&["status", "main.badbuild"]);
    assert_eq!(status["state"], "failed");
    let log = serde_json::to_string(&status["transitions"]).unwrap();
    assert!(
        log.contains("it broke"),
        "the failure and its output are kept in the transitions log: {log}"
    );
    assert!(
        docker_names("container", "dev.branchyard.repo=badbuild").is_empty(),
        "nothing left running"
    );
    env.ok(&["down", "main.badbuild"]);
    env.ok(&["repo", "rm", "badbuild"]);
}

#[test]
fn a_container_that_exits_at_once_ends_failed_with_its_logs_kept() {
    let env = Env::shared();
    let dir = repo(
        env,
        "crashy",
        &[(
            "compose.yaml",
            &format!("services:\n  web:\n    image: {BASE_IMAGE}\n    command: [\"sh\", \"-c\", \"echo cannot connect to the database; exit 7\"]\n    expose: [\"8080\"]\n"),
        )],
    );
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    let out = env.by(&["up", "crashy", "main"]);
    assert!(!out.status.success(), "up must fail:\n{}", text(&out));
    let status = env.json(&["status", "main.crashy"]);
    assert_eq!(status["state"], "failed");
    let log = serde_json::to_string(&status["transitions"]).unwrap();
    assert!(
        log.contains("cannot connect to the database"),
        "the container's last lines are kept: {log}"
    );
    assert!(
        docker_names("container", "dev.branchyard.repo=crashy").is_empty(),
        "nothing left running"
    );
    assert!(
        docker_names("network", "dev.branchyard.repo=crashy").is_empty(),
        "no network left"
    );
    env.ok(&["down", "main.crashy"]);
    env.ok(&["repo", "rm", "crashy"]);
}

#[test]
fn a_service_waits_for_its_dependency_to_be_healthy() {
    let env = Env::shared();
    // db becomes healthy only after 2 s; web refuses to start unless db answers.
    let compose = format!(
        r#"services:
  db:
    image: {BASE_IMAGE}
    init: true
    command: ["sh", "-c", "mkdir -p /www && sleep 2 && echo up > /www/ready && httpd -f -p 5432 -h /www"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "-", "http://127.0.0.1:5432/ready"]
      interval: 500ms
      retries: 20
  web:
    build: .
    init: true
    command: ["sh", "-c", "wget -q -O - http://db:5432/ready && httpd -f -p 8080 -h /www"]
    expose: ["8080"]
    depends_on:
      db:
        condition: service_healthy
"#
    );
    let dir = repo(
        env,
        "ordered",
        &[
            ("compose.yaml", &compose),
            ("Dockerfile", &httpd_dockerfile()),
            ("www/index.html", "web after db\n"),
        ],
    );
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["up", "ordered", "main"]);
    assert_eq!(get("main.ordered.localhost", "/").1.trim(), "web after db");
    env.ok(&["down", "main.ordered", "--volumes"]);
    env.ok(&["repo", "rm", "ordered"]);
}
