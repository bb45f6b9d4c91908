//! Safety for untrusted branches: settings that would let a branch's compose
//! file reach the host, or other containers, are refused before anything is
//! created. Each refusal names the file, the service and the key, says
//! that `branchyard repo trust <repo>` lifts it, and, where the repo itself
//! can hold what was asked for, how.
//!
//! Host paths are judged after symlinks are resolved, so a link committed in
//! the branch cannot point a bind mount, env file, secret or build context
//! outside the worktree. Call [`check`] again right before creating
//! containers to narrow the window in which a running container could swap a
//! path for a link.

use std::path::Path;

use super::error::ComposeError;
use super::load::paths;
use super::model::{FileObject, Mount, Project, Service};

/// `security_opt` settings that switch a confinement off (key, value), after
/// `:` is read as `=` and case is ignored.
const UNCONFINED: &[(&str, &str)] = &[
    ("seccomp", "unconfined"),
    ("apparmor", "unconfined"),
    ("label", "disable"),
    ("label", "type:spc_t"),
    ("label", "type:unconfined_t"),
    ("systempaths", "unconfined"),
    ("no-new-privileges", "false"),
];

/// Whether `p` names a Docker socket: by the daemon's paths, or by name
/// anywhere (a copy or link inside the worktree is just as dangerous).
fn is_docker_socket(p: &Path) -> bool {
    let resolved = paths::canonical(p);
    [p, resolved.as_path()].iter().any(|p| {
        p.file_name().is_some_and(|n| n == "docker.sock")
            || *p == Path::new("/var/run/docker.sock")
            || *p == Path::new("/run/docker.sock")
    })
}

/// A refusal for service `name` of `s`.
fn refuse(name: &str, s: &Service, key: &str, reason: String) -> ComposeError {
    ComposeError::Unsafe {
        file: s.source_file.display().to_string(),
        service: name.to_string(),
        key: key.into(),
        reason,
    }
}

