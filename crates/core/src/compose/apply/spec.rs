//! A compose service as Docker's container-create body: what `docker compose`
//! would send, except that host ports are never published.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointSettings, HealthConfig, HostConfig,
    Mount as DockerMount, MountTmpfsOptions, MountType, NetworkingConfig, RestartPolicy,
    RestartPolicyNameEnum,
};

use super::{hooks, linking};
use crate::compose::model::{Condition, FileObject, Mount, Project, Service};
use crate::compose::plan::container_name;
use crate::docker::labels::{ContainerLabels, PRE_STOP};
use crate::docker::{DockerError, PreviewLabels};

/// The name Docker knows a project network by.
pub fn network_name(project: &Project, key: &str) -> String {
    project
        .networks
        .get(key)
        .and_then(|n| n.name.clone())
        .unwrap_or_else(|| format!("{}_{key}", project.name))
}

/// The name Docker knows a project volume by.
pub fn volume_name(project: &Project, key: &str) -> String {
    project
        .volumes
        .get(key)
        .and_then(|v| v.name.clone())
        .unwrap_or_else(|| format!("{}_{key}", project.name))
}

/// The image a service runs: its `image:`, or compose's default `<project>-<service>`.
pub fn image_of(project: &Project, name: &str, svc: &Service) -> String {
    svc.image
        .clone()
        .unwrap_or_else(|| format!("{}-{name}", project.name))
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
    RestartPolicy {
        name: Some(name),
        maximum_retry_count: retries,
    }
}

fn device(spec: &str) -> DeviceMapping {
    let mut parts = spec.splitn(3, ':');
    let host = parts.next().unwrap_or_default().to_string();
    let inside = parts
        .next()
        .map(str::to_string)
        .unwrap_or_else(|| host.clone());
    DeviceMapping {
        path_on_host: Some(host),
        path_in_container: Some(inside),
        cgroup_permissions: Some(parts.next().unwrap_or("rwm").to_string()),
    }
}

/// Writes inline secrets and configs under `state_dir`, returning the host file.
fn object_file(
    state_dir: &Path,
    kind: &str,
    name: &str,
    obj: &FileObject,
    mode: Option<u32>,
) -> Result<String, DockerError> {
    let io = |path: &Path, e: std::io::Error| {
        DockerError::Other(format!("cannot write {kind} file {}: {e}", path.display()))
    };
    match obj {
        FileObject::File(p) => Ok(p.display().to_string()),
        FileObject::Content(text) => {
            let dir = state_dir.join(kind);
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            let path = dir.join(name);
            // The last run left it read-only.
            let _ = std::fs::remove_file(&path);
            std::fs::write(&path, text).map_err(|e| io(&path, e))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let perms = std::fs::Permissions::from_mode(mode.unwrap_or(0o444));
                std::fs::set_permissions(&path, perms).map_err(|e| io(&path, e))?;
            }
            Ok(path.display().to_string())
        }
    }
}

/// Compose v2's `depends_on` label: `db:service_healthy:false,…`.
fn depends_on_label(svc: &Service) -> String {
    let entries: Vec<String> = svc
        .depends_on
        .iter()
        .map(|(dep, d)| {
            let cond = match d.condition {
                Condition::ServiceStarted => "service_started",
                Condition::ServiceHealthy => "service_healthy",
                Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
            };
            format!("{dep}:{cond}:{}", d.restart)
        })
        .collect();
    entries.join(",")
}

/// Networks a container joins after it is created, each with its endpoint
/// (aliases, links): Docker takes only one network at create time.
pub type LaterNetworks = Vec<(String, EndpointSettings)>;

