//! Loading real files from temp dirs, end to end through [`load`].

use std::path::Path;

use super::*;
use crate::compose::error::ComposeError;
use crate::compose::model::{Condition, FileObject, Mount};
use crate::error::Code;

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
        env: [("TAG".to_string(), "v1".to_string())]
            .into_iter()
            .collect(),
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
            (
                "compose.yaml",
                r#"
version: "3.9"
name: ignored
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
    networks: {front: {aliases: [www]}}
    secrets: [token]
    container_name: fixed
    x-note: ignored
  db:
    image: busybox
volumes:
  data: {}
networks:
  front:
secrets:
  token: {file: ./token.txt}
"#,
            ),
            ("web.env", "FROM_FILE=1\nX=overridden-by-environment\n"),
        ],
    );
    let p = load(&opts(d.path(), &["compose.yaml"])).unwrap();
    let root = d.path().canonicalize().unwrap();
    let web = &p.services["web"];
    assert_eq!(web.source_file, d.path().join("compose.yaml"));
    assert_eq!(web.image.as_deref(), Some("web:v1"), "interpolated");
    assert_eq!(web.init, Some(true), "YAML merge keys work");
    assert_eq!(web.build.as_ref().unwrap().context, root);
    assert_eq!(
        web.command.as_ref().unwrap(),
        &vec!["sh".to_string(), "-c".into(), "echo hi".into()]
    );
    assert_eq!(
        web.environment["X"].as_deref(),
        Some("1"),
        "environment wins over env_file"
    );
    assert_eq!(web.environment["FROM_FILE"].as_deref(), Some("1"));
    assert_eq!(web.environment["Y"], None);
    assert_eq!(web.env_files, vec![root.join("web.env")]);
    assert_eq!(web.ports, vec![80, 9000]);
    assert_eq!(web.routable_ports(), vec![80, 9000, 3000]);
    assert!(
        matches!(&web.volumes[0], Mount::Volume { source, read_only: true, .. } if source == "data")
    );
    assert_eq!(
        web.volumes[1],
        Mount::Bind {
            source: root.join("src"),
            target: "/src".into(),
            read_only: false
        }
    );
    assert!(matches!(&web.volumes[2], Mount::Anonymous { .. }));
    assert!(matches!(
        &web.volumes[3],
        Mount::Tmpfs {
            size: Some(1048576),
            ..
        }
    ));
    assert_eq!(web.depends_on["db"].condition, Condition::ServiceHealthy);
    assert!(web.depends_on["db"].restart);
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(
        hc.test,
        vec!["CMD-SHELL".to_string(), "wget -q localhost".into()]
    );
    assert_eq!(hc.interval_ns, Some(90_000_000_000));
    assert_eq!(web.cpus, Some(0.5));
    assert_eq!(web.mem_limit, Some(256 * 1024 * 1024));
    assert_eq!(
        web.networks.keys().collect::<Vec<_>>(),
        vec!["front"],
        "no default network when networks are listed"
    );
    assert!(
        p.services["db"].networks.contains_key("default"),
        "a service without networks joins default"
    );
    assert!(p.networks.contains_key("default") && p.networks.contains_key("front"));
    assert_eq!(p.secrets["token"], FileObject::File(root.join("token.txt")));
    for w in ["container_name", "`version`", "`name`"] {
        assert!(
            p.warnings.iter().any(|x| x.contains(w)),
            "{w}: {:?}",
            p.warnings
        );
    }
}

#[test]
fn an_unsupported_key_names_file_service_and_key() {
    let e = load_one("services:\n  web:\n    image: x\n    linkz: [db]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("compose.yaml: service \"web\": key \"linkz\" is not supported by Branchyard (supported: image,"), "{e}");
    let e = load_one("services:\n  web:\n    image: x\n    deploy: {replica: 2}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("deploy.replica"), "{e}");
    let e = load_one("services: {}\nsecretz: {}\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("top level") && e.contains("secretz") && e.contains("supported: services"),
        "{e}"
    );
}

