//! Gateway settings applied to the running gateway: the HTTP→HTTPS redirect
//! (pushed as config) and LAN sharing (a new container publishing on every
//! interface, with a warning listing what became reachable).

use std::path::Path;
use std::process::Command;

use crate::fixture::{httpd_dockerfile, repo};
use crate::support::{get, sh, text, Env, GATEWAY, HTTPS_PORT, HTTP_PORT};

/// The status and `Location` of a plain HTTP request through the gateway.
fn head(host: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "-H",
        ])
        .arg(format!("Host: {host}"))
        .arg(format!("http://127.0.0.1:{}/page", *HTTP_PORT))
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout).to_string();
    let (code, location) = s.split_once(' ').unwrap_or((&s, ""));
    (code.parse().unwrap_or(0), location.trim().to_string())
}

#[test]
fn the_https_redirect_and_lan_sharing_apply_to_the_running_gateway() {
    let env = Env::shared();
    let dir = repo(
        env,
        "lan",
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    build: .\n    init: true\n    expose: [\"8080\"]\n",
            ),
            ("Dockerfile", &httpd_dockerfile()),
            ("www/page", "lan page\n"),
        ],
    );
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["up", "lan", "main"]);

    env.ok(&["settings", "set", "gateway.redirect_https", "on"]);
    assert_eq!(
        head("main.lan.localhost"),
        (
            308,
            format!("https://main.lan.localhost:{}/page", *HTTPS_PORT)
        ),
        "plain HTTP is redirected to HTTPS with the path kept"
    );
    env.ok(&["settings", "set", "gateway.redirect_https", "off"]);
    assert_eq!(head("main.lan.localhost").0, 200, "redirect off again");

    let out = env.by(&["settings", "set", "gateway.lan", "on"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("LAN sharing is on")
            && said.contains(&format!("main.lan.localhost:{}", *HTTP_PORT)),
        "turning LAN sharing on warns and lists every routed URL:\n{said}"
    );
    let ports = sh(Path::new("/"), &format!("docker port {}", *GATEWAY));
    assert!(
        ports.contains(&format!("0.0.0.0:{}", *HTTP_PORT))
            && ports.contains(&format!("0.0.0.0:{}", *HTTPS_PORT)),
        "HTTP and HTTPS on every interface:\n{ports}"
    );
    assert!(
        ports
            .lines()
            .any(|l| l.starts_with("2019") && l.contains("127.0.0.1:")),
        "the admin API stays on 127.0.0.1:\n{ports}"
    );
    assert_eq!(
        get("main.lan.localhost", "/page"),
        (200, "lan page\n".to_string()),
        "the recreated gateway serves the preview at once"
    );

    env.ok(&["settings", "set", "gateway.lan", "off"]);
    let ports = sh(Path::new("/"), &format!("docker port {}", *GATEWAY));
    assert!(
        !ports.contains("0.0.0.0") && ports.contains(&format!("127.0.0.1:{}", *HTTP_PORT)),
        "back on 127.0.0.1 only:\n{ports}"
    );
    assert_eq!(get("main.lan.localhost", "/page").0, 200);

    env.ok(&["down", "lan", "main"]);
    env.ok(&["repo", "rm", "lan"]);
}
