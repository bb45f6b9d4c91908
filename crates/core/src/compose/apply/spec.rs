//! A compose service as Docker's container-create body: what `docker compose`
//! would send, except that host ports are never published.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointSettings, HealthConfig, HostConfig, Mount as DockerMount,
    MountTmpfsOptions, MountType, NetworkingConfig, RestartPolicy, RestartPolicyNameEnum,
};
use sha2::{Digest, Sha256};

use crate::compose::model::{FileObject, Mount, Project, Service};
use crate::docker::{DockerError, PreviewLabels};

/// Compose v2's container name: `<project>-<service>-1`.
pub fn container_name(project: &str, service: &str) -> String {
    format!("{project}-{service}-1")
}

/// The name Docker knows a project network by.
pub fn network_name(project: &Project, key: &str) -> String {
    project.networks.get(key).and_then(|n| n.name.clone()).unwrap_or_else(|| format!("{}_{key}", project.name))
}

/// The name Docker knows a project volume by.
pub fn volume_name(project: &Project, key: &str) -> String {
    project.volumes.get(key).and_then(|v| v.name.clone()).unwrap_or_else(|| format!("{}_{key}", project.name))
}

/// The image a service runs: its `image:`, or compose's default `<project>-<service>`.
pub fn image_of(project: &Project, name: &str, svc: &Service) -> String {
    match (&svc.image, &svc.build) {
        (Some(i), _) => i.clone(),
        (None, _) => format!("{}-{name}", project.name),
    }
}

/// `com.docker.compose.config-hash`: the service definition and the image it runs.
pub fn config_hash(svc: &Service, image_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(svc).unwrap_or_default());
    h.update(image_id.as_bytes());
    hex::encode(h.finalize())
}

fn restart_policy(s: &str) -> RestartPolicy {
    let (name, retries) = match s.split_once(':') {
        Some(("on-failure", n)) => (RestartPolicyNameEnum::ON_FAILURE, n.parse().ok()),
        _ => match s {
            "always" => (RestartPolicyNameEnum::ALWAYS, None),
            "unless-stopped" => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
            "on-failure" => (RestartPolicyNameEnum::ON_FAILURE, None),
            _ => (RestartPolicyNameEnum::NO, None),
        },
    };
    RestartPolicy { name: Some(name), maximum_retry_count: retries }
}

fn device(spec: &str) -> DeviceMapping {
    let mut parts = spec.splitn(3, ':');
    let host = parts.next().unwrap_or_default().to_string();
    let inside = parts.next().map(str::to_string).unwrap_or_else(|| host.clone());
    DeviceMapping {
        path_on_host: Some(host),
        path_in_container: Some(inside),
        cgroup_permissions: Some(parts.next().unwrap_or("rwm").to_string()),
    }
}

/// Writes inline secrets and configs under `state_dir`, returning the host file.
fn object_file(state_dir: &Path, kind: &str, name: &str, obj: &FileObject) -> Result<String, DockerError> {
    match obj {
        FileObject::File(p) => Ok(p.display().to_string()),
        FileObject::Content(text) => {
            let dir = state_dir.join(kind);
            std::fs::create_dir_all(&dir).map_err(|e| DockerError::Other(format!("{}: {e}", dir.display())))?;
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| DockerError::Other(format!("{}: {e}", path.display())))?;
            Ok(path.display().to_string())
        }
    }
}

/// Everything needed to create one service's container.
pub struct Spec<'a> {
    /// The project.
    pub project: &'a Project,
    /// Service name.
    pub name: &'a str,
    /// The service.
    pub svc: &'a Service,
    /// Image reference to run.
    pub image: String,
    /// Config hash label value.
    pub hash: String,
    /// Preview labels.
    pub labels: &'a PreviewLabels,
    /// Where inline secrets/configs are written.
    pub state_dir: &'a Path,
}