#[test]
fn malformed_yaml_reports_file_and_line() {
    let e = load_one("services:\n  web:\n    image: x\n   bad: [\n").unwrap_err();
    let ComposeError::Syntax { file, line, .. } = &e else {
        panic!("expected a syntax error, got {e}")
    };
    assert!(file.ends_with("compose.yaml"));
    assert_eq!(*line, 4);
    assert!(e.to_string().contains("compose.yaml: line 4"), "{e}");
}

#[test]
fn a_required_variable_fails_with_its_message_and_where() {
    let e = load_one("services:\n  web:\n    image: ${NOPE:?set NOPE please}\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("compose.yaml")
            && e.contains("services.web.image")
            && e.contains("NOPE")
            && e.contains("set NOPE please"),
        "{e}"
    );
}

#[test]
fn unset_variables_become_empty_with_one_warning_each() {
    let p =
        load_one("services:\n  web:\n    image: x${NOPE}\n    command: [a, '$NOPE', '$$NOPE']\n")
            .unwrap();
    assert_eq!(p.services["web"].image.as_deref(), Some("x"));
    assert_eq!(
        p.services["web"].command.as_ref().unwrap(),
        &vec!["a".to_string(), "".into(), "$NOPE".into()]
    );
    let w: Vec<_> = p.warnings.iter().filter(|w| w.contains("NOPE")).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("services.web.image"), "{w:?}");
}

#[test]
fn dot_env_feeds_interpolation_and_the_process_env_wins() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    image: x:${TAG}-${ONLY_DOT}\n",
            ),
            (".env", "TAG=from-dot\nONLY_DOT=d\n"),
        ],
    );
    let p = load(&opts(d.path(), &["compose.yaml"])).unwrap();
    assert_eq!(p.services["web"].image.as_deref(), Some("x:v1-d"));
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("from your environment: TAG")),
        "{:?}",
        p.warnings
    );
    let mut o = opts(d.path(), &["compose.yaml"]);
    o.env_file = Some(d.path().join("missing.env"));
    assert!(
        matches!(load(&o), Err(ComposeError::Io { .. })),
        "an explicit env file must exist"
    );
}

#[test]
fn a_dot_env_linked_from_outside_the_worktree_is_refused_unless_trusted() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[
            ("outside.env", "SECRET=s\n"),
            ("wt/compose.yaml", "services:\n  web:\n    image: x\n"),
        ],
    );
    let wt = d.path().join("wt");
    std::os::unix::fs::symlink(d.path().join("outside.env"), wt.join(".env")).unwrap();
    let mut o = opts(&wt, &["compose.yaml"]);
    let e = load(&o).unwrap_err();
    assert_eq!(e.code(), Code::Unsafe);
    assert!(e.to_string().contains(".env"), "{e}");
    o.trusted = true;
    assert!(load(&o).is_ok());
}

#[test]
fn override_files_merge_by_compose_rules() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[
            ("compose.yaml", "services:\n  web:\n    image: a\n    command: [one]\n    environment: {A: '1'}\n    ports: ['80']\n    volumes: ['./a:/app']\n"),
            ("compose.override.yaml", "services:\n  web:\n    command: [two]\n    environment: [B=2]\n    ports: ['443']\n    volumes: ['./b:/app']\n  extra:\n    image: b\n"),
        ],
    );
    let p = load(&opts(d.path(), &["compose.yaml", "compose.override.yaml"])).unwrap();
    let web = &p.services["web"];
    assert_eq!(web.command.as_ref().unwrap(), &vec!["two".to_string()]);
    assert_eq!(web.environment.len(), 2);
    assert_eq!(web.ports, vec![80, 443]);
    assert_eq!(web.volumes.len(), 1, "volumes merge by container path");
    assert!(matches!(&web.volumes[0], Mount::Bind { source, .. } if source.ends_with("b")));
    assert_eq!(web.source_file, d.path().join("compose.override.yaml"));
    assert_eq!(p.services.keys().collect::<Vec<_>>(), vec!["web", "extra"]);
}

#[test]
fn relative_paths_of_an_override_in_another_folder_resolve_against_the_project_directory() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[
            ("compose.yaml", "services:\n  web:\n    image: a\n"),
            (
                "deploy/preview.yaml",
                "services:\n  web:\n    volumes: ['./src:/src']\n",
            ),
        ],
    );
    let p = load(&opts(d.path(), &["compose.yaml", "deploy/preview.yaml"])).unwrap();
    let root = d.path().canonicalize().unwrap();
    assert_eq!(
        p.services["web"].volumes[0],
        Mount::Bind {
            source: root.join("src"),
            target: "/src".into(),
            read_only: false
        }
    );
}

