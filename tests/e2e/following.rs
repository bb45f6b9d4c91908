//! Branch following: a new commit marks the preview outdated; with
//! auto-update on and `branchyard serve` running, it updates by itself.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::fixture::{commit_on, httpd_dockerfile, repo};
use crate::support::{eventually, get, preview, Env};

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_moved_branch_is_flagged_outdated_and_auto_update_serves_the_new_commit() {
    let env = Env::shared();
    let dir = repo(
        env,
        "follow",
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    build: .\n    init: true\n    expose: [\"8080\"]\n",
            ),
            ("Dockerfile", &httpd_dockerfile()),
            ("www/index.html", "v1\n"),
        ],
    );
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["up", "follow", "main"]);
    assert_eq!(get("main.follow.localhost", "/").1.trim(), "v1");

    let _serve = Serve(
        env.cmd(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(1500));

    // Without auto-update: flagged outdated within a second or so.
    commit_on(&dir, "main", &[("www/index.html", "v2\n")], "v2");
    let head = crate::support::sh(&dir, "git rev-parse main")
        .trim()
        .to_string();
    let t = Instant::now();
    eventually(Duration::from_secs(5), "preview marked outdated", || {
        let p = preview(env, "main.follow")?;
        (p["outdated_sha"] == head.as_str()).then_some(())
    });
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "outdated flag took {:?}",
        t.elapsed()
    );
    assert_eq!(
        get("main.follow.localhost", "/").1.trim(),
        "v1",
        "not updated without auto-update"
    );

    // With auto-update: the next commit is served without another command.
    env.ok(&["repo", "set", "follow", "--auto-update"]);
    commit_on(&dir, "main", &[("www/index.html", "v3\n")], "v3");
    let head3 = crate::support::sh(&dir, "git rev-parse main")
        .trim()
        .to_string();
    eventually(Duration::from_secs(90), "auto-update to v3", || {
        (get("main.follow.localhost", "/").1.trim() == "v3").then_some(())
    });
    // The update finishes (routes checked, commit recorded) right after the new page appears.
    eventually(Duration::from_secs(30), "the update to be recorded", || {
        let p = preview(env, "main.follow")?;
        (p["state"] == "ready" && p["commit_sha"] == head3.as_str() && p["outdated_sha"].is_null())
            .then_some(())
    });

    // A deleted branch flags its preview; gc offers it and removes it.
    crate::support::sh(&dir, "git branch gone main");
    env.ok(&["up", "follow", "gone"]);
    crate::support::sh(&dir, "git branch -D gone");
    eventually(
        Duration::from_secs(5),
        "preview flagged branch gone",
        || {
            let p = preview(env, "gone.follow")?;
            (p["branch_gone"] == true).then_some(())
        },
    );
    let gc = env.json(&["gc"]);
    assert!(
        gc.as_array()
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "preview" && o["name"] == "gone.follow"),
        "gc offers the preview of the deleted branch: {gc}"
    );
    env.ok(&["gc", "--yes"]);
    let ls = env.json(&["ls"]);
    assert!(
        !ls.as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "gone.follow"),
        "gc --yes removed it: {ls}"
    );

    env.ok(&["down", "main.follow", "--volumes"]);
    env.ok(&["repo", "rm", "follow"]);
}
