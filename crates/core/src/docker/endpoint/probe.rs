//! The well-known sockets of each platform, in the order they are probed when
//! nothing names an engine. A socket counts only when an engine answers a ping
//! on it: a file alone proves nothing (Colima leaves a dangling symlink while
//! stopped, a crashed dockerd leaves its socket).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::env::EnvSnapshot;
use super::error::EndpointError;
use super::host::{Endpoint, EndpointSource};

/// How long one socket may take to answer its ping.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The platform whose sockets are probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// Linux.
    Linux,
    /// macOS.
    MacOs,
    /// Windows.
    Windows,
    /// Any other Unix.
    OtherUnix,
}

impl Os {
    /// The platform this runs on.
    pub fn current() -> Self {
        if cfg!(target_os = "linux") {
            Os::Linux
        } else if cfg!(target_os = "macos") {
            Os::MacOs
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::OtherUnix
        }
    }
}

/// One socket to try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// Its address (`unix:///…` or `npipe://…`).
    pub host: String,
    /// The socket's path (or pipe name).
    pub socket: String,
    /// Whose socket it usually is.
    pub what: String,
}

fn unix(path: PathBuf, what: &str) -> Candidate {
    Candidate {
        host: format!("unix://{}", path.display()),
        socket: path.display().to_string(),
        what: what.to_string(),
    }
}

/// The sockets to probe, in order.
///
/// Linux: `/var/run/docker.sock`, rootless `$XDG_RUNTIME_DIR/docker.sock`, Docker
/// Desktop's `~/.docker/desktop/docker.sock`, Podman's `$XDG_RUNTIME_DIR/podman/podman.sock`
/// and `/run/podman/podman.sock`. macOS: Docker Desktop's `~/.docker/run/docker.sock`,
/// OrbStack's `~/.orbstack/run/docker.sock`, each Colima profile's
/// `~/.colima/<profile>/docker.sock` (`default` first), Rancher Desktop's
/// `~/.rd/docker.sock`, then `/var/run/docker.sock`. Windows: the
/// `docker_engine` and `dockerDesktopLinuxEngine` pipes.
pub fn candidates(os: Os, env: &EnvSnapshot) -> Vec<Candidate> {
    let home = env.home.clone();
    let in_home = |p: &str| home.as_ref().map(|h| h.join(p));
    let mut out = Vec::new();
    match os {
        Os::Linux => {
            out.push(unix("/var/run/docker.sock".into(), "Docker Engine"));
            if let Some(x) = &env.xdg_runtime_dir {
                out.push(unix(x.join("docker.sock"), "rootless Docker"));
            }
            if let Some(p) = in_home(".docker/desktop/docker.sock") {
                out.push(unix(p, "Docker Desktop"));
            }
            if let Some(x) = &env.xdg_runtime_dir {
                out.push(unix(x.join("podman/podman.sock"), "Podman (rootless)"));
            }
            out.push(unix("/run/podman/podman.sock".into(), "Podman"));
        }
        Os::MacOs => {
            if let Some(p) = in_home(".docker/run/docker.sock") {
                out.push(unix(p, "Docker Desktop"));
            }
            if let Some(p) = in_home(".orbstack/run/docker.sock") {
                out.push(unix(p, "OrbStack"));
            }
            let colima = env.colima_home.clone().or_else(|| in_home(".colima"));
            if let Some(dir) = colima {
                for profile in colima_profiles(&dir) {
                    out.push(unix(
                        dir.join(&profile).join("docker.sock"),
                        &format!("Colima (profile {profile})"),
                    ));
                }
            }
            if let Some(p) = in_home(".rd/docker.sock") {
                out.push(unix(p, "Rancher Desktop"));
            }
            out.push(unix("/var/run/docker.sock".into(), "Docker Engine"));
        }
        Os::Windows => {
            for (pipe, what) in [
                ("//./pipe/docker_engine", "Docker Engine"),
                ("//./pipe/dockerDesktopLinuxEngine", "Docker Desktop"),
            ] {
                out.push(Candidate {
                    host: format!("npipe://{pipe}"),
                    socket: pipe.to_string(),
                    what: what.to_string(),
                });
            }
        }
        Os::OtherUnix => out.push(unix("/var/run/docker.sock".into(), "Docker Engine")),
    }
    out
}

/// Colima's profiles: `default` first (also when it is not there yet), then
/// every other profile directory by name.
fn colima_profiles(dir: &std::path::Path) -> Vec<String> {
    let mut others: Vec<String> = std::fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n != "default" && !n.starts_with('_') && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    others.sort();
    std::iter::once("default".to_string())
        .chain(others)
        .collect()
}

