//! Which engine Branchyard uses: a second Docker engine reached over TCP with
//! mutual TLS (by DOCKER_HOST and TLS variables, by a docker context), refused
//! TLS files, a closed port that never falls back to the local engine, unknown
//! contexts, contexts read as the docker CLI reads them, and previews that are
//! never shown as another engine's.

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::fixture::{httpd_dockerfile, repo};
use crate::second_engine::{SecondEngine, TestCa};
use crate::support::{clear_docker_env, sh, text, Env, Isolated};

/// The main engine's ID, from the docker CLI with no variables set.
fn main_engine_id() -> String {
    let mut c = Command::new("docker");
    clear_docker_env(&mut c);
    let out = c
        .args([
            "-H",
            "unix:///var/run/docker.sock",
            "info",
            "--format",
            "{{.ID}}",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker info: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes a docker context by hand, byte for byte as `docker context create`
/// does: compact meta.json under the SHA-256 of the name, PEM copies beside it.
fn write_context(config: &Path, name: &str, host: &str, tls_from: Option<&Path>) {
    let id = hex::encode(Sha256::digest(name.as_bytes()));
    let meta = config.join("contexts/meta").join(&id);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        format!(
            r#"{{"Name":"{name}","Metadata":{{"Description":"written by a test"}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
        ),
    )
    .unwrap();
    if let Some(dir) = tls_from {
        let tls = config.join("contexts/tls").join(&id).join("docker");
        std::fs::create_dir_all(&tls).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::copy(dir.join(f), tls.join(f)).unwrap();
        }
    }
}

fn set_current_context(config: &Path, name: Option<&str>) {
    let body = match name {
        Some(n) => format!(r#"{{"currentContext":"{n}"}}"#),
        None => "{}".into(),
    };
    std::fs::write(config.join("config.json"), body).unwrap();
}

#[test]
fn doctor_reaches_a_second_engine_over_mutual_tls_by_docker_host_and_by_a_context() {
    let second = SecondEngine::start();
    let (id2, id1) = (second.id(), main_engine_id());
    assert_ne!(id2, id1, "the second engine has an identity of its own");
    let by = Isolated::new();

    let (d, out) = by.doctor(&[], &second.tls_env());
    assert_eq!(
        d["engine"]["id"],
        id2.as_str(),
        "DOCKER_HOST + TLS reach the second engine:\n{}",
        text(&out)
    );
    assert_eq!(d["endpoint"]["host"], second.host.as_str());
    assert_eq!(d["endpoint"]["source"]["kind"], "docker_host");
    assert_eq!(
        d["endpoint"]["tls"]["ca"],
        second.client_certs.join("ca.pem").display().to_string(),
        "the files are used where they are"
    );
    assert!(
        d["docker"]["Ok"]
            .as_str()
            .unwrap_or_default()
            .contains(&second.host),
        "{d}"
    );

    write_context(
        by.config.path(),
        "second",
        &second.host,
        Some(&second.client_certs),
    );
    set_current_context(by.config.path(), Some("second"));
    let (d, out) = by.doctor(&[], &[]);
    assert_eq!(
        d["engine"]["id"],
        id2.as_str(),
        "currentContext reaches it:\n{}",
        text(&out)
    );
    assert_eq!(d["endpoint"]["source"]["kind"], "current_context");
    assert_eq!(d["endpoint"]["source"]["name"], "second");

    let env = [("DOCKER_HOST", "unix:///var/run/docker.sock".to_string())];
    let (d, out) = by.doctor(&["--context", "second"], &env);
    assert_eq!(
        d["engine"]["id"],
        id2.as_str(),
        "--context beats DOCKER_HOST:\n{}",
        text(&out)
    );
    assert_eq!(d["endpoint"]["source"]["kind"], "flag");

    let (d, _) = by.doctor(&[], &env);
    assert_eq!(
        d["engine"]["id"],
        id1.as_str(),
        "DOCKER_HOST beats currentContext"
    );
    assert!(
        d["endpoint"]["notes"][0]
            .as_str()
            .unwrap_or_default()
            .contains("overrides the docker context second"),
        "and says so: {d}"
    );

    let (d, _) = by.doctor(&["--context", "default"], &[]);
    assert_eq!(
        d["engine"]["id"],
        id1.as_str(),
        "the default context skips currentContext"
    );
    assert_eq!(d["endpoint"]["source"]["kind"], "probed");

    // The setting, through `engine use`, with no variable and no current context.
    set_current_context(by.config.path(), None);
    let out = by.run(&["engine", "use", "second"], &[]);
    assert!(out.status.success(), "engine use: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&id2),
        "names the engine: {}",
        text(&out)
    );
    let (d, _) = by.doctor(&[], &[]);
    assert_eq!(d["engine"]["id"], id2.as_str());
    assert_eq!(d["endpoint"]["source"]["kind"], "setting");
    let out = by.run(&["settings", "set", "docker.context", "default"], &[]);
    assert!(
        out.status.success(),
        "settings set docker.context: {}",
        text(&out)
    );
    let (d, _) = by.doctor(&[], &[]);
    assert_eq!(d["engine"]["id"], id1.as_str(), "back on the usual engine");
}

#[test]
fn tls_files_that_do_not_match_are_refused_naming_the_endpoint() {
    let second = SecondEngine::start();
    let by = Isolated::new();
    let certs = |name: &str| {
        let dir = by.config.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::copy(second.client_certs.join(f), dir.join(f)).unwrap();
        }
        dir
    };
    let env_for = |dir: &Path| {
        vec![
            ("DOCKER_HOST", second.host.clone()),
            ("DOCKER_TLS_VERIFY", "1".to_string()),
            ("DOCKER_CERT_PATH", dir.display().to_string()),
        ]
    };
    let other = TestCa::new("some other CA");

    let wrong_ca = certs("wrong-ca");
    std::fs::write(wrong_ca.join("ca.pem"), &other.pem).unwrap();
    let (d, out) = by.doctor(&[], &env_for(&wrong_ca));
    let err = d["docker"]["Err"].as_str().unwrap_or_default().to_string();
    assert!(!out.status.success());
    assert!(d["engine"].is_null(), "no engine is reported: {d}");
    assert!(
        err.contains("certificate signed by unknown authority")
            && err.contains(&second.host)
            && err.contains("DOCKER_HOST"),
        "a wrong CA is named as the docker CLI names it, with the endpoint: {err}"
    );

    let foreign_client = certs("foreign-client");
    other.write_client_dir(&by.config.path().join("other"));
    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(
            by.config.path().join("other").join(f),
            foreign_client.join(f),
        )
        .unwrap();
    }
    let (d, _) = by.doctor(&[], &env_for(&foreign_client));
    let err = d["docker"]["Err"].as_str().unwrap_or_default().to_string();
    assert!(
        err.contains("refused our client certificate") && err.contains(&second.host),
        "a client certificate of another CA is refused by the engine, and said so: {err}"
    );

    let no_key = certs("no-key");
    std::fs::remove_file(no_key.join("key.pem")).unwrap();
    let (d, _) = by.doctor(&[], &env_for(&no_key));
    let err = d["docker"]["Err"].as_str().unwrap_or_default().to_string();
    assert!(
        err.contains(&no_key.join("key.pem").display().to_string()) && err.contains("is missing"),
        "a missing key is found before connecting: {err}"
    );

    let out = by.run(
        &["doctor"],
        &[
            ("DOCKER_HOST", second.host.clone()),
            ("DOCKER_TLS", "1".into()),
        ],
    );
    assert!(
        text(&out).contains("cannot skip verification"),
        "TLS without verification is refused in words: {}",
        text(&out)
    );
}