#[test]
fn reset_and_override_tags_work_across_files_and_unknown_tags_are_refused() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[
            ("compose.yaml", "services:\n  web:\n    image: a\n    ports: ['80']\n    environment: {A: '1', B: '2'}\n"),
            ("over.yaml", "services:\n  web:\n    ports: !override ['443']\n    environment: {A: !reset null}\n"),
            ("bad.yaml", "services:\n  web:\n    image: !weird x\n"),
            ("replace.yaml", "services:\n  web: !override\n    image: b\n"),
        ],
    );
    let p = load(&opts(d.path(), &["compose.yaml", "over.yaml"])).unwrap();
    assert_eq!(p.services["web"].ports, vec![443]);
    assert_eq!(
        p.services["web"].environment.keys().collect::<Vec<_>>(),
        vec!["B"]
    );
    let p = load(&opts(d.path(), &["compose.yaml", "replace.yaml"])).unwrap();
    assert_eq!(p.services["web"].image.as_deref(), Some("b"));
    assert!(
        p.services["web"].ports.is_empty(),
        "!override replaces the whole service"
    );
    let e = load(&opts(d.path(), &["compose.yaml", "bad.yaml"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.yaml") && e.contains("weird"), "{e}");
}

#[test]
fn extends_inherits_across_files_and_cycles_are_refused() {
    let p = load_one("services:\n  base:\n    image: x\n    environment: {A: '1'}\n  web:\n    extends: base\n    environment: {B: '2'}\n").unwrap();
    assert_eq!(p.services["web"].image.as_deref(), Some("x"));
    assert_eq!(p.services["web"].environment.len(), 2);
    let e = load_one("services:\n  a:\n    extends: b\n  b:\n    extends: {service: a}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cycle"), "{e}");
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[
            ("compose.yaml", "services:\n  web:\n    extends: {file: common/base.yaml, service: app}\n    ports: ['80']\n"),
            ("common/base.yaml", "services:\n  app:\n    image: app:${TAG}\n    env_file: app.env\n"),
            ("common/app.env", "FROM_COMMON=1\n"),
        ],
    );
    let p = load(&opts(d.path(), &["compose.yaml"])).unwrap();
    let web = &p.services["web"];
    assert_eq!(
        web.image.as_deref(),
        Some("app:v1"),
        "the other file is interpolated too"
    );
    assert_eq!(
        web.environment["FROM_COMMON"].as_deref(),
        Some("1"),
        "its env_file is found next to it"
    );
    assert!(
        !p.services.contains_key("app"),
        "the extended service is not part of the project"
    );
}

#[test]
fn profiles_enable_services_only_when_active() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: x\n  debug:\n    image: y\n    profiles: [debug]\n",
        )],
    );
    let mut o = opts(d.path(), &["compose.yaml"]);
    assert!(!load(&o).unwrap().services.contains_key("debug"));
    o.profiles = vec!["debug".into()];
    assert!(load(&o).unwrap().services.contains_key("debug"));
}

#[test]
fn a_dependency_on_a_service_disabled_by_profiles_names_both() {
    let e = load_one("services:\n  web:\n    image: x\n    depends_on: [debug]\n  debug:\n    image: y\n    profiles: [tools]\n").unwrap_err().to_string();
    assert!(
        e.contains("\"web\"") && e.contains("\"debug\"") && e.contains("tools"),
        "{e}"
    );
    let e = load_one("services:\n  debug:\n    image: y\n    profiles: [tools]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("tools") && e.contains("profile"), "{e}");
}

#[test]
fn references_are_checked() {
    let e = load_one("services:\n  web:\n    image: x\n    depends_on: [db]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("depends_on") && e.contains("\"db\""), "{e}");
    let e = load_one("services:\n  web:\n    image: x\n    volumes: ['data:/d']\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"web\"") && e.contains("\"data\"") && e.contains("not declared"),
        "{e}"
    );
    let e = load_one("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n").unwrap_err().to_string();
    assert!(e.contains("a -> b -> a"), "{e}");
    let e = load_one("services:\n  web:\n    build: .\n    secrets: [nope]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("secret \"nope\""), "{e}");
    let e = load_one("services:\n  web:\n    command: [x]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("image:") && e.contains("build:"), "{e}");
    let e = load_one("services: {}\n").unwrap_err().to_string();
    assert!(e.contains("no services"), "{e}");
}

