//! Shared pieces of the apply tests: a busybox image built FROM scratch, small
//! projects built as values, and a guard that removes everything a test made.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bollard::query_parameters::{BuildImageOptionsBuilder, InspectContainerOptions};
use bollard::Docker;
use futures_util::StreamExt;
use indexmap::IndexMap;
use tokio::sync::OnceCell;

use crate::compose::apply::{Progress, UpOptions};
use crate::compose::model::{
    Condition, Dependency, Healthcheck, Network, Project, Service, ServiceNetwork,
};
use crate::docker::{connect, context_tar, PreviewLabels};

/// The test base image: busybox with its applets installed, nothing else.
pub const BASE: &str = "branchyard-test-busybox:1";
/// Every object a test creates carries this label.
pub const TEST_LABEL: (&str, &str) = ("dev.branchyard.test", "1");

static BASE_BUILT: OnceCell<()> = OnceCell::const_new();

/// Docker, with the base image built.
pub async fn docker() -> Docker {
    let docker = connect()
        .await
        .expect("Docker must run for these tests (start it with `dockerd &`)");
    BASE_BUILT
        .get_or_init(|| async {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::copy("/bin/busybox", dir.path().join("busybox")).expect("copy /bin/busybox (apt install busybox-static)");
            std::fs::write(
                dir.path().join("Dockerfile"),
                format!(
                    "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\",\"--install\",\"-s\",\"/bin\"]\nRUN [\"/bin/mkdir\",\"-p\",\"/tmp\"]\nLABEL {}={}\n",
                    TEST_LABEL.0, TEST_LABEL.1
                ),
            )
            .expect("write Dockerfile");
            let tar = context_tar(dir.path()).expect("tar");
            let opts = BuildImageOptionsBuilder::default().t(BASE).rm(true).build();
            let mut s = docker.build_image(opts, None, Some(bollard::body_full(tar.into())));
            while let Some(item) = s.next().await {
                let info = item.expect("base image build");
                assert!(info.error_detail.is_none(), "base image build failed: {info:?}");
            }
        })
        .await;
    docker
}

/// A unique compose project name for one test.
pub fn project_name(test: &str) -> String {
    format!("bytest-{test}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// An empty project named `name` with a `default` network, rooted at `dir`.
pub fn project(name: &str, dir: &Path) -> Project {
    Project {
        name: name.into(),
        working_dir: dir.to_path_buf(),
        config_files: vec![dir.join("compose.yaml")],
        services: IndexMap::new(),
        networks: IndexMap::from([("default".to_string(), Network::default())]),
        volumes: IndexMap::new(),
        secrets: IndexMap::new(),
        configs: IndexMap::new(),
        warnings: vec![],
    }
}

/// A busybox service running `sh -c <script>` under docker-init, on the default network.
pub fn sh(script: &str) -> Service {
    Service {
        image: Some(BASE.into()),
        command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        init: Some(true),
        networks: IndexMap::from([("default".to_string(), ServiceNetwork::default())]),
        ..Service::default()
    }
}

/// A health check that passes once `/tmp/ready` exists, probed every 100 ms.
pub fn ready_file_check() -> Healthcheck {
    Healthcheck {
        test: vec!["CMD-SHELL".into(), "test -f /tmp/ready".into()],
        interval_ns: Some(100_000_000),
        timeout_ns: Some(1_000_000_000),
        retries: Some(50),
        start_period_ns: None,
        start_interval_ns: None,
        disable: false,
    }
}

/// `depends_on` entry with `condition`.
pub fn dep(condition: Condition) -> Dependency {
    Dependency {
        condition,
        restart: false,
        required: true,
    }
}

/// Labels marking everything as a test object.
pub fn labels(preview: &str) -> PreviewLabels {
    PreviewLabels {
        preview: preview.into(),
        repo: "testrepo".into(),
        branch: "feature/x".into(),
        commit: "0123456789abcdef".into(),
        extra: IndexMap::from([(TEST_LABEL.0.to_string(), TEST_LABEL.1.to_string())]),
    }
}

/// Collects progress events.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<Progress>>);

impl Recorder {
    /// The callback to hand to `up`.
    pub fn callback(&self) -> impl Fn(Progress) + Send + Sync + '_ {
        move |p| self.0.lock().expect("lock").push(p)
    }

    /// `service:state` for each service status change, in order.
    pub fn states(&self) -> Vec<String> {
        self.0
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|p| match p {
                Progress::Service(s) => Some(format!("{}:{:?}", s.service, s.state)),
                _ => None,
            })
            .collect()
    }
}

/// Removes every container, network, volume and image of a test project when
/// dropped, even when the test panicked.
pub struct Cleanup {
    /// Compose project name.
    pub project: String,
    /// A temporary working directory for the project.
    pub dir: tempfile::TempDir,
}

impl Cleanup {
    /// A guard and working directory for `project`.
    pub fn new(project: &str) -> Self {
        Cleanup {
            project: project.into(),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The working directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let filter = format!("label=com.docker.compose.project={}", self.project);
        let docker = |args: &[&str]| {
            std::process::Command::new("docker")
                .args(args)
                .output()
                .ok()
        };
        let ids = |args: &[&str]| {
            docker(args)
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .split_whitespace()
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        let containers = ids(&["ps", "-aq", "--filter", &filter]);
        if !containers.is_empty() {
            docker(
                &[
                    &["rm", "-f", "-v"][..],
                    &containers.iter().map(String::as_str).collect::<Vec<_>>(),
                ]
                .concat(),
            );
        }
        for net in ids(&["network", "ls", "-q", "--filter", &filter]) {
            // Another process (a gateway under test) may have joined it.
            for c in ids(&[
                "network",
                "inspect",
                "-f",
                "{{range $k, $v := .Containers}}{{$k}} {{end}}",
                &net,
            ]) {
                docker(&["network", "disconnect", "-f", &net, &c]);
            }
            docker(&["network", "rm", &net]);
        }
        for (list, rm) in [
            (
                vec!["volume", "ls", "-q", "--filter", &filter],
                vec!["volume", "rm", "-f"],
            ),
            (
                vec!["image", "ls", "-q", "--filter", &filter],
                vec!["image", "rm", "-f"],
            ),
        ] {
            let found = ids(&list);
            if !found.is_empty() {
                let mut args: Vec<&str> = rm.clone();
                args.extend(found.iter().map(String::as_str));
                docker(&args);
            }
        }
    }
}

/// `docker inspect` of a container.
pub async fn inspect(docker: &Docker, name: &str) -> bollard::models::ContainerInspectResponse {
    docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .expect("inspect container")
}

/// Bounds a test step so a hang fails instead of blocking the suite.
pub async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("step took too long")
}

/// Up options with a test-sized health timeout.
pub fn opts() -> UpOptions {
    UpOptions {
        health_timeout: Duration::from_secs(30),
        ..UpOptions::default()
    }
}
