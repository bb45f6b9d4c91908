//! Loading real files from temp dirs.

use std::path::Path;

use super::*;
use crate::compose::error::ComposeError;
use crate::compose::model::{Condition, Mount};

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
}

fn opts(dir: &Path, files: &[&str]) -> LoadOptions {
    LoadOptions {
        project_name: "p".into(),
        working_dir: dir.to_path_buf(),
        files: files.iter().map(|f| dir.join(f)).collect(),
        env: [("TAG".to_string(), "v1".to_string())].into_iter().collect(),
        env_file: None,
        profiles: Vec::new(),
        trusted: false,
        confine_to: dir.to_path_buf(),
    }
}

fn load_one(yaml: &str) -> Result<Project, ComposeError> {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), &[("compose.yaml", yaml)]);
    load(&opts(d.path(), &["compose.yaml"]))
}

#[test]
fn a_full_service_loads_into_the_model() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[
            ("compose.yaml", r#"
version: "3.9"
x-common: &common
  init: true
services:
  web:
    <<: *common
    build: {context: ., args: [A=1], target: dev}
    image: web:${TAG}
    command: sh -c "echo hi"
    environment: [X=1, Y]
    env_file: web.env
    ports: ["127.0.0.1:8080:80/tcp", "9000"]
    expose: [3000]
    volumes: ["data:/data:ro", "./src:/src", "/tmp-anon", {type: tmpfs, target: /t, tmpfs: {size: 1m}}]
    depends_on: {db: {condition: service_healthy, restart: true}}
    healthcheck: {test: "wget -q localhost", interval: 1m30s, retries: 3}
    deploy: {resources: {limits: {cpus: "0.5", memory: 256m}}}
    container_name: fixed
    x-note: ignored
  db:
    image: busybox
volumes:
  data: {}
"#),
            ("web.env", "FROM_FILE=1\nX=overridden-by-environment\n"),
        ],
    );
    let p = load(&opts(d.path(), &["compose.yaml"])).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("web:v1"), "interpolated");
    assert_eq!(web.init, Some(true), "YAML merge keys work");
    assert_eq!(web.command.as_ref().unwrap(), &vec!["sh".to_string(), "-c".into(), "echo hi".into()]);
    assert_eq!(web.environment["X"].as_deref(), Some("1"), "environment wins over env_file");
    assert_eq!(web.environment["FROM_FILE"].as_deref(), Some("1"));
    assert_eq!(web.environment["Y"], None);
    assert_eq!(web.ports, vec![80, 9000]);
    assert_eq!(web.routable_ports(), vec![80, 9000, 3000]);
    assert!(matches!(&web.volumes[0], Mount::Volume { source, read_only: true, .. } if source == "data"));
    assert!(matches!(&web.volumes[1], Mount::Bind { source, .. } if source.ends_with("src")));
    assert!(matches!(&web.volumes[2], Mount::Anonymous { .. }));
    assert!(matches!(&web.volumes[3], Mount::Tmpfs { size: Some(1048576), .. }));
    assert_eq!(web.depends_on["db"].condition, Condition::ServiceHealthy);
    assert!(web.depends_on["db"].restart);
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, vec!["CMD-SHELL".to_string(), "wget -q localhost".into()]);
    assert_eq!(hc.interval_ns, Some(90_000_000_000));
    assert_eq!(web.cpus, Some(0.5));
    assert_eq!(web.mem_limit, Some(256 * 1024 * 1024));
    assert!(p.networks.contains_key("default") && web.networks.contains_key("default"));
    assert!(p.warnings.iter().any(|w| w.contains("container_name")), "{:?}", p.warnings);
    assert!(p.warnings.iter().any(|w| w.contains("version")), "{:?}", p.warnings);
}

#[test]
fn an_unsupported_key_names_file_service_and_key() {
    let e = load_one("services:\n  web:\n    image: x\n    links: [db]\n").unwrap_err().to_string();
    assert!(e.contains("compose.yaml") && e.contains("\"web\"") && e.contains("links"), "{e}");
    let e = load_one("services:\n  web:\n    image: x\n    deploy: {replicas: 2}\n").unwrap_err().to_string();
    assert!(e.contains("deploy.replicas"), "{e}");
    let e = load_one("services: {}\nsecretz: {}\n").unwrap_err().to_string();
    assert!(e.contains("top level") && e.contains("secretz"), "{e}");
}

#[test]
fn malformed_yaml_reports_file_and_line() {
    let e = load_one("services:\n  web:\n    image: x\n   bad: [\n").unwrap_err();
    match &e {
        ComposeError::Syntax { file, line, .. } => {
            assert!(file.ends_with("compose.yaml"));
            assert!(*line >= 3, "line {line}");
        }
        other => panic!("expected a syntax error, got {other}"),
    }
    assert!(e.to_string().contains("line"));
}

