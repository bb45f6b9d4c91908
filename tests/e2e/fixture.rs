//! Fixture repositories made with real git, with fixed commit dates so runs repeat.

use std::path::{Path, PathBuf};

use crate::support::{sh, Env, BASE_IMAGE};

/// Writes `files` (path, contents) under `dir`, creating folders.
pub fn write(dir: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let path = dir.join(p);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, c).expect("write fixture file");
    }
}

/// A Dockerfile for a busybox httpd serving `www/` on 8080.
pub fn httpd_dockerfile() -> String {
    format!(
        "FROM {BASE_IMAGE}\nCOPY www /www\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"
    )
}

/// A new git repo `name` under the env's repo folder with `files` committed on `main`.
pub fn repo(env: &Env, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.repos.path().join(name);
    std::fs::create_dir_all(&dir).expect("mkdir repo");
    sh(&dir, "git init -q -b main .");
    write(&dir, files);
    sh(&dir, "git add -A && git commit -q -m 'first'");
    dir
}

/// Commits `files` on `branch` (created from main when new), then returns to main.
pub fn commit_on(dir: &Path, branch: &str, files: &[(&str, &str)], msg: &str) {
    let exists = sh(dir, &format!("git branch --list '{branch}'"));
    if exists.trim().is_empty() {
        sh(dir, &format!("git checkout -q -b '{branch}' main"));
    } else {
        sh(dir, &format!("git checkout -q '{branch}'"));
    }
    write(dir, files);
    sh(
        dir,
        &format!("git add -A && git commit -q -m '{msg}' && git checkout -q main"),
    );
}

/// The web app fixture: one routed service that serves a page naming its branch,
/// a WebSocket echo service, and a named volume.
pub fn web_repo(env: &Env, name: &str) -> PathBuf {
    let ws_echo = ws_echo_bin();
    let compose = "services:\n  web:\n    build: .\n    init: true\n    expose: [\"8080\"]\n    volumes: [\"data:/data\"]\n  ws:\n    build: ./ws\n    init: true\n    expose: [\"9000\"]\nvolumes:\n  data: {}\n";
    let dir = repo(
        env,
        name,
        &[
            ("compose.yaml", compose),
            ("Dockerfile", &httpd_dockerfile()),
            ("www/index.html", "branch main\n"),
            (
                "ws/Dockerfile",
                "FROM scratch\nCOPY ws-echo /ws-echo\nENTRYPOINT [\"/ws-echo\"]\n",
            ),
        ],
    );
    std::fs::copy(&ws_echo, dir.join("ws/ws-echo")).expect("copy ws-echo");
    sh(&dir, "git add -A && git commit -q -m 'ws echo'");
    commit_on(
        &dir,
        "feature/x",
        &[("www/index.html", "branch feature/x\n")],
        "feature x",
    );
    dir
}

/// The static WebSocket echo server (built by scripts/test for musl).
pub fn ws_echo_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/x86_64-unknown-linux-musl/release/ws-echo");
    assert!(
        p.exists(),
        "{} is missing: build it with `cargo build -p branchyard-e2e --bin ws-echo --release --target x86_64-unknown-linux-musl` (scripts/test does)",
        p.display()
    );
    p
}