impl Spec<'_> {
    /// The create body, and the networks to connect after creation (with aliases).
    pub fn body(&self) -> Result<(ContainerCreateBody, Vec<(String, Vec<String>)>), DockerError> {
        let (p, name, svc) = (self.project, self.name, self.svc);
        let mut labels: HashMap<String, String> = svc.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        labels.extend(self.labels.ours());
        let config_files: Vec<String> = p.config_files.iter().map(|f| f.display().to_string()).collect();
        for (k, v) in [
            ("com.docker.compose.project", p.name.clone()),
            ("com.docker.compose.service", name.to_string()),
            ("com.docker.compose.container-number", "1".into()),
            ("com.docker.compose.oneoff", "False".into()),
            ("com.docker.compose.project.working_dir", p.working_dir.display().to_string()),
            ("com.docker.compose.project.config_files", config_files.join(",")),
            ("com.docker.compose.config-hash", self.hash.clone()),
            ("com.docker.compose.version", crate::docker::labels::COMPOSE_VERSION.into()),
            ("com.docker.compose.depends_on", svc.depends_on.keys().cloned().collect::<Vec<_>>().join(",")),
        ] {
            labels.insert(k.into(), v);
        }

        let mut mounts = Vec::new();
        for m in &svc.volumes {
            mounts.push(match m {
                Mount::Volume { source, target, read_only } => DockerMount {
                    typ: Some(MountType::VOLUME),
                    source: Some(volume_name(p, source)),
                    target: Some(target.clone()),
                    read_only: Some(*read_only),
                    ..Default::default()
                },
                Mount::Anonymous { target } => DockerMount { typ: Some(MountType::VOLUME), target: Some(target.clone()), ..Default::default() },
                Mount::Bind { source, target, read_only } => {
                    // Compose creates a missing bind source directory; so do we.
                    if !source.exists() {
                        let _ = std::fs::create_dir_all(source);
                    }
                    DockerMount {
                        typ: Some(MountType::BIND),
                        source: Some(source.display().to_string()),
                        target: Some(target.clone()),
                        read_only: Some(*read_only),
                        ..Default::default()
                    }
                }
                Mount::Tmpfs { target, size } => DockerMount {
                    typ: Some(MountType::TMPFS),
                    target: Some(target.clone()),
                    tmpfs_options: size.map(|s| MountTmpfsOptions { size_bytes: Some(s), ..Default::default() }),
                    ..Default::default()
                },
            });
        }
        for (kind, refs, objs) in [("secrets", &svc.secrets, &p.secrets), ("configs", &svc.configs, &p.configs)] {
            for r in refs {
                let Some(obj) = objs.get(&r.source) else { continue };
                mounts.push(DockerMount {
                    typ: Some(MountType::BIND),
                    source: Some(object_file(self.state_dir, kind, &r.source, obj)?),
                    target: Some(r.target.clone()),
                    read_only: Some(true),
                    ..Default::default()
                });
            }
        }

        let ps = &svc.privileged_settings;
        let mut nets: Vec<(String, Vec<String>)> = svc
            .networks
            .iter()
            .map(|(key, sn)| {
                let mut aliases = vec![name.to_string()];
                aliases.extend(sn.aliases.iter().cloned());
                (network_name(p, key), aliases)
            })
            .collect();
        let first = if ps.network_mode.is_none() && !nets.is_empty() { Some(nets.remove(0)) } else { None };
        let network_mode = ps.network_mode.clone().or_else(|| first.as_ref().map(|(n, _)| n.clone()));
        let networking_config = first.map(|(n, aliases)| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(n, EndpointSettings { aliases: Some(aliases), ..Default::default() })])),
        });
        let exposed: Vec<String> = svc.routable_ports().iter().map(|p| format!("{p}/tcp")).collect();

        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: svc.command.clone(),
            entrypoint: svc.entrypoint.clone(),
            env: Some(svc.environment.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}"))).collect()),
            labels: Some(labels),
            working_dir: svc.working_dir.clone(),
            user: svc.user.clone(),
            hostname: svc.hostname.clone(),
            tty: Some(svc.tty),
            open_stdin: Some(svc.stdin_open),
            stop_signal: svc.stop_signal.clone(),
            stop_timeout: svc.stop_grace_period_secs.map(|s| s as i64),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            healthcheck: svc.healthcheck.as_ref().map(|h| HealthConfig {
                test: Some(if h.disable { vec!["NONE".into()] } else { h.test.clone() }),
                interval: h.interval_ns,
                timeout: h.timeout_ns,
                retries: h.retries,
                start_period: h.start_period_ns,
                start_interval: h.start_interval_ns,
            }),
            host_config: Some(HostConfig {
                init: svc.init,
                restart_policy: svc.restart.as_deref().map(restart_policy),
                extra_hosts: (!svc.extra_hosts.is_empty()).then(|| svc.extra_hosts.clone()),
                sysctls: (!svc.sysctls.is_empty()).then(|| svc.sysctls.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                memory: svc.mem_limit,
                memory_reservation: svc.mem_reservation,
                nano_cpus: svc.cpus.map(|c| (c * 1e9) as i64),
                mounts: Some(mounts),
                network_mode,
                privileged: Some(ps.privileged),
                cap_add: (!ps.cap_add.is_empty()).then(|| ps.cap_add.clone()),
                cap_drop: (!ps.cap_drop.is_empty()).then(|| ps.cap_drop.clone()),
                devices: (!ps.devices.is_empty()).then(|| ps.devices.iter().map(|d| device(d)).collect()),
                pid_mode: ps.pid.clone(),
                ipc_mode: ps.ipc.clone(),
                security_opt: (!ps.security_opt.is_empty()).then(|| ps.security_opt.clone()),
                // Previews never publish host ports: the gateway reaches them on their network.
                port_bindings: None,
                publish_all_ports: Some(false),
                ..Default::default()
            }),
            networking_config,
            ..Default::default()
        };
        Ok((body, nets))
    }
}