#[test]
fn a_closed_port_fails_and_never_falls_back_to_the_local_engine() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let by = Isolated::new();
    let env = [("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"))];
    let (d, out) = by.doctor(&[], &env);
    assert!(!out.status.success(), "doctor fails: {}", text(&out));
    assert!(
        d["engine"].is_null(),
        "the local engine is not reported instead: {d}"
    );
    let err = d["docker"]["Err"].as_str().unwrap_or_default();
    assert!(
        err.contains(&format!("tcp://127.0.0.1:{port}"))
            && err.contains("DOCKER_HOST")
            && err.contains("does not fall back"),
        "{err}"
    );
    let repo = tempfile::tempdir().unwrap();
    sh(
        repo.path(),
        "git init -q -b main . && printf 'services:\\n  web:\\n    image: x\\n' > compose.yaml && git add -A && git commit -q -m first",
    );
    let added = by.run(
        &[
            "repo",
            "add",
            repo.path().to_str().unwrap(),
            "--name",
            "closed",
        ],
        &[],
    );
    assert!(added.status.success(), "{}", text(&added));
    let out = by.run(&["up", "closed", "main"], &env);
    assert!(!out.status.success(), "up fails: {}", text(&out));
    let ls = by.run(&["--json", "ls"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&ls.stdout).trim(),
        "[]",
        "up stopped before making a preview record"
    );
    assert!(!by.home.path().join("worktrees").exists(), "nor a worktree");
    let out = by.run(&["gc"], &env);
    assert!(
        !out.status.success(),
        "gc needs the engine and fails: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("127.0.0.1:{port}")),
        "{}",
        text(&out)
    );
}

#[test]
fn an_unknown_context_lists_the_ones_that_exist() {
    let by = Isolated::new();
    write_context(by.config.path(), "alpha", "tcp://10.231.255.2:2376", None);
    write_context(by.config.path(), "beta", "unix:///tmp/beta.sock", None);
    let out = by.run(&["--context", "nope", "repo", "ls"], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"nope\"") && err.contains("default, alpha, beta"),
        "even a command that needs no engine refuses it, listing the contexts: {err}"
    );
    let (d, _) = by.doctor(&[], &[("DOCKER_CONTEXT", "nope".into())]);
    let err = d["docker"]["Err"].as_str().unwrap_or_default();
    assert!(
        err.contains("DOCKER_CONTEXT=nope") && err.contains("default, alpha, beta"),
        "{err}"
    );
    let out = by.run(&["engine", "use", "nope"], &[]);
    assert!(
        !out.status.success() && text(&out).contains("default, alpha, beta"),
        "{}",
        text(&out)
    );
}

