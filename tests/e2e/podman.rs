//! Podman through its Docker-compatible socket: `podman system service` started
//! by the test on a socket of its own (storage, events, networks all in a temp
//! dir), reached by DOCKER_HOST and by the probe of well-known sockets, and
//! what its compat API serves to Branchyard's code: info, image load, networks,
//! container create and events. Containers cannot start in this sandbox (runc
//! cannot set rlimits), so a start is checked to fail with exactly that, or,
//! where it is allowed, to end in a `die`/`died` event.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ImportImageOptions, RemoveContainerOptionsBuilder,
};
use branchyard_core::docker::endpoint::{self, Endpoint, EndpointSource};
use branchyard_core::docker::{container_events_matching, ContainerAction};
use futures_util::StreamExt;

use crate::support::{base_image, sh, text, Isolated, BASE_IMAGE, TEST_LABEL};

/// A running `podman system service`; dropping it stops it and removes its dir.
struct Podman {
    dir: tempfile::TempDir,
    child: Child,
}

impl Podman {
    /// The service's socket: `<dir>/xdg/podman/podman.sock`, where rootless
    /// Podman puts it under `$XDG_RUNTIME_DIR`.
    fn socket(&self) -> PathBuf {
        self.dir.path().join("xdg/podman/podman.sock")
    }

    fn xdg(&self) -> PathBuf {
        self.dir.path().join("xdg")
    }