/// Refuses anything an untrusted branch must not do; `worktree` is the
/// branch's checkout, the only host directory it may reach.
///
/// # Errors
/// [`ComposeError::Unsafe`] for the first refusal found.
pub fn check(project: &Project, worktree: &Path) -> Result<(), ComposeError> {
    let inside = |p: &Path| paths::is_inside(p, worktree);
    for (name, s) in &project.services {
        namespaces(name, s)?;
        shared_objects(project, name, s)?;
        for m in &s.volumes {
            if let Mount::Bind { source, .. } = m {
                if is_docker_socket(source) {
                    return Err(refuse(name, s, "volumes", format!("mounting the Docker socket ({}) gives the container control of Docker, and so of the host", source.display())));
                }
                if !inside(source) {
                    return Err(refuse(
                        name,
                        s,
                        "volumes",
                        format!(
                            "bind mount {} resolves to {}, outside the preview's worktree {}; mount a path inside the repo instead (a gitignored file of your checkout is carried into the worktree when named in .worktreeinclude, see {})",
                            source.display(),
                            paths::canonical(source).display(),
                            worktree.display(),
                            crate::carry::GUIDE
                        ),
                    ));
                }
            }
        }
        if let Some(b) = &s.build {
            if !inside(&b.context) {
                return Err(refuse(
                    name,
                    s,
                    "build.context",
                    format!(
                        "build context {} is outside the preview's worktree",
                        b.context.display()
                    ),
                ));
            }
        }
        for f in &s.env_files {
            if !inside(f) {
                return Err(refuse(name, s, "env_file", format!("{} resolves outside the preview's worktree; its values would be copied into the container. Keep the file in the repo, gitignored, and name it in .worktreeinclude so it is carried into previews (see {})", f.display(), crate::carry::GUIDE)));
            }
        }
        for (key, refs, objs) in [
            ("secrets", &s.secrets, &project.secrets),
            ("configs", &s.configs, &project.configs),
        ] {
            for r in refs {
                if let Some(FileObject::File(f)) = objs.get(&r.source) {
                    if is_docker_socket(f) || !inside(f) {
                        let kind = key.trim_end_matches('s');
                        return Err(refuse(
                            name,
                            s,
                            key,
                            format!(
                                "{kind} {:?} reads {}, outside the preview's worktree; keep the file in the repo, gitignored, and name it in .worktreeinclude (see {})",
                                r.source,
                                f.display(),
                                crate::carry::GUIDE
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Privileges and shared namespaces.
/// Volumes and networks must be the preview's own: `external: true` or an
/// explicit `name:` would reach objects of other projects on this machine.
fn shared_objects(p: &Project, name: &str, s: &Service) -> Result<(), ComposeError> {
    for m in &s.volumes {
        if let Mount::Volume { source, .. } = m {
            if let Some(v) = p.volumes.get(source) {
                if v.external || v.name.is_some() {
                    let what = if v.external {
                        "is external".to_string()
                    } else {
                        format!("is named {:?}", v.name.as_deref().unwrap_or(""))
                    };
                    return Err(refuse(
                        name,
                        s,
                        "volumes",
                        format!("volume {source:?} {what}: it could be another project's data"),
                    ));
                }
            }
        }
    }
    for key in s.networks.keys() {
        if let Some(n) = p.networks.get(key) {
            if n.external || n.name.is_some() {
                return Err(refuse(name, s, "networks", format!("network {key:?} is external or explicitly named: it would join another project's network")));
            }
        }
    }
    Ok(())
}

fn namespaces(name: &str, s: &Service) -> Result<(), ComposeError> {
    let ps = &s.privileged_settings;
    if ps.privileged {
        return Err(refuse(
            name,
            s,
            "privileged",
            "privileged mode gives the container full access to the host".into(),
        ));
    }
    if !ps.cap_add.is_empty() {
        return Err(refuse(
            name,
            s,
            "cap_add",
            format!(
                "adding capabilities ({}) widens what the container may do to the host",
                ps.cap_add.join(", ")
            ),
        ));
    }
    if !ps.devices.is_empty() {
        return Err(refuse(
            name,
            s,
            "devices",
            format!(
                "host devices ({}) would be exposed to the container",
                ps.devices.join(", ")
            ),
        ));
    }
    if let Some(mode) = &ps.network_mode {
        // `none`, `bridge` and another service of the preview stay inside; the rest reaches out.
        let own =
            matches!(mode.as_str(), "none" | "bridge" | "default") || mode.starts_with("service:");
        if !own {
            let reason = match mode.as_str() {
                "host" => "network_mode \"host\" puts the container on the host's network, outside the preview's".to_string(),
                m if m.starts_with("container:") => format!("network_mode {m:?} joins a container outside this preview"),
                m => format!("network_mode {m:?} joins a Docker network outside this preview"),
            };
            return Err(refuse(name, s, "network_mode", reason));
        }
    }
    for (key, mode) in [("pid", &ps.pid), ("ipc", &ps.ipc)] {
        match mode.as_deref() {
            Some("host") => {
                return Err(refuse(
                    name,
                    s,
                    key,
                    format!(
                        "{key}: host shares the host's {} namespace",
                        key.to_uppercase()
                    ),
                ))
            }
            Some(m) if m.starts_with("container:") => {
                return Err(refuse(
                    name,
                    s,
                    key,
                    format!("{key}: {m} shares the namespace of a container outside this preview"),
                ))
            }
            _ => {}
        }
    }
    for opt in &ps.security_opt {
        let normalized = opt.replace(' ', "").to_ascii_lowercase();
        let (k, v) = normalized
            .split_once(['=', ':'])
            .unwrap_or((normalized.as_str(), ""));
        if UNCONFINED.contains(&(k, v)) {
            return Err(refuse(
                name,
                s,
                "security_opt",
                format!("{opt:?} disables the container's confinement"),
            ));
        }
        // A custom seccomp profile can allow every system call.
        if k == "seccomp" && !matches!(v, "default" | "builtin") {
            return Err(refuse(
                name,
                s,
                "security_opt",
                format!("{opt:?} replaces Docker's seccomp profile"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn external_or_named_volumes_and_networks_are_refused() {
        use crate::compose::model::{Network, Volume};
        let d = tempfile::tempdir().unwrap();
        let svc = Service {
            source_file: d.path().join("compose.yaml"),
            volumes: vec![Mount::Volume {
                source: "data".into(),
                target: "/d".into(),
                read_only: false,
            }],
            networks: [("default".to_string(), Default::default())]
                .into_iter()
                .collect(),
            ..Service::default()
        };
        let mut p = project(d.path(), svc);
        p.networks.insert("default".into(), Network::default());
        p.volumes.insert(
            "data".into(),
            Volume {
                external: true,
                ..Volume::default()
            },
        );
        let e = check(&p, d.path()).unwrap_err().to_string();
        assert!(e.contains("volumes") && e.contains("external"), "{e}");
        p.volumes.insert(
            "data".into(),
            Volume {
                name: Some("other_data".into()),
                ..Volume::default()
            },
        );
        assert!(
            check(&p, d.path()).is_err(),
            "an explicit name is refused too"
        );
        p.volumes.insert("data".into(), Volume::default());
        p.networks.insert(
            "default".into(),
            Network {
                external: true,
                ..Network::default()
            },
        );
        let e = check(&p, d.path()).unwrap_err().to_string();
        assert!(e.contains("networks"), "{e}");
    }

    use std::path::PathBuf;

    use indexmap::IndexMap;

    use super::*;
    use crate::compose::model::{Build, FileRef};
    use crate::error::Code;

    fn project(dir: &Path, s: Service) -> Project {
        Project {
            name: "p".into(),
            working_dir: dir.to_path_buf(),
            config_files: Vec::new(),
            services: [(
                "web".to_string(),
                Service {
                    source_file: dir.join("compose.yaml"),
                    ..s
                },
            )]
            .into_iter()
            .collect(),
            networks: IndexMap::new(),
            volumes: IndexMap::new(),
            secrets: [(
                "s".to_string(),
                FileObject::File(PathBuf::from("/etc/shadow")),
            )]
            .into_iter()
            .collect(),
            configs: IndexMap::new(),
            warnings: Vec::new(),
        }
    }

    /// Asserts `s` is refused with `key` named, and returns the message.
    fn refused(dir: &Path, s: Service, key: &str) -> String {
        let e = check(&project(dir, s), dir).unwrap_err();
        assert_eq!(e.code(), Code::Unsafe);
        let msg = e.to_string();
        assert!(
            msg.contains("compose.yaml")
                && msg.contains("service \"web\"")
                && msg.contains(key)
                && msg.contains("branchyard repo trust"),
            "{msg}"
        );
        msg
    }

    fn bind(source: PathBuf) -> Service {
        Service {
            volumes: vec![Mount::Bind {
                source,
                target: "/x".into(),
                read_only: false,
            }],
            ..Service::default()
        }
    }

    #[test]
    fn privileges_and_host_namespaces_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let with = |f: &dyn Fn(&mut Service)| {
            let mut s = Service::default();
            f(&mut s);
            s
        };
        refused(
            d.path(),
            with(&|s| s.privileged_settings.privileged = true),
            "privileged",
        );
        refused(
            d.path(),
            with(&|s| s.privileged_settings.cap_add = vec!["NET_ADMIN".into()]),
            "cap_add",
        );
        refused(
            d.path(),
            with(&|s| s.privileged_settings.devices = vec!["/dev/kvm".into()]),
            "devices",
        );
        for mode in ["host", "container:abc", "some_other_net"] {
            refused(
                d.path(),
                with(&|s| s.privileged_settings.network_mode = Some(mode.into())),
                "network_mode",
            );
        }
        refused(
            d.path(),
            with(&|s| s.privileged_settings.pid = Some("host".into())),
            "pid",
        );
        refused(
            d.path(),
            with(&|s| s.privileged_settings.ipc = Some("container:x".into())),
            "ipc",
        );
        for opt in [
            "seccomp=unconfined",
            "seccomp:unconfined",
            "apparmor=unconfined",
            "apparmor:unconfined",
            "label=disable",
            "label:disable",
            "systempaths=unconfined",
            "no-new-privileges=false",
            "no-new-privileges:false",
            "seccomp=/tmp/p.json",
            "label=type:spc_t",
        ] {
            refused(
                d.path(),
                with(&|s| s.privileged_settings.security_opt = vec![opt.into()]),
                "security_opt",
            );
        }
    }

    #[test]
    fn confined_settings_pass() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Service::default();
        s.privileged_settings.cap_drop = vec!["ALL".into()];
        s.privileged_settings.network_mode = Some("service:db".into());
        s.privileged_settings.ipc = Some("shareable".into());
        s.privileged_settings.security_opt = vec![
            "no-new-privileges:true".into(),
            "label=level:s0:c100".into(),
            "seccomp=default".into(),
        ];
        s.sysctls.insert("net.core.somaxconn".into(), "1024".into());
        s.volumes.push(Mount::Bind {
            source: d.path().join("src"),
            target: "/src".into(),
            read_only: false,
        });
        s.build = Some(Build {
            context: d.path().to_path_buf(),
            ..Build::default()
        });
        assert!(check(&project(d.path(), s), d.path()).is_ok());
    }

    #[test]
    fn bind_mounts_must_resolve_inside_the_worktree() {
        let d = tempfile::tempdir().unwrap();
        refused(d.path(), bind(PathBuf::from("/")), "volumes");
        refused(d.path(), bind(d.path().join("..")), "volumes");
        std::os::unix::fs::symlink("/etc", d.path().join("link")).unwrap();
        let msg = refused(d.path(), bind(d.path().join("link")), "volumes");
        assert!(
            msg.contains("/etc"),
            "the message shows where the link leads: {msg}"
        );
        refused(d.path(), bind(d.path().join("link/ssh")), "volumes");
    }

    #[test]
    fn a_docker_socket_is_refused_wherever_it_is() {
        let d = tempfile::tempdir().unwrap();
        refused(
            d.path(),
            bind(PathBuf::from("/var/run/docker.sock")),
            "docker.sock",
        );
        refused(
            d.path(),
            bind(d.path().join("docker.sock")),
            "Docker socket",
        );
        std::os::unix::fs::symlink("/var/run/docker.sock", d.path().join("innocent")).unwrap();
        refused(d.path(), bind(d.path().join("innocent")), "Docker socket");
    }

    #[test]
    fn files_read_from_the_host_must_be_inside_the_worktree() {
        let d = tempfile::tempdir().unwrap();
        let s = Service {
            build: Some(Build {
                context: d.path().join(".."),
                ..Build::default()
            }),
            ..Service::default()
        };
        refused(d.path(), s, "build.context");
        let s = Service {
            env_files: vec![PathBuf::from("/etc/environment")],
            ..Service::default()
        };
        refused(d.path(), s, "env_file");
        let s = Service {
            secrets: vec![FileRef {
                source: "s".into(),
                target: "/run/secrets/s".into(),
                mode: None,
            }],
            ..Service::default()
        };
        refused(d.path(), s, "secrets");
    }
}
