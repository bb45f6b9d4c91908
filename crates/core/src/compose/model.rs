//! The resolved compose project: what `load` produces and `plan`/`apply` consume.
//!
//! Everything here is already interpolated, merged, extended and profile-filtered,
//! with relative paths made absolute against the project directory. Fields mirror
//! the compose specification's names so `branchyard config` reads like
//! `docker compose config`.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// A fully resolved compose project, ready to plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// Compose project name (`com.docker.compose.project`), e.g. `by-shop-feature-x`.
    pub name: String,
    /// Directory relative paths resolve against (the worktree root or the compose file's folder).
    pub working_dir: PathBuf,
    /// The compose files merged, in order.
    pub config_files: Vec<PathBuf>,
    /// Services that survived profile filtering, in file order.
    pub services: IndexMap<String, Service>,
    /// Top-level networks; always contains `default`.
    pub networks: IndexMap<String, Network>,
    /// Top-level named volumes.
    pub volumes: IndexMap<String, Volume>,
    /// Top-level file-based secrets.
    pub secrets: IndexMap<String, FileObject>,
    /// Top-level file-based configs.
    pub configs: IndexMap<String, FileObject>,
    /// Things accepted but ignored (`version`, `name`, `container_name`), for the user to read.
    pub warnings: Vec<String>,
}

impl Project {
    /// A project with no services, networks, volumes, secrets, configs or files yet.
    pub fn empty(name: &str, working_dir: impl Into<PathBuf>) -> Project {
        Project {
            name: name.to_string(),
            working_dir: working_dir.into(),
            config_files: Vec::new(),
            services: IndexMap::new(),
            networks: IndexMap::new(),
            volumes: IndexMap::new(),
            secrets: IndexMap::new(),
            configs: IndexMap::new(),
            warnings: Vec::new(),
        }
    }
}

/// One service, resolved.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Service {
    /// The compose file that defined this service (for error messages).
    pub source_file: PathBuf,
    /// `image:`; when `build` is also set, the tag to give the built image.
    pub image: Option<String>,
    /// `build:`.
    pub build: Option<Build>,
    /// `command:` in exec form (a string is split like compose does, shell-words style).
    pub command: Option<Vec<String>>,
    /// `entrypoint:` in exec form.
    pub entrypoint: Option<Vec<String>>,
    /// `environment:` merged over `env_file:` contents; `None` value = unset in the container.
    pub environment: IndexMap<String, Option<String>>,
    /// `env_file:` paths (absolute, symlinks resolved), already read into
    /// `environment`; kept so the safety check can refuse files outside the worktree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_files: Vec<PathBuf>,
    /// Container ports from `ports:` (host side ignored: previews never publish).
    pub ports: Vec<u16>,
    /// `expose:` container ports.
    pub expose: Vec<u16>,
    /// `volumes:` mounts.
    pub volumes: Vec<Mount>,
    /// `depends_on:` with conditions (`links` and `volumes_from` add theirs, as compose does).
    pub depends_on: IndexMap<String, Dependency>,
    /// `scale:` or `deploy.replicas`: how many containers run the service
    /// (`None` is one, as compose; `0` runs none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    /// `links:`: other services of the project reached under another name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// `volumes_from:`: services whose container's volumes are mounted here too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<VolumesFrom>,
    /// `post_start:` hooks, run in the container right after it starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<Hook>,
    /// `pre_stop:` hooks, run in the container before it is stopped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<Hook>,
    /// `healthcheck:`.
    pub healthcheck: Option<Healthcheck>,
    /// `restart:` policy (`no`, `always`, `on-failure[:N]`, `unless-stopped`).
    pub restart: Option<String>,
    /// `init:`.
    pub init: Option<bool>,
    /// `labels:`.
    pub labels: IndexMap<String, String>,
    /// `working_dir:`.
    pub working_dir: Option<String>,
    /// `user:`.
    pub user: Option<String>,
    /// `networks:` the service joins, with aliases; `default` when none given.
    pub networks: IndexMap<String, ServiceNetwork>,
    /// `extra_hosts:` as `host:ip`.
    pub extra_hosts: Vec<String>,
    /// `hostname:`.
    pub hostname: Option<String>,
    /// `stop_signal:`.
    pub stop_signal: Option<String>,
    /// `stop_grace_period:` in seconds.
    pub stop_grace_period_secs: Option<u64>,
    /// `tty:`.
    pub tty: bool,
    /// `stdin_open:`.
    pub stdin_open: bool,
    /// `platform:`.
    pub platform: Option<String>,
    /// `sysctls:`.
    pub sysctls: IndexMap<String, String>,
    /// `mem_limit:` or `deploy.resources.limits.memory`, in bytes.
    pub mem_limit: Option<i64>,
    /// `mem_reservation` or `deploy.resources.reservations.memory`, in bytes.
    pub mem_reservation: Option<i64>,
    /// `cpus:` or `deploy.resources.limits.cpus`.
    pub cpus: Option<f64>,
    /// `secrets:` references.
    pub secrets: Vec<FileRef>,
    /// `configs:` references.
    pub configs: Vec<FileRef>,
    /// Settings only a trusted repo may use; empty/false for untrusted ones (refused at load).
    pub privileged_settings: PrivilegedSettings,
}

