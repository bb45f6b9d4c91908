//! Safety for untrusted branches: settings that would let a branch's compose
//! file reach the host are refused before anything is created. Each refusal
//! names the file, the service and the key.

use std::path::{Path, PathBuf};

use super::error::ComposeError;
use super::load::typed::resolve;
use super::model::{FileObject, Mount, Project};

/// `security_opt` values that switch confinement off.
const UNCONFINED: &[&str] = &[
    "seccomp=unconfined",
    "seccomp:unconfined",
    "apparmor=unconfined",
    "apparmor:unconfined",
    "label=disable",
    "label:disable",
    "systempaths=unconfined",
    "no-new-privileges=false",
    "no-new-privileges:false",
];

fn is_docker_socket(p: &Path) -> bool {
    p.file_name().is_some_and(|n| n == "docker.sock")
        || p == Path::new("/var/run/docker.sock")
        || p == Path::new("/run/docker.sock")
}

/// Refuses anything an untrusted branch must not do; `root` is the worktree.
///
/// # Errors
/// [`ComposeError::Unsafe`] for the first refusal found.
pub fn check(p: &Project, root: &Path) -> Result<(), ComposeError> {
    let root = resolve(root);
    let inside = |path: &PathBuf| resolve(path).starts_with(&root);
    for (name, s) in &p.services {
        let refuse = |key: &str, reason: String| ComposeError::Unsafe {
            file: s.source_file.display().to_string(),
            service: name.clone(),
            key: key.into(),
            reason,
        };
        let ps = &s.privileged_settings;
        if ps.privileged {
            return Err(refuse("privileged", "privileged mode gives the container full access to the host".into()));
        }
        if !ps.cap_add.is_empty() {
            return Err(refuse("cap_add", format!("adding capabilities ({}) widens what the container may do to the host", ps.cap_add.join(", "))));
        }
        if !ps.devices.is_empty() {
            return Err(refuse("devices", format!("host devices ({}) would be exposed to the container", ps.devices.join(", "))));
        }
        if let Some(mode) = &ps.network_mode {
            if mode == "host" || mode.starts_with("container:") || mode.starts_with("service:") {
                return Err(refuse("network_mode", format!("network_mode {mode:?} leaves the preview's isolated network")));
            }
        }
        if ps.pid.as_deref() == Some("host") {
            return Err(refuse("pid", "pid: host shares the host's processes".into()));
        }
        if ps.ipc.as_deref() == Some("host") {
            return Err(refuse("ipc", "ipc: host shares the host's IPC namespace".into()));
        }
        if let Some(opt) = ps.security_opt.iter().find(|o| UNCONFINED.contains(&o.replace(' ', "").as_str())) {
            return Err(refuse("security_opt", format!("{opt:?} disables the container's confinement")));
        }
        for m in &s.volumes {
            if let Mount::Bind { source, .. } = m {
                if is_docker_socket(source) {
                    return Err(refuse("volumes", format!("mounting the Docker socket ({}) would give the container control of Docker, and so of the host", source.display())));
                }
                if !inside(source) {
                    return Err(refuse("volumes", format!("bind mount {} resolves outside the preview's worktree {}", source.display(), root.display())));
                }
            }
        }
        if let Some(b) = &s.build {
            if !inside(&b.context) {
                return Err(refuse("build.context", format!("build context {} is outside the preview's worktree", b.context.display())));
            }
        }
        for (key, refs, objs) in [("secrets", &s.secrets, &p.secrets), ("configs", &s.configs, &p.configs)] {
            for r in refs {
                if let Some(FileObject::File(f)) = objs.get(&r.source) {
                    if !inside(f) || is_docker_socket(f) {
                        return Err(refuse(key, format!("{} {:?} reads {} outside the preview's worktree", key.trim_end_matches('s'), r.source, f.display())));
                    }
                }
            }
        }
    }
    Ok(())
}