    fn start() -> Podman {
        let dir = tempfile::Builder::new().prefix("bypod-").tempdir().unwrap();
        let d = |p: &str| dir.path().join(p).display().to_string();
        std::fs::create_dir_all(dir.path().join("xdg/podman")).unwrap();
        std::fs::create_dir_all(dir.path().join("networks")).unwrap();
        // What these machines need (PLATFORM-NOTES): no journald, no systemd
        // cgroups; and everything under this dir, nothing in /etc or /run.
        let conf = format!(
            "[engine]\nevents_logger = \"file\"\nevents_logfile_path = \"{}\"\ncgroup_manager = \"cgroupfs\"\n[containers]\nlog_driver = \"k8s-file\"\n[network]\nnetwork_config_dir = \"{}\"\n",
            d("events.log"),
            d("networks")
        );
        std::fs::write(dir.path().join("containers.conf"), conf).unwrap();
        let log = std::fs::File::create(dir.path().join("podman.log")).unwrap();
        let child = Command::new("podman")
            .args([
                "--root",
                &d("root"),
                "--runroot",
                &d("run"),
                "--tmpdir",
                &d("tmp"),
            ])
            .args(["--storage-driver", "vfs", "system", "service", "--time=0"])
            .arg(format!("unix://{}", d("xdg/podman/podman.sock")))
            .env("CONTAINERS_CONF", dir.path().join("containers.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("podman is missing: install Debian's podman (scripts/lib.sh does)");
        let mut p = Podman { dir, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !p.pings() {
            let exited = p.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(p.dir.path().join("podman.log")).unwrap_or_default();
                panic!("podman system service did not answer ({exited:?}):\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    fn pings(&self) -> bool {
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(self.socket()) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.starts_with("HTTP/1.") && out.contains(" 200 ") && out.ends_with("OK")
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: format!("unix://{}", self.socket().display()),
            tls: None,
            source: EndpointSource::DockerHost,
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn podman_version() -> String {
    let out = Command::new("podman").arg("--version").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn branchyard_finds_podman_by_docker_host_and_by_probing_its_socket() {
    let podman = Podman::start();
    let by = Isolated::new();
    let host = format!("unix://{}", podman.socket().display());
    let (d, out) = by.doctor(&[], &[("DOCKER_HOST", host.clone())]);
    assert_eq!(d["engine"]["product"], "Podman Engine", "{}", text(&out));
    assert_eq!(d["engine"]["server_version"], podman_version().as_str());
    assert_eq!(d["endpoint"]["host"], host.as_str());
    assert_eq!(d["endpoint"]["source"]["kind"], "docker_host");

    // With nothing named, the probe: the system socket is hidden in a mount
    // namespace of this command's own, so rootless Podman's socket under
    // XDG_RUNTIME_DIR is the first that answers.
    let xdg = [("XDG_RUNTIME_DIR", podman.xdg().display().to_string())];
    let inner = by.cmd(&["--json", "doctor"], &xdg);
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind /dev/null /run/docker.sock && exec \"$@\"")
        .arg("sh")
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let out = c.output().unwrap();
    let d: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", text(&out)));
    assert_eq!(d["endpoint"]["source"]["kind"], "probed", "{}", text(&out));
    assert_eq!(d["endpoint"]["source"]["what"], "Podman (rootless)");
    assert_eq!(
        d["endpoint"]["source"]["socket"],
        podman.socket().display().to_string()
    );
    assert_eq!(d["engine"]["product"], "Podman Engine");
}

#[tokio::test]
async fn podman_serves_images_networks_containers_and_events_to_branchyards_client() {
    base_image();
    let podman = Podman::start();
    let docker = endpoint::connect(&podman.endpoint())
        .await
        .expect("connect to podman");
    let info = endpoint::engine_info(&docker).await.expect("info");
    assert_eq!(info.product.as_deref(), Some("Podman Engine"));
    assert!(
        !info.name.is_empty() && !info.architecture.is_empty(),
        "{info:?}"
    );

    // An image, as `docker save | docker load` moves it between engines.
    let tar = tempfile::NamedTempFile::new().unwrap();
    sh(
        std::path::Path::new("/"),
        &format!("docker save {BASE_IMAGE} -o {}", tar.path().display()),
    );
    let bytes = std::fs::read(tar.path()).unwrap();
    let loaded: Vec<_> = docker
        .import_image(
            ImportImageOptions::default(),
            bollard::body_full(bytes.into()),
            None,
        )
        .collect()
        .await;
    assert!(loaded.iter().all(|r| r.is_ok()), "image load: {loaded:?}");
    docker
        .inspect_image(BASE_IMAGE)
        .await
        .expect("the loaded image is there");

    let run = format!("podman-{}", std::process::id());
    let labels = std::collections::HashMap::from([
        (TEST_LABEL.to_string(), "1".to_string()),
        ("dev.branchyard.run".to_string(), run.clone()),
    ]);
    let mut events = Box::pin(container_events_matching(
        &docker,
        vec![format!("dev.branchyard.run={run}")],
        Some(std::time::SystemTime::now() - Duration::from_secs(1)),
    ));

    let net = docker
        .create_network(NetworkCreateRequest {
            name: format!("by-{run}"),
            labels: Some(labels.clone()),
            ..Default::default()
        })
        .await
        .expect("create a network");
    let nets = docker
        .inspect_network(
            &format!("by-{run}"),
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .expect("inspect network");
    assert_eq!(
        nets.labels.unwrap_or_default().get("dev.branchyard.run"),
        Some(&run)
    );

    let created = docker
        .create_container(
            Some(
                CreateContainerOptionsBuilder::default()
                    .name(&format!("by-{run}"))
                    .build(),
            ),
            ContainerCreateBody {
                image: Some(BASE_IMAGE.into()),
                cmd: Some(vec!["true".into()]),
                labels: Some(labels.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("create a container");
    let c = docker
        .inspect_container(
            &created.id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    assert_eq!(
        c.state.and_then(|s| s.status).map(|s| s.to_string()),
        Some("created".into())
    );

    let first = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .expect("an event within 30 s")
        .expect("the stream goes on");
    assert_eq!(
        (first.id.as_str(), &first.kind),
        (created.id.as_str(), &ContainerAction::Create)
    );

    match docker
        .start_container(
            &created.id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
    {
        // This sandbox: runc cannot set rlimits, whatever ulimits say.
        Err(e) => assert!(
            e.to_string().contains("rlimit") || e.to_string().contains("permission denied"),
            "a start fails only for the sandbox's known reason: {e}"
        ),
        // A machine where containers run: its end arrives as a die (Podman says `died`).
        Ok(()) => {
            let died = tokio::time::timeout(Duration::from_secs(30), async {
                while let Some(ev) = events.next().await {
                    if let ContainerAction::Die { exit_code } = ev.kind {
                        return exit_code;
                    }
                }
                None
            })
            .await
            .expect("a die event within 30 s");
            assert_eq!(died, Some(0));
        }
    }
    docker
        .remove_container(
            &created.id,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await
        .unwrap();
    docker.remove_network(&net.id).await.unwrap();
}