fn refused(yaml_service: &str, key: &str) {
    let d = tempfile::tempdir().unwrap();
    let yaml = format!("services:\n  web:\n    image: x\n{yaml_service}");
    write(d.path(), &[("compose.yaml", &yaml)]);
    let mut o = opts(d.path(), &["compose.yaml"]);
    let e = load(&o).unwrap_err();
    assert_eq!(e.code(), Code::Unsafe, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("compose.yaml")
            && msg.contains("service \"web\"")
            && msg.contains(key)
            && msg.contains("branchyard repo trust"),
        "{msg}"
    );
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
    refused("    ipc: host\n", "ipc");
    refused("    security_opt: ['seccomp=unconfined']\n", "security_opt");
    refused("    volumes: ['/:/host']\n", "volumes");
    refused(
        "    volumes: ['/var/run/docker.sock:/var/run/docker.sock']\n",
        "docker.sock",
    );
    refused(
        "    volumes: [{type: bind, source: /run/docker.sock, target: /s}]\n",
        "docker.sock",
    );
    refused("    volumes: ['../outside:/o']\n", "volumes");
    refused("    env_file: /etc/hostname\n", "env_file");
    refused("    build: ..\n", "build.context");
    refused(
        "    post_start: [{command: id, privileged: true}]\n",
        "post_start[0].privileged",
    );
    refused("    deploy: {replicas: 9}\n", "at most 8 containers");
}

#[test]
fn links_and_volumes_from_add_their_dependencies_and_name_a_missing_target() {
    let p = load_one(
        "services:\n  web: {image: x, links: ['db:database'], volumes_from: ['data:ro']}\n  db: {image: y}\n  data: {image: z, scale: 2}\n",
    )
    .unwrap();
    let web = &p.services["web"];
    assert_eq!(web.links[0].alias, "database");
    assert!(web.volumes_from[0].read_only);
    assert_eq!(
        web.depends_on.keys().collect::<Vec<_>>(),
        vec!["db", "data"],
        "implicit dependencies, in order"
    );
    assert_eq!(p.services["data"].replicas(), 2);
    let e = load_one("services:\n  web: {image: x, volumes_from: [gone]}\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("service \"web\": volumes_from: service \"gone\" is not defined"),
        "{e}"
    );
    let e = load_one("services:\n  a: {image: x, links: [b]}\n  b: {image: y, links: [a]}\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cycle") && e.contains("a -> b -> a"), "{e}");
}

#[test]
fn a_symlink_out_of_the_worktree_is_refused() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: x\n    volumes: ['./link:/etc-host']\n",
        )],
    );
    std::os::unix::fs::symlink("/etc", d.path().join("link")).unwrap();
    let e = load(&opts(d.path(), &["compose.yaml"]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("outside") && e.contains("volumes") && e.contains("/etc"),
        "{e}"
    );
}

#[test]
fn a_secret_file_linked_out_of_the_worktree_is_refused() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: x\n    secrets: [key]\nsecrets:\n  key: {file: ./key}\n",
        )],
    );
    std::os::unix::fs::symlink("/etc/hostname", d.path().join("key")).unwrap();
    let e = load(&opts(d.path(), &["compose.yaml"])).unwrap_err();
    assert_eq!(e.code(), Code::Unsafe);
    assert!(e.to_string().contains("secrets"), "{e}");
}

#[test]
fn confined_settings_in_the_worktree_are_fine() {
    let p = load_one("services:\n  web:\n    image: x\n    volumes: ['./src:/src', '.:/app:ro']\n    cap_drop: [ALL]\n    network_mode: none\n    sysctls: [net.core.somaxconn=1024]\n");
    assert!(p.is_ok(), "{:?}", p.err());
}
