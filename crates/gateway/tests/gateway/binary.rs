//! The `branchyard-gateway` binary itself: configuration from the environment
//! and a fast exit on SIGTERM (Docker's stop).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::TOKEN;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_binary_refuses_to_start_without_a_token() {
    let out = Command::new(env!("CARGO_BIN_EXE_branchyard-gateway"))
        .env_remove("BRANCHYARD_GATEWAY_TOKEN")
        .env("BRANCHYARD_GATEWAY_LISTEN", "127.0.0.1:0")
        .env("BRANCHYARD_GATEWAY_ADMIN_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("BRANCHYARD_GATEWAY_TOKEN"),
        "the message names the missing variable: {err}"
    );
}

#[tokio::test]
async fn the_binary_serves_its_state_file_and_stops_at_once_on_sigterm() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("routes.json");
    std::fs::write(&state, r#"[{"host":"a.r.localhost","upstream":"127.0.0.1:9","preview":"a.r","repo":"r","branch":"a"}]"#).unwrap();
    let (http, admin) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_branchyard-gateway"))
        .env("BRANCHYARD_GATEWAY_TOKEN", TOKEN)
        .env("BRANCHYARD_GATEWAY_LISTEN", format!("127.0.0.1:{http}"))
        .env(
            "BRANCHYARD_GATEWAY_ADMIN_LISTEN",
            format!("127.0.0.1:{admin}"),
        )
        .env("BRANCHYARD_GATEWAY_STATE", &state)
        // Not the default 443: a developer's gateway may hold it.
        .env(
            "BRANCHYARD_GATEWAY_TLS_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let health = loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", admin)).await {
            Ok(_) => {
                break crate::support::http(
                    ([127, 0, 0, 1], admin).into(),
                    "GET",
                    "/healthz",
                    &[("host", "a")],
                    "",
                )
                .await
            }
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("the gateway never listened: {e}"),
        }
    };
    assert_eq!(health.0, 200);
    assert!(
        health.1.contains("\"routes\":1"),
        "the saved route is loaded at start: {}",
        health.1
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let stopping = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            stopping.elapsed() < Duration::from_secs(2),
            "SIGTERM must stop the gateway at once"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
