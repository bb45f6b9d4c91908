//! The compose keys that tie services together, through the real CLI, Docker
//! and gateway: `include`, `links`, `deploy.replicas` (balanced by the
//! gateway, surviving a dead replica), `volumes_from` and `post_start`; and
//! their bad forms refused before anything is created.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::fixture::repo;
use crate::support::{docker_names, eventually, get, preview, sh, text, Env, BASE_IMAGE};

/// `include` of a db in its own folder, and a web of two replicas that links
/// to it, mounts its volumes and runs a post_start hook. Each web replica
/// serves a page naming its hostname.
fn structure_repo(env: &Env, name: &str) -> std::path::PathBuf {
    let compose = r#"include:
  - lib/db.yaml
services:
  web:
    image: IMAGE
    init: true
    expose: ["8080"]
    deploy: {replicas: 2}
    links: ["db:database"]
    volumes_from: ["db:ro"]
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
    post_start:
      - command: ["sh", "-c", "echo hooked by $$WHO > /hook.txt"]
        environment: {WHO: post_start}
"#
    .replace("IMAGE", BASE_IMAGE);
    let db = r#"services:
  db:
    build: .
    init: true
    volumes: ["dbdata:/data"]
    command: ["sh", "-c", "cp /built /data/marker && exec sleep 3600"]
volumes:
  dbdata: {}
"#;
    repo(
        env,
        name,
        &[
            ("compose.yaml", &compose),
            ("lib/db.yaml", db),
            // The included file's `build: .` is its own folder.
            (
                "lib/Dockerfile",
                &format!("FROM {BASE_IMAGE}\nRUN echo built-in-lib > /built\n"),
            ),
        ],
    )
}

fn by_exec(env: &Env, id: &str, service: &str, script: &str) -> (bool, String) {
    let out = env.by(&["exec", id, service, "--", "sh", "-c", script]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// The hostnames that answer `n` requests, each on a new connection.
fn answering(host: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let (status, body) = get(host, "/");
            assert_eq!(status, 200, "every request is answered: {body}");
            body.trim().to_string()
        })
        .collect()
}

#[test]
fn include_links_replicas_volumes_from_and_hooks_run_as_compose_does() {
    let env = Env::shared();
    let dir = structure_repo(env, "structs");
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["up", "structs", "main"]);
    let id = "main.structs";
    assert_eq!(preview(env, id).unwrap()["state"], "ready");

    // Two replicas, named and numbered as compose names them.
    let mut web = docker_names("container", "com.docker.compose.service=web");
    web.retain(|n| n.starts_with("structs--main-"));
    web.sort();
    assert_eq!(web, vec!["structs--main-web-1", "structs--main-web-2"]);
    let number = sh(
        Path::new("/"),
        "docker inspect -f '{{index .Config.Labels \"com.docker.compose.container-number\"}}' structs--main-web-2",
    );
    assert_eq!(number.trim(), "2");

    // Both replicas answer through the gateway, new connections taking turns.
    let seen = answering("main.structs.localhost", 6);
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), 2, "both replicas answer: {seen:?}");

    // The link alias resolves for web; the db's volume is mounted read-only;
    // the included db was built from its own folder; the hook ran.
    let (ok, out) = by_exec(
        env,
        id,
        "web",
        "ping -c1 -W2 database >/dev/null && echo resolved",
    );
    assert!(ok && out == "resolved", "the link alias resolves: {out}");
    let marker = eventually(Duration::from_secs(10), "db's marker in web", || {
        let (ok, out) = by_exec(env, id, "web", "cat /data/marker");
        (ok && !out.is_empty()).then_some(out)
    });
    assert_eq!(
        marker, "built-in-lib",
        "volumes_from, of a db built in lib/"
    );
    let (ok, _) = by_exec(env, id, "web", "touch /data/x 2>/dev/null");
    assert!(!ok, "volumes_from db:ro is read-only");
    let (_, hook) = by_exec(env, id, "web", "cat /hook.txt");
    assert_eq!(hook, "hooked by post_start");

    // One replica dies: the other answers every request, and status names the dead one.
    let victim = seen[0].clone();
    let victim_container = ["structs--main-web-1", "structs--main-web-2"]
        .into_iter()
        .find(|c| {
            sh(
                Path::new("/"),
                &format!("docker inspect -f '{{{{.Config.Hostname}}}}' {c}"),
            )
            .trim()
                == victim
        })
        .expect("the replica that answered first");
    sh(
        Path::new("/"),
        &format!("docker kill {victim_container} >/dev/null"),
    );
    let after = answering("main.structs.localhost", 6);
    assert!(
        after.iter().all(|h| *h != victim),
        "no request reaches the dead replica: {after:?}"
    );
    let p = preview(env, id).unwrap();
    let replica = victim_container.rsplit('-').next().unwrap();
    assert_eq!(p["state"], "degraded", "{p}");
    assert_eq!(
        p["error"],
        format!("web replica {replica} exited with code 137 (killed)"),
        "{p}"
    );

    // `up` brings the dead replica back, and both answer again.
    env.ok(&["up", "structs", "main"]);
    assert_eq!(preview(env, id).unwrap()["state"], "ready");
    let again: BTreeSet<String> = answering("main.structs.localhost", 4).into_iter().collect();
    assert_eq!(again.len(), 2, "both replicas answer again: {again:?}");

    env.ok(&["down", id, "--volumes"]);
    env.ok(&["repo", "rm", "structs"]);
}

