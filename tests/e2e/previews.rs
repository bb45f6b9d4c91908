//! Two branches side by side: routing, WebSocket, suspend/resume, gateway restart, teardown.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};

use crate::fixture::web_repo;
use crate::support::{docker_names, eventually, get, sh, Env, GATEWAY, HTTP_PORT};

#[test]
fn two_branches_run_side_by_side_and_leave_nothing_behind() {
    let env = Env::shared();
    let dir = web_repo(env, "shop");
    env.ok(&["repo", "add", dir.to_str().unwrap()]);

    let branches = env.json(&["branches", "shop"]);
    let names: Vec<_> = branches
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"main".to_string()) && names.contains(&"feature/x".to_string()),
        "branches: {names:?}"
    );

    let up_main = env.ok(&["up", "shop", "main"]);
    assert!(
        up_main.contains(&format!("http://main.shop.localhost:{}", *HTTP_PORT)),
        "up prints the URL:\n{up_main}"
    );
    env.ok(&["up", "shop", "feature/x"]);

    // Each host serves its own branch through the one gateway.
    let (s1, b1) = get("main.shop.localhost", "/");
    let (s2, b2) = get("feature-x.shop.localhost", "/");
    assert_eq!((s1, b1.trim()), (200, "branch main"));
    assert_eq!((s2, b2.trim()), (200, "branch feature/x"));

    // An unknown host gets the list of previews, never a preview's page.
    let (s, body) = get("nope.shop.localhost", "/");
    assert_eq!(s, 404, "unknown host must be a 404, got body {body}");
    assert!(
        body.contains("main.shop.localhost"),
        "the 404 page lists live previews:\n{body}"
    );

    // Compose's own names and labels.
    let containers = docker_names("container", "com.docker.compose.project=shop--main");
    assert!(
        containers.contains(&"shop--main-web-1".to_string()),
        "{containers:?}"
    );
    assert!(
        !sh(std::path::Path::new("/"), "docker port shop--main-web-1").contains(':'),
        "no host port is published"
    );

    // WebSocket upgrade through the gateway (second routed service: ws.main.shop.localhost).
    websocket_echo("ws.main.shop.localhost");

    // Stop keeps the named volume; start brings the preview back.
    env.ok(&[
        "exec",
        "main.shop",
        "web",
        "--",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    env.ok(&["stop", "main.shop"]);
    let ls = env.json(&["ls"]);
    let main = ls
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "main.shop")
        .unwrap()
        .clone();
    assert_eq!(main["state"], "stopped");
    env.ok(&["start", "main.shop"]);
    let out = env.ok(&["exec", "main.shop", "web", "--", "cat", "/data/f"]);
    assert_eq!(out.trim(), "kept", "the named volume survives stop/start");

    // A restarted gateway serves every route again within 2 s, with no engine running.
    // Docker itself can fail a restart when another test removes a preview network
    // the gateway had joined at that very moment; try again then.
    sh(
        std::path::Path::new("/"),
        &format!("for i in 1 2 3; do docker restart -t 1 {} >/dev/null && exit 0; sleep 0.3; done; exit 1", *GATEWAY),
    );
    let t = Instant::now();
    eventually(
        Duration::from_secs(10),
        "routes after gateway restart",
        || {
            (get("main.shop.localhost", "/").0 == 200
                && get("feature-x.shop.localhost", "/").0 == 200)
                .then_some(())
        },
    );
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "routes came back after {took:?}, more than 2 s"
    );

    // Down leaves no container, network, volume, worktree or route.
    let worktree = std::path::Path::new(main["worktree"].as_str().unwrap()).to_path_buf();
    env.ok(&["down", "main.shop", "--volumes"]);
    env.ok(&["down", "feature-x.shop", "--volumes"]);
    for kind in ["container", "network", "volume"] {
        let left = docker_names(kind, "dev.branchyard.repo=shop");
        assert!(left.is_empty(), "{kind}s left after down: {left:?}");
    }
    assert!(
        !worktree.exists(),
        "worktree {} left after down",
        worktree.display()
    );
    let git_wt = sh(&dir, "git worktree list");
    assert_eq!(
        git_wt.lines().count(),
        1,
        "git still lists preview worktrees:\n{git_wt}"
    );
    assert_eq!(get("main.shop.localhost", "/").0, 404, "the route is gone");
    env.ok(&["repo", "rm", "shop"]);
}

fn websocket_echo(host: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            format!("ws://127.0.0.1:{}/", *HTTP_PORT),
        )
        .map(|mut r| {
            r.headers_mut().insert("host", host.parse().unwrap());
            r
        })
        .unwrap();
        let (mut ws, resp) = tokio_tungstenite::connect_async(req)
            .await
            .expect("websocket handshake through the gateway");
        assert_eq!(resp.status(), 101);
        ws.send("hello through the gateway".into()).await.unwrap();
        let back = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("echo in time")
            .unwrap()
            .unwrap();
        assert_eq!(
            back.into_text().unwrap().as_str(),
            "hello through the gateway"
        );
    });
}
