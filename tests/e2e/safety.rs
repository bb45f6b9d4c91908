//! Unsafe settings and broken files are refused before anything is created.

use crate::fixture::repo;
use crate::support::{docker_names, text, Env, BASE_IMAGE};

fn refused(name: &str, service_yaml: &str, expect: &[&str]) {
    let env = Env::shared();
    let compose = format!(
        "services:\n  web:\n    image: {BASE_IMAGE}\n    expose: [\"8080\"]\n{service_yaml}"
    );
    let dir = repo(env, name, &[("compose.yaml", &compose)]);
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    let out = env.by(&["up", name, "main"]);
    let all = text(&out);
    assert!(!out.status.success(), "up must be refused:\n{all}");
    for e in expect {
        assert!(all.contains(e), "the refusal names {e:?}:\n{all}");
    }
    for kind in ["container", "network", "volume"] {
        let made = docker_names(kind, &format!("dev.branchyard.repo={name}"));
        assert!(
            made.is_empty(),
            "{kind}s were created before the refusal: {made:?}"
        );
    }
    env.ok(&["down", &format!("main.{name}")]);
    env.ok(&["repo", "rm", name]);
}

#[test]
fn privileged_mode_is_refused_naming_file_service_and_key() {
    refused(
        "privileged",
        "    privileged: true\n",
        &["compose.yaml", "web", "privileged"],
    );
}

#[test]
fn a_bind_mount_of_the_root_is_refused() {
    refused(
        "bindroot",
        "    volumes: [\"/:/host\"]\n",
        &["compose.yaml", "web", "volumes"],
    );
}

#[test]
fn a_docker_socket_mount_is_refused() {
    refused(
        "socket",
        "    volumes: [\"/var/run/docker.sock:/var/run/docker.sock\"]\n",
        &["compose.yaml", "web", "docker.sock"],
    );
}

#[test]
fn malformed_yaml_is_reported_with_file_and_line() {
    let env = Env::shared();
    let dir = repo(
        env,
        "badyaml",
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: x\n   bad indent: [\n",
        )],
    );
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    let out = env.by(&["config", "badyaml", "main"]);
    let all = text(&out);
    assert!(!out.status.success(), "config must fail:\n{all}");
    assert!(
        all.contains("compose.yaml") && all.contains("line"),
        "file and line are named:\n{all}"
    );
    env.ok(&["repo", "rm", "badyaml"]);
}