#[test]
fn a_failing_post_start_fails_up_with_the_hooks_output() {
    let env = Env::shared();
    let compose = format!(
        "services:\n  web:\n    image: {BASE_IMAGE}\n    init: true\n    expose: [\"8080\"]\n    command: [\"sleep\", \"3600\"]\n    post_start:\n      - command: [\"sh\", \"-c\", \"echo migrations table missing >&2; exit 5\"]\n"
    );
    let dir = repo(env, "hookfail", &[("compose.yaml", &compose)]);
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    let out = env.by(&["up", "hookfail", "main"]);
    let all = text(&out);
    assert!(!out.status.success(), "up fails:\n{all}");
    assert!(
        all.contains("post_start")
            && all.contains("status 5")
            && all.contains("migrations table missing"),
        "the failure names the hook, its status and its output:\n{all}"
    );
    assert_eq!(preview(env, "main.hookfail").unwrap()["state"], "failed");
    env.ok(&["down", "main.hookfail"]);
    env.ok(&["repo", "rm", "hookfail"]);
}

/// `up` of a repo with `files` fails naming every one of `expect`, and no
/// Docker object of it exists.
fn refused(name: &str, files: &[(&str, &str)], expect: &[&str]) {
    let env = Env::shared();
    let dir = repo(env, name, files);
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    let out = env.by(&["up", name, "main"]);
    let all = text(&out);
    assert!(!out.status.success(), "up must fail:\n{all}");
    for e in expect {
        assert!(all.contains(e), "the error names {e:?}:\n{all}");
    }
    for kind in ["container", "network", "volume"] {
        let made = docker_names(kind, &format!("dev.branchyard.repo={name}"));
        assert!(made.is_empty(), "{kind}s were created: {made:?}");
    }
    env.ok(&["down", &format!("main.{name}")]);
    env.ok(&["repo", "rm", name]);
}

#[test]
fn bad_structure_is_refused_before_anything_is_created() {
    let web = format!("services:\n  web:\n    image: {BASE_IMAGE}\n    expose: [\"8080\"]\n");
    refused(
        "inccycle",
        &[
            ("compose.yaml", &format!("include: [a/a.yaml]\n{web}")),
            ("a/a.yaml", "include: [../b.yaml]\n"),
            ("b.yaml", "include: [a/a.yaml]\n"),
        ],
        &["include", "cycle", "compose.yaml", "a/a.yaml", "b.yaml"],
    );
    refused(
        "incout",
        &[(
            "compose.yaml",
            &format!("include: [../../../outside.yaml]\n{web}"),
        )],
        &[
            "include",
            "outside the preview's worktree",
            "branchyard repo trust",
        ],
    );
    refused(
        "volsfrom",
        &[(
            "compose.yaml",
            &format!("{web}    volumes_from: [storage]\n"),
        )],
        &[
            "compose.yaml",
            "\"web\"",
            "volumes_from",
            "\"storage\" is not defined",
        ],
    );
    refused(
        "fixedname",
        &[(
            "compose.yaml",
            &format!("{web}    container_name: web\n    deploy: {{replicas: 2}}\n"),
        )],
        &["container_name", "2 replicas", "remove container_name"],
    );
}