/// `build:` of a service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Build {
    /// Absolute build context directory.
    pub context: PathBuf,
    /// Dockerfile path relative to the context (default `Dockerfile`).
    pub dockerfile: String,
    /// Build args (`None` = take from environment, already resolved when possible).
    pub args: IndexMap<String, Option<String>>,
    /// Multi-stage target.
    pub target: Option<String>,
}

/// One entry of a service's `volumes:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Mount {
    /// A named volume declared at top level (`source` is the key in `Project::volumes`).
    Volume {
        /// Top-level volume key.
        source: String,
        /// Path in the container.
        target: String,
        /// Read-only.
        read_only: bool,
    },
    /// An anonymous volume (`- /data`).
    Anonymous {
        /// Path in the container.
        target: String,
    },
    /// A host directory or file; `source` is absolute and canonical.
    Bind {
        /// Absolute host path.
        source: PathBuf,
        /// Path in the container.
        target: String,
        /// Read-only.
        read_only: bool,
    },
    /// A tmpfs mount.
    Tmpfs {
        /// Path in the container.
        target: String,
        /// Size in bytes, if limited.
        size: Option<i64>,
    },
}

/// `depends_on` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Wait until the dependency's container is started.
    #[default]
    ServiceStarted,
    /// Wait until its healthcheck reports healthy.
    ServiceHealthy,
    /// Wait until it exited with code 0.
    ServiceCompletedSuccessfully,
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    /// What to wait for.
    pub condition: Condition,
    /// Restart this service when the dependency is recreated.
    pub restart: bool,
    /// When false, a missing dependency is ignored.
    pub required: bool,
}

/// One `links:` entry: `service` reachable as `alias` from this service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The linked service.
    pub service: String,
    /// The name it answers to (the service's own name when none is given).
    pub alias: String,
}

/// One `volumes_from:` entry (`service[:ro|:rw]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumesFrom {
    /// The service whose first replica's volumes are mounted.
    pub service: String,
    /// `:ro`: mounted read-only.
    pub read_only: bool,
}

/// A lifecycle hook (`post_start`, `pre_stop`): a command run in the
/// service's container through Docker's exec API.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Hook {
    /// The command, exec form.
    pub command: Vec<String>,
    /// `user:` it runs as (the container's when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `privileged:` (refused for untrusted repos).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// `working_dir:` (the container's when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `environment:` added to the container's for this command (`None`: unset).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environment: IndexMap<String, Option<String>>,
}

/// `healthcheck:` with durations in nanoseconds, as Docker's API takes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Interval in nanoseconds.
    pub interval_ns: Option<i64>,
    /// Timeout in nanoseconds.
    pub timeout_ns: Option<i64>,
    /// Retries before unhealthy.
    pub retries: Option<i64>,
    /// Start period in nanoseconds.
    pub start_period_ns: Option<i64>,
    /// Start interval in nanoseconds.
    pub start_interval_ns: Option<i64>,
    /// `disable: true`.
    pub disable: bool,
}

/// A service's membership in one network.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServiceNetwork {
    /// Extra DNS names on that network.
    pub aliases: Vec<String>,
}

/// A top-level network.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Network {
    /// `external: true`: must exist, never created or removed by us.
    pub external: bool,
    /// Explicit `name:` (otherwise `<project>_<key>`).
    pub name: Option<String>,
    /// `internal:`.
    pub internal: bool,
    /// `labels:`.
    pub labels: IndexMap<String, String>,
}

/// A top-level named volume.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Volume {
    /// `external: true`.
    pub external: bool,
    /// Explicit `name:` (otherwise `<project>_<key>`).
    pub name: Option<String>,
    /// `labels:`.
    pub labels: IndexMap<String, String>,
}

/// A top-level secret or config backed by a file (`file:`), or inline `content:`/`environment:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FileObject {
    /// `file:` — absolute path on the host.
    File(PathBuf),
    /// `environment:` — the variable's value at load time, or `content:`.
    Content(String),
}

/// A service's reference to a secret or config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    /// Top-level key.
    pub source: String,
    /// Absolute path in the container (`/run/secrets/<source>` or `/<source>` for configs by default).
    pub target: String,
    /// File mode, if given.
    pub mode: Option<u32>,
}

/// Settings refused for untrusted repos; carried so trusted repos can use them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PrivilegedSettings {
    /// `privileged:`.
    pub privileged: bool,
    /// `cap_add:`.
    pub cap_add: Vec<String>,
    /// `cap_drop:` (always allowed; dropping is safe).
    pub cap_drop: Vec<String>,
    /// `devices:`.
    pub devices: Vec<String>,
    /// `network_mode:`.
    pub network_mode: Option<String>,
    /// `pid:`.
    pub pid: Option<String>,
    /// `ipc:`.
    pub ipc: Option<String>,
    /// `security_opt:`.
    pub security_opt: Vec<String>,
}

impl Service {
    /// How many containers run the service: `scale`, else one.
    pub fn replicas(&self) -> u32 {
        self.scale.unwrap_or(1)
    }

    /// Container ports the gateway may route to: `ports` first, then `expose`.
    pub fn routable_ports(&self) -> Vec<u16> {
        let mut out = self.ports.clone();
        for p in &self.expose {
            if !out.contains(p) {
                out.push(*p);
            }
        }
        out
    }
}