#[test]
fn a_required_variable_fails_with_its_message() {
    let e = load_one("services:\n  web:\n    image: ${NOPE:?set NOPE please}\n").unwrap_err().to_string();
    assert!(e.contains("NOPE") && e.contains("set NOPE please"), "{e}");
}

#[test]
fn dot_env_feeds_interpolation_and_the_process_env_wins() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), &[("compose.yaml", "services:\n  web:\n    image: x:${TAG}-${ONLY_DOT}\n"), (".env", "TAG=from-dot\nONLY_DOT=d\n")]);
    let p = load(&opts(d.path(), &["compose.yaml"])).unwrap();
    assert_eq!(p.services["web"].image.as_deref(), Some("x:v1-d"));
}

#[test]
fn override_files_merge_by_compose_rules() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[
            ("compose.yaml", "services:\n  web:\n    image: a\n    command: [one]\n    environment: {A: '1'}\n    ports: ['80']\n"),
            ("compose.override.yaml", "services:\n  web:\n    command: [two]\n    environment: [B=2]\n    ports: ['443']\n  extra:\n    image: b\n"),
        ],
    );
    let p = load(&opts(d.path(), &["compose.yaml", "compose.override.yaml"])).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.command.as_ref().unwrap(), &vec!["two".to_string()]);
    assert_eq!(web.environment.len(), 2);
    assert_eq!(web.ports, vec![80, 443]);
    assert!(p.services.contains_key("extra"));
}

#[test]
fn extends_inherits_and_cycles_are_refused() {
    let p = load_one("services:\n  base:\n    image: x\n    environment: {A: '1'}\n  web:\n    extends: base\n    environment: {B: '2'}\n").unwrap();
    assert_eq!(p.services["web"].image.as_deref(), Some("x"));
    assert_eq!(p.services["web"].environment.len(), 2);
    let e = load_one("services:\n  a:\n    extends: b\n  b:\n    extends: {service: a}\n").unwrap_err().to_string();
    assert!(e.contains("cycle"), "{e}");
}

#[test]
fn profiles_enable_services_only_when_active() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), &[("compose.yaml", "services:\n  web:\n    image: x\n  debug:\n    image: y\n    profiles: [debug]\n")]);
    let mut o = opts(d.path(), &["compose.yaml"]);
    assert!(!load(&o).unwrap().services.contains_key("debug"));
    o.profiles = vec!["debug".into()];
    assert!(load(&o).unwrap().services.contains_key("debug"));
}

#[test]
fn references_are_checked() {
    let e = load_one("services:\n  web:\n    image: x\n    depends_on: [db]\n").unwrap_err().to_string();
    assert!(e.contains("depends_on") && e.contains("db"), "{e}");
    let e = load_one("services:\n  web:\n    image: x\n    volumes: ['data:/d']\n").unwrap_err().to_string();
    assert!(e.contains("data") && e.contains("not declared"), "{e}");
    let e = load_one("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n").unwrap_err().to_string();
    assert!(e.contains("a -> b -> a") || e.contains("b -> a -> b"), "{e}");
}

fn refused(yaml_service: &str, key: &str) {
    let d = tempfile::tempdir().unwrap();
    let yaml = format!("services:\n  web:\n    image: x\n{yaml_service}");
    write(d.path(), &[("compose.yaml", &yaml)]);
    let mut o = opts(d.path(), &["compose.yaml"]);
    let e = load(&o).unwrap_err();
    assert_eq!(e.code(), crate::error::Code::Unsafe, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("compose.yaml") && msg.contains("\"web\"") && msg.contains(key), "{msg}");
    o.trusted = true;
    assert!(load(&o).is_ok(), "a trusted repo may use {key}");
}

#[test]
fn unsafe_settings_are_refused_unless_trusted() {
    refused("    privileged: true\n", "privileged");
    refused("    cap_add: [SYS_ADMIN]\n", "cap_add");
    refused("    devices: ['/dev/kmsg']\n", "devices");
    refused("    network_mode: host\n", "network_mode");
    refused("    pid: host\n", "pid");
    refused("    security_opt: ['seccomp=unconfined']\n", "security_opt");
    refused("    volumes: ['/:/host']\n", "volumes");
    refused("    volumes: ['/var/run/docker.sock:/var/run/docker.sock']\n", "docker.sock");
    refused("    volumes: ['../outside:/o']\n", "volumes");
}

#[test]
fn a_symlink_out_of_the_worktree_is_refused() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), &[("compose.yaml", "services:\n  web:\n    image: x\n    volumes: ['./link:/etc-host']\n")]);
    std::os::unix::fs::symlink("/etc", d.path().join("link")).unwrap();
    let e = load(&opts(d.path(), &["compose.yaml"])).unwrap_err().to_string();
    assert!(e.contains("outside") && e.contains("volumes"), "{e}");
}

#[test]
fn a_bind_inside_the_worktree_is_fine() {
    let p = load_one("services:\n  web:\n    image: x\n    volumes: ['./src:/src']\n    cap_drop: [ALL]\n");
    assert!(p.is_ok(), "{:?}", p.err());
}