/// The first candidate whose probe answered (`outcomes[i]` is candidate `i`'s;
/// probing stops at the first success, so there may be fewer outcomes).
///
/// # Errors
/// [`EndpointError::NoEngine`] listing every socket tried and why it did not do.
pub fn choose(
    candidates: &[Candidate],
    outcomes: &[Result<(), String>],
) -> Result<Endpoint, EndpointError> {
    let mut tried = Vec::new();
    for (c, outcome) in candidates.iter().zip(outcomes) {
        match outcome {
            Ok(()) => {
                return Ok(Endpoint {
                    host: c.host.clone(),
                    tls: None,
                    source: EndpointSource::Probed {
                        socket: c.socket.clone(),
                        what: c.what.clone(),
                    },
                })
            }
            Err(why) => tried.push(format!("{} ({}): {why}", c.socket, c.what)),
        }
    }
    Err(EndpointError::NoEngine { tried })
}

/// Probes the candidates in order and takes the first that answers.
///
/// # Errors
/// [`EndpointError::NoEngine`] when none does.
pub async fn first_answering(candidates: &[Candidate]) -> Result<Endpoint, EndpointError> {
    let mut outcomes = Vec::new();
    for c in candidates {
        let outcome = ping_socket(c).await;
        let ok = outcome.is_ok();
        outcomes.push(outcome);
        if ok {
            break;
        }
    }
    choose(candidates, &outcomes)
}

async fn ping_socket(c: &Candidate) -> Result<(), String> {
    #[cfg(unix)]
    if !std::path::Path::new(&c.socket).exists() {
        return Err("no socket there".into());
    }
    #[cfg(unix)]
    let docker = bollard::Docker::connect_with_unix(&c.host, 10, bollard::API_DEFAULT_VERSION)
        .map_err(|e| e.to_string())?;
    #[cfg(windows)]
    let docker =
        bollard::Docker::connect_with_named_pipe(&c.host, 10, bollard::API_DEFAULT_VERSION)
            .map_err(|e| e.to_string())?;
    match tokio::time::timeout(PROBE_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("no engine answers ({e})")),
        Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sockets(os: Os, env: &EnvSnapshot) -> Vec<String> {
        candidates(os, env).into_iter().map(|c| c.socket).collect()
    }

    #[test]
    fn linux_probes_the_system_socket_then_rootless_then_podman() {
        let env = EnvSnapshot {
            home: Some("/home/u".into()),
            xdg_runtime_dir: Some("/run/user/1000".into()),
            ..EnvSnapshot::default()
        };
        assert_eq!(
            sockets(Os::Linux, &env),
            [
                "/var/run/docker.sock",
                "/run/user/1000/docker.sock",
                "/home/u/.docker/desktop/docker.sock",
                "/run/user/1000/podman/podman.sock",
                "/run/podman/podman.sock",
            ]
        );
    }

    #[test]
    fn macos_probes_desktop_orbstack_every_colima_profile_and_rancher() {
        let home = tempfile::tempdir().unwrap();
        for p in ["work", "default", "_lima"] {
            std::fs::create_dir_all(home.path().join(".colima").join(p)).unwrap();
        }
        let env = EnvSnapshot {
            home: Some(home.path().to_path_buf()),
            ..EnvSnapshot::default()
        };
        let h = home.path().display().to_string();
        assert_eq!(
            sockets(Os::MacOs, &env),
            [
                format!("{h}/.docker/run/docker.sock"),
                format!("{h}/.orbstack/run/docker.sock"),
                format!("{h}/.colima/default/docker.sock"),
                format!("{h}/.colima/work/docker.sock"),
                format!("{h}/.rd/docker.sock"),
                "/var/run/docker.sock".to_string(),
            ]
        );
        assert_eq!(
            candidates(Os::Windows, &env)[0].host,
            "npipe:////./pipe/docker_engine"
        );
    }

    #[test]
    fn the_first_socket_that_answers_wins_and_none_lists_every_try() {
        let env = EnvSnapshot {
            xdg_runtime_dir: Some("/run/user/1000".into()),
            ..EnvSnapshot::default()
        };
        let c = candidates(Os::Linux, &env);
        let e = choose(&c, &[Err("no socket there".into()), Ok(())]).unwrap();
        assert_eq!(e.host, "unix:///run/user/1000/docker.sock");
        assert_eq!(
            e.source,
            EndpointSource::Probed {
                socket: "/run/user/1000/docker.sock".into(),
                what: "rootless Docker".into()
            }
        );
        let all_failed: Vec<_> = c
            .iter()
            .map(|_| Err("no socket there".to_string()))
            .collect();
        let text = choose(&c, &all_failed).unwrap_err().to_string();
        assert!(
            text.contains("/var/run/docker.sock (Docker Engine): no socket there")
                && text.contains("/run/podman/podman.sock"),
            "{text}"
        );
    }
}