/// Everything needed to create one service's container.
pub struct Spec<'a> {
    /// The project.
    pub project: &'a Project,
    /// Service name.
    pub name: &'a str,
    /// The service.
    pub svc: &'a Service,
    /// Which replica, from 1.
    pub number: u32,
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
    pub fn body(&self) -> Result<(ContainerCreateBody, LaterNetworks), DockerError> {
        let (p, name, svc) = (self.project, self.name, self.svc);
        let config_files: Vec<String> = p
            .config_files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        let mut labels: HashMap<String, String> = svc
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.extend(self.labels.container(&ContainerLabels {
            project: &p.name,
            service: name,
            number: self.number,
            working_dir: &p.working_dir.display().to_string(),
            config_files: &config_files.join(","),
            config_hash: &self.hash,
            depends_on: &depends_on_label(svc),
        }));
        if let Some(hooks) = hooks::pre_stop_label(&svc.pre_stop) {
            labels.insert(PRE_STOP.into(), hooks);
        }

        let mut mounts = Vec::new();
        for m in &svc.volumes {
            mounts.push(match m {
                Mount::Volume {
                    source,
                    target,
                    read_only,
                } => DockerMount {
                    typ: Some(MountType::VOLUME),
                    source: Some(volume_name(p, source)),
                    target: Some(target.clone()),
                    read_only: Some(*read_only),
                    ..Default::default()
                },
                Mount::Anonymous { target } => DockerMount {
                    typ: Some(MountType::VOLUME),
                    target: Some(target.clone()),
                    ..Default::default()
                },
                Mount::Bind {
                    source,
                    target,
                    read_only,
                } => {
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
                    tmpfs_options: size.map(|s| MountTmpfsOptions {
                        size_bytes: Some(s),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            });
        }
        for (kind, refs, objs) in [
            ("secrets", &svc.secrets, &p.secrets),
            ("configs", &svc.configs, &p.configs),
        ] {
            for r in refs {
                let Some(obj) = objs.get(&r.source) else {
                    return Err(DockerError::Other(format!(
                        "service {name} uses {kind} {:?}, which is not declared at the top level of the compose file",
                        r.source
                    )));
                };
                mounts.push(DockerMount {
                    typ: Some(MountType::BIND),
                    source: Some(object_file(self.state_dir, kind, &r.source, obj, r.mode)?),
                    target: Some(r.target.clone()),
                    read_only: Some(true),
                    ..Default::default()
                });
            }
        }

        let ps = &svc.privileged_settings;
        let links = linking::links(p, svc);
        let mut nets: LaterNetworks = svc
            .networks
            .iter()
            .map(|(key, sn)| {
                let mut aliases = vec![name.to_string()];
                aliases.extend(sn.aliases.iter().cloned());
                let endpoint = EndpointSettings {
                    aliases: Some(aliases),
                    links: (!links.is_empty()).then(|| links.clone()),
                    ..Default::default()
                };
                (network_name(p, key), endpoint)
            })
            .collect();
        if ps.network_mode.is_some() {
            // host, none, container:… or service:…: no networks of its own.
            nets.clear();
        }
        let first = if nets.is_empty() {
            None
        } else {
            Some(nets.remove(0))
        };
        // `service:db` shares db's network stack: Docker knows it as `container:<name>`.
        let mode = ps
            .network_mode
            .as_ref()
            .map(|m| match m.strip_prefix("service:") {
                Some(other) => format!("container:{}", container_name(&p.name, other, 1)),
                None => m.clone(),
            });
        let network_mode = mode.or_else(|| first.as_ref().map(|(n, _)| n.clone()));
        let networking_config = first.map(|(n, endpoint)| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(n, endpoint)])),
        });
        let volumes_from = linking::volumes_from(p, svc);
        let exposed: Vec<String> = svc
            .routable_ports()
            .iter()
            .map(|p| format!("{p}/tcp"))
            .collect();

        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: svc.command.clone(),
            entrypoint: svc.entrypoint.clone(),
            env: Some(
                svc.environment
                    .iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                    .collect(),
            ),
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
                test: Some(if h.disable {
                    vec!["NONE".into()]
                } else {
                    h.test.clone()
                }),
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
                sysctls: (!svc.sysctls.is_empty()).then(|| {
                    svc.sysctls
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                }),
                memory: svc.mem_limit,
                memory_reservation: svc.mem_reservation,
                nano_cpus: svc.cpus.map(|c| (c * 1e9) as i64),
                mounts: Some(mounts),
                volumes_from: (!volumes_from.is_empty()).then_some(volumes_from),
                links: (!links.is_empty()).then_some(links),
                network_mode,
                privileged: Some(ps.privileged),
                cap_add: (!ps.cap_add.is_empty()).then(|| ps.cap_add.clone()),
                cap_drop: (!ps.cap_drop.is_empty()).then(|| ps.cap_drop.clone()),
                devices: (!ps.devices.is_empty())
                    .then(|| ps.devices.iter().map(|d| device(d)).collect()),
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use indexmap::IndexMap;

    use super::*;
    use crate::compose::model::{Dependency, FileRef, Healthcheck, Network, ServiceNetwork};

    fn project() -> Project {
        Project {
            name: "shop-x".into(),
            working_dir: PathBuf::from("/w"),
            config_files: vec![
                PathBuf::from("/w/compose.yaml"),
                PathBuf::from("/w/compose.override.yaml"),
            ],
            services: IndexMap::new(),
            networks: IndexMap::from([
                ("default".to_string(), Network::default()),
                (
                    "back".to_string(),
                    Network {
                        name: Some("shared-back".into()),
                        ..Network::default()
                    },
                ),
            ]),
            volumes: IndexMap::new(),
            secrets: IndexMap::from([("token".to_string(), FileObject::Content("s3cret".into()))]),
            configs: IndexMap::new(),
            warnings: vec![],
        }
    }

    #[test]
    fn the_body_exposes_ports_without_publishing_them_and_maps_every_setting() {
        let state = tempfile::tempdir().expect("tempdir");
        let p = project();
        let mut svc = Service {
            ports: vec![8080],
            expose: vec![9090, 8080],
            restart: Some("on-failure:3".into()),
            init: Some(true),
            stop_grace_period_secs: Some(3),
            ..Service::default()
        };
        svc.environment.insert("KEEP".into(), Some("1".into()));
        svc.environment.insert("UNSET".into(), None);
        svc.networks
            .insert("default".into(), ServiceNetwork::default());
        svc.networks.insert(
            "back".into(),
            ServiceNetwork {
                aliases: vec!["api".into()],
            },
        );
        svc.healthcheck = Some(Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval_ns: Some(1_000_000_000),
            timeout_ns: None,
            retries: Some(3),
            start_period_ns: None,
            start_interval_ns: None,
            disable: false,
        });
        svc.depends_on.insert(
            "db".into(),
            Dependency {
                condition: Condition::ServiceHealthy,
                restart: true,
                required: true,
            },
        );
        svc.secrets.push(FileRef {
            source: "token".into(),
            target: "/run/secrets/token".into(),
            mode: None,
        });
        let labels = PreviewLabels::default();
        let spec = Spec {
            project: &p,
            name: "web",
            svc: &svc,
            number: 1,
            image: "img".into(),
            hash: "h".into(),
            labels: &labels,
            state_dir: state.path(),
        };
        let (body, more) = spec.body().expect("body");
        let host = body.host_config.clone().expect("host config");
        assert!(
            host.port_bindings.is_none() && host.publish_all_ports == Some(false),
            "previews never publish host ports"
        );
        assert_eq!(
            body.exposed_ports,
            Some(vec!["8080/tcp".to_string(), "9090/tcp".to_string()])
        );
        assert_eq!(
            body.env,
            Some(vec!["KEEP=1".to_string()]),
            "an unset variable is left out"
        );
        assert_eq!(body.stop_timeout, Some(3));
        assert_eq!(host.init, Some(true));
        let policy = host.restart_policy.expect("restart policy");
        assert_eq!(
            (policy.name, policy.maximum_retry_count),
            (Some(RestartPolicyNameEnum::ON_FAILURE), Some(3))
        );
        assert_eq!(
            body.healthcheck.and_then(|h| h.interval),
            Some(1_000_000_000)
        );
        assert_eq!(
            host.network_mode.as_deref(),
            Some("shop-x_default"),
            "the first network at create"
        );
        let first = body
            .networking_config
            .and_then(|n| n.endpoints_config)
            .expect("endpoints");
        assert_eq!(
            first["shop-x_default"].aliases,
            Some(vec!["web".to_string()])
        );
        assert_eq!(
            more.iter()
                .map(|(n, e)| (n.as_str(), e.aliases.clone()))
                .collect::<Vec<_>>(),
            vec![(
                "shared-back",
                Some(vec!["web".to_string(), "api".to_string()])
            )],
            "others joined after"
        );
        let labels = body.labels.expect("labels");
        assert_eq!(
            labels["com.docker.compose.project.config_files"],
            "/w/compose.yaml,/w/compose.override.yaml"
        );
        assert_eq!(
            labels["com.docker.compose.depends_on"],
            "db:service_healthy:true"
        );
        let mounts = host.mounts.expect("mounts");
        let secret = mounts
            .iter()
            .find(|m| m.target.as_deref() == Some("/run/secrets/token"))
            .expect("secret mount");
        assert_eq!(secret.read_only, Some(true));
        let file = secret.source.clone().expect("source");
        assert_eq!(
            std::fs::read_to_string(&file).expect("secret file"),
            "s3cret",
            "inline content is written under the state dir"
        );
        assert!(file.starts_with(&state.path().display().to_string()));
    }

    #[test]
    fn a_replica_carries_its_number_links_volumes_from_and_pre_stop_hooks() {
        use crate::compose::model::{Hook, Link, VolumesFrom};
        let mut p = project();
        p.services.insert("db".into(), Service::default());
        let mut svc = Service::default();
        svc.networks
            .insert("default".into(), ServiceNetwork::default());
        svc.networks
            .insert("back".into(), ServiceNetwork::default());
        svc.links.push(Link {
            service: "db".into(),
            alias: "database".into(),
        });
        svc.volumes_from.push(VolumesFrom {
            service: "db".into(),
            read_only: true,
        });
        svc.pre_stop.push(Hook {
            command: vec!["flush".into()],
            ..Hook::default()
        });
        let labels = PreviewLabels::default();
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = Spec {
            project: &p,
            name: "web",
            svc: &svc,
            number: 2,
            image: "img".into(),
            hash: "h".into(),
            labels: &labels,
            state_dir: dir.path(),
        };
        let (body, more) = spec.body().expect("body");
        let l = body.labels.clone().expect("labels");
        assert_eq!(l["com.docker.compose.container-number"], "2");
        assert_eq!(l[PRE_STOP], r#"[{"command":["flush"]}]"#);
        let host = body.host_config.expect("host config");
        let link = vec!["shop-x-db-1:database".to_string()];
        assert_eq!(host.links, Some(link.clone()));
        assert_eq!(host.volumes_from, Some(vec!["shop-x-db-1:ro".to_string()]));
        let first = body
            .networking_config
            .and_then(|n| n.endpoints_config)
            .expect("endpoints");
        assert_eq!(first["shop-x_default"].links, Some(link.clone()));
        assert_eq!(
            more[0].1.links,
            Some(link),
            "on every network, as compose does"
        );
    }

    #[test]
    fn a_service_network_mode_points_at_the_other_services_container() {
        let p = project();
        let mut svc = Service::default();
        svc.privileged_settings.network_mode = Some("service:vpn".into());
        svc.networks
            .insert("default".into(), ServiceNetwork::default());
        let labels = PreviewLabels::default();
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = Spec {
            project: &p,
            name: "app",
            svc: &svc,
            number: 1,
            image: "img".into(),
            hash: "h".into(),
            labels: &labels,
            state_dir: dir.path(),
        };
        let (body, more) = spec.body().expect("body");
        assert_eq!(
            body.host_config.and_then(|h| h.network_mode).as_deref(),
            Some("container:shop-x-vpn-1")
        );
        assert!(
            body.networking_config.is_none() && more.is_empty(),
            "no networks of its own"
        );
    }
}
