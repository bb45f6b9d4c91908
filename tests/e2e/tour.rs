//! The README's tour, command by command: listing, status, logs, exec, config,
//! doctor, settings, and the errors a user meets first.

use crate::fixture::repo;
use crate::support::{text, Env, BASE_IMAGE};

#[test]
fn the_tour_commands_answer_as_the_readme_says() {
    let env = Env::shared();
    let compose = format!(
        "services:\n  web:\n    image: {BASE_IMAGE}\n    init: true\n    command: [\"sh\", \"-c\", \"echo hello from web; mkdir -p /www; echo hi > /www/index.html; httpd -f -p 8080 -h /www\"]\n    expose: [\"8080\"]\n"
    );
    let dir = repo(env, "tour", &[("compose.yaml", &compose)]);

    // First errors: a repo that is not registered, a branch that does not exist.
    let out = env.by(&["up", "tour", "main"]);
    assert!(
        !out.status.success() && text(&out).contains("repo add"),
        "an unknown repo says how to add one:\n{}",
        text(&out)
    );
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    let out = env.by(&["up", "tour", "nope"]);
    assert!(
        !out.status.success() && text(&out).contains("branches"),
        "a missing branch points at `branches`:\n{}",
        text(&out)
    );
    assert!(
        env.json(&["ls"])
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["id"] != "nope.tour"),
        "nothing is left of a refused up"
    );

    let repos = env.json(&["repo", "ls"]);
    assert!(repos
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "tour" && r["trusted"] == false));

    env.ok(&["up", "tour", "main"]);
    let status = env.json(&["status", "tour", "main"]);
    assert_eq!(status["state"], "ready");
    assert_eq!(status["services"][0]["service"], "web");
    let tos: Vec<_> = status["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tos.first().map(String::as_str), Some("pending"));
    assert_eq!(tos.last().map(String::as_str), Some("ready"), "{tos:?}");

    let logs = env.ok(&["logs", "main.tour", "web", "--tail", "20"]);
    assert!(
        logs.contains("hello from web"),
        "logs show the service's output:\n{logs}"
    );

    let out = env.by(&[
        "exec",
        "main.tour",
        "web",
        "--",
        "sh",
        "-c",
        "echo inside; exit 3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "exec passes the exit code through"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("inside"));

    let config = env.json(&["config", "tour", "main"]);
    assert_eq!(config["project"]["name"], "tour--main");
    assert_eq!(config["routes"][0]["host"], "main.tour.localhost");

    let doctor = env.json(&["doctor"]);
    assert!(
        doctor["docker"]["Ok"]
            .as_str()
            .unwrap_or("")
            .contains("Docker"),
        "doctor sees Docker: {doctor}"
    );
    assert!(
        doctor["gateway"]["Ok"].is_string(),
        "doctor sees the gateway: {doctor}"
    );

    let ca = env.ok(&["ca", "path"]);
    assert!(
        std::path::Path::new(ca.trim()).exists(),
        "ca path prints an existing file: {ca}"
    );

    let out = env.by(&["settings", "set", "gateway.http_port", "eighty"]);
    assert!(
        !out.status.success() && text(&out).contains("port number"),
        "{}",
        text(&out)
    );

    env.ok(&["down", "tour", "main"]);
    env.ok(&["repo", "rm", "tour"]);
}