#[test]
fn contexts_read_exactly_as_docker_context_inspect_reads_them() {
    let by = Isolated::new();
    let ca = TestCa::new("inspect CA");
    let certs = by.config.path().join("certs");
    ca.write_client_dir(&certs);
    write_context(
        by.config.path(),
        "handmade",
        "tcp://10.231.254.2:2376",
        Some(&certs),
    );
    let cert_arg = |f: &str| certs.join(f).display().to_string();
    let docker = |args: &[&str]| {
        let mut c = Command::new("docker");
        clear_docker_env(&mut c);
        let out = c
            .args(args)
            .env("DOCKER_CONFIG", by.config.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "docker {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // Made by the docker CLI itself, read by Branchyard.
    docker(&[
        "context",
        "create",
        "skippy",
        "--docker",
        "host=tcp://10.231.254.2:2376,skip-tls-verify=true",
    ]);
    docker(&[
        "context",
        "create",
        "sock",
        "--docker",
        "host=unix:///tmp/by-sock.sock",
    ]);
    docker(&[
        "context",
        "create",
        "caonly",
        "--docker",
        &format!("host=tcp://10.231.254.2:2376,ca={}", cert_arg("ca.pem")),
    ]);

    let out = by.run(&["--json", "engine", "contexts"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for name in ["handmade", "skippy", "sock", "caonly"] {
        let theirs: serde_json::Value =
            serde_json::from_str(&docker(&["context", "inspect", name])).unwrap();
        let theirs = &theirs[0];
        let mine = ours
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("branchyard lists {name}: {ours}"));
        assert_eq!(
            mine["host"], theirs["Endpoints"]["docker"]["Host"],
            "{name}: the host"
        );
        assert_eq!(
            mine["skip_tls_verify"], theirs["Endpoints"]["docker"]["SkipTLSVerify"],
            "{name}: SkipTLSVerify"
        );
        let set = |v: &serde_json::Value| {
            let mut s: Vec<String> = v
                .as_array()
                .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            s.sort();
            s
        };
        assert_eq!(
            set(&mine["tls_material"]),
            set(&theirs["TLSMaterial"]["docker"]),
            "{name}: the TLS files present"
        );
    }
    let skippy = by.run(&["--context", "skippy", "engine", "show"], &[]);
    assert!(
        !skippy.status.success() && text(&skippy).contains("cannot skip verification"),
        "a context that skips verification is refused: {}",
        text(&skippy)
    );
}

#[test]
fn previews_on_one_engine_are_never_shown_or_changed_through_another() {
    let env = Env::shared();
    let second = SecondEngine::start();
    let dir = repo(
        env,
        "stays",
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    build: .\n    init: true\n    expose: [\"8080\"]\n",
            ),
            ("Dockerfile", &httpd_dockerfile()),
            ("www/index.html", "stays\n"),
        ],
    );
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["up", "stays", "main"]);

    let on_second = |args: &[&str]| {
        let mut c = env.cmd(args);
        for (k, v) in second.tls_env() {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = on_second(&["gc"]);
    assert!(
        !out.status.success(),
        "gc on the other engine is refused: {}",
        text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("main.stays")
            && err.contains(&second.host)
            && err.contains("another Docker engine"),
        "naming the preview and both engines: {err}"
    );
    let out = on_second(&["--json", "ls"]);
    assert!(out.status.success(), "{}", text(&out));
    let ls: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = ls
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "main.stays")
        .unwrap();
    assert_eq!(
        p["services"],
        serde_json::json!([]),
        "no other engine's containers are shown as its services"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another Docker engine"),
        "and it says why: {}",
        text(&out)
    );
    assert_eq!(
        p["state"], "ready",
        "nor is its state judged from the other engine"
    );

    let config = tempfile::tempdir().unwrap();
    write_context(
        config.path(),
        "second",
        &second.host,
        Some(&second.client_certs),
    );
    let out = env
        .cmd(&["engine", "use", "second"])
        .env("DOCKER_CONFIG", config.path())
        .output()
        .unwrap();
    assert!(
        !out.status.success()
            && text(&out).contains("main.stays")
            && text(&out).contains("--force"),
        "switching away from the previews' engine needs --force: {}",
        text(&out)
    );
    let still = env.json(&["status", "main.stays"]);
    assert_eq!(still["state"], "ready", "on its own engine it is untouched");
    env.ok(&["down", "stays", "main"]);
    env.ok(&["repo", "rm", "stays"]);
}
