//! Which engine to use, in the docker CLI's order, as a pure function of the
//! `--context` flag, the `docker.context` setting, the environment and the
//! config directory; the well-known sockets come last, probed by the caller.
//!
//! 1. `--context NAME`;
//! 2. the `docker.context` setting;
//! 3. `DOCKER_HOST`;
//! 4. `DOCKER_CONTEXT`;
//! 5. `currentContext` in config.json;
//! 6. with a TLS variable set, `tcp://localhost:2376`;
//! 7. the first well-known socket that answers.
//!
//! A context named `default` is the docker CLI's default context: `DOCKER_HOST`,
//! else what step 6 and 7 give, skipping `DOCKER_CONTEXT` and `currentContext`.

use super::contexts::{self, DEFAULT_CONTEXT};
use super::env::EnvSnapshot;
use super::error::EndpointError;
use super::host::{normalize, scheme_of, Endpoint, EndpointSource, Scheme};
use super::probe::{self, Candidate, Os};

/// What resolution decided before anything is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// An engine was named: this one and no other.
    Named {
        /// How to reach it.
        endpoint: Endpoint,
        /// Things the user should know (a context shadowed by DOCKER_HOST, an
        /// unreadable config.json).
        notes: Vec<String>,
    },
    /// Nothing was named: try these sockets in order, the first that answers wins.
    Probe {
        /// The well-known sockets of this platform, in order.
        candidates: Vec<Candidate>,
        /// As for `Named`.
        notes: Vec<String>,
    },
}

/// Resolves the endpoint (see the module docs for the order).
///
/// # Errors
/// A named context that does not exist or cannot be read, an address the CLI
/// would refuse, or TLS settings Branchyard cannot honour.
pub fn resolve(
    flag: Option<&str>,
    setting: Option<&str>,
    env: &EnvSnapshot,
    os: Os,
) -> Result<Resolution, EndpointError> {
    let mut notes = Vec::new();
    if let Some(name) = flag.filter(|n| !n.is_empty()) {
        return named(
            name,
            EndpointSource::Flag {
                context: name.into(),
            },
            env,
            os,
            notes,
        );
    }
    if let Some(name) = setting.filter(|n| !n.is_empty()) {
        return named(
            name,
            EndpointSource::Setting {
                context: name.into(),
            },
            env,
            os,
            notes,
        );
    }
    if env.docker_host.is_some() {
        let shadowed = match &env.docker_context {
            Some(c) => Some(format!("{c} (DOCKER_CONTEXT)")),
            None => contexts::current_context(&env.config_dir)
                .ok()
                .flatten()
                .filter(|c| c != DEFAULT_CONTEXT)
                .map(|c| {
                    format!(
                        "{c} (currentContext in {})",
                        env.config_dir.join("config.json").display()
                    )
                }),
        };
        if let Some(ctx) = shadowed {
            notes.push(format!(
                "DOCKER_HOST overrides the docker context {ctx}; to use that context, pass --context NAME or unset DOCKER_HOST"
            ));
        }
        return default_context(env, os, notes);
    }
    if let Some(name) = &env.docker_context {
        return named(
            name,
            EndpointSource::DockerContext { name: name.clone() },
            env,
            os,
            notes,
        );
    }
    match contexts::current_context(&env.config_dir) {
        Ok(Some(name)) => {
            let source = EndpointSource::CurrentContext {
                name: name.clone(),
                config: env.config_dir.join("config.json"),
            };
            return named(&name, source, env, os, notes);
        }
        Ok(None) => {}
        Err(why) => notes.push(format!(
            "the docker CLI's config is unreadable, so its current context is not known: {why}"
        )),
    }
    default_context(env, os, notes)
}

/// A context by name: `default`, or one on disk.
fn named(
    name: &str,
    source: EndpointSource,
    env: &EnvSnapshot,
    os: Os,
    notes: Vec<String>,
) -> Result<Resolution, EndpointError> {
    if name == DEFAULT_CONTEXT {
        return default_context(env, os, notes);
    }
    let context = contexts::require(&env.config_dir, name, source.to_string())?;
    Ok(Resolution::Named {
        endpoint: context.endpoint(source)?,
        notes,
    })
}

/// The docker CLI's default context: DOCKER_HOST with the TLS variables; else
/// `tcp://localhost:2376` when a TLS variable is set; else the probe.
fn default_context(
    env: &EnvSnapshot,
    os: Os,
    notes: Vec<String>,
) -> Result<Resolution, EndpointError> {
    let (raw, source) = match &env.docker_host {
        Some(h) => (h.clone(), EndpointSource::DockerHost),
        None if env.wants_tls() => {
            let host = if os == Os::Windows {
                "127.0.0.1"
            } else {
                "localhost"
            };
            (format!("tcp://{host}:2376"), EndpointSource::TlsDefault)
        }
        None => {
            return Ok(Resolution::Probe {
                candidates: probe::candidates(os, env),
                notes,
            })
        }
    };
    let host = normalize(&raw, &source)?;
    let tls = match scheme_of(&host) {
        Some(Scheme::Tcp) => env.tls_files(&host, false, &source)?,
        Some(Scheme::Https) => env.tls_files(&host, true, &source)?,
        _ => None,
    };
    Ok(Resolution::Named {
        endpoint: Endpoint { host, tls, source },
        notes,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    struct Fixture {
        dir: tempfile::TempDir,
        env: EnvSnapshot,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("docker");
        std::fs::create_dir_all(&cfg).unwrap();
        for (name, host) in [
            ("t1", "tcp://10.0.0.1:2376"),
            ("t2", "unix:///run/t2.sock"),
            ("colima", "unix:///home/u/.colima/default/docker.sock"),
        ] {
            contexts::write(&cfg, name, "", host, false, &[]).unwrap();
        }
        let env = EnvSnapshot {
            config_dir: cfg,
            home: Some(PathBuf::from("/home/u")),
            ..EnvSnapshot::default()
        };
        Fixture { dir, env }
    }

    fn set_current(cfg: &Path, name: &str) {
        std::fs::write(
            cfg.join("config.json"),
            format!(r#"{{"currentContext":"{name}"}}"#),
        )
        .unwrap();
    }

    fn host_of(r: Resolution) -> (String, EndpointSource) {
        match r {
            Resolution::Named { endpoint, .. } => (endpoint.host, endpoint.source),
            other => panic!("expected a named engine, got {other:?}"),
        }
    }

    #[test]
    fn the_flag_beats_the_setting_which_beats_docker_host() {
        let mut f = fixture();
        f.env.docker_host = Some("tcp://9.9.9.9:2375".into());
        f.env.docker_context = Some("t2".into());
        let (h, s) = host_of(resolve(Some("t1"), Some("t2"), &f.env, Os::Linux).unwrap());
        assert_eq!(
            (h.as_str(), s),
            (
                "tcp://10.0.0.1:2376",
                EndpointSource::Flag {
                    context: "t1".into()
                }
            )
        );
        let (h, s) = host_of(resolve(None, Some("t2"), &f.env, Os::Linux).unwrap());
        assert_eq!(
            (h.as_str(), s),
            (
                "unix:///run/t2.sock",
                EndpointSource::Setting {
                    context: "t2".into()
                }
            )
        );
        let (h, s) = host_of(resolve(None, None, &f.env, Os::Linux).unwrap());
        assert_eq!(
            (h.as_str(), s),
            ("tcp://9.9.9.9:2375", EndpointSource::DockerHost)
        );
    }

    #[test]
    fn docker_host_beats_docker_context_and_says_so() {
        let mut f = fixture();
        f.env.docker_host = Some("unix:///x.sock".into());
        set_current(&f.env.config_dir, "t1");
        let Resolution::Named { endpoint, notes } = resolve(None, None, &f.env, Os::Linux).unwrap()
        else {
            panic!("named")
        };
        assert_eq!(endpoint.source, EndpointSource::DockerHost);
        assert!(
            notes
                .iter()
                .any(|n| n.contains("overrides the docker context t1")),
            "{notes:?}"
        );
    }

    #[test]
    fn docker_context_beats_current_context_which_beats_the_probe() {
        let mut f = fixture();
        set_current(&f.env.config_dir, "t1");
        f.env.docker_context = Some("t2".into());
        let (_, s) = host_of(resolve(None, None, &f.env, Os::Linux).unwrap());
        assert_eq!(s, EndpointSource::DockerContext { name: "t2".into() });
        f.env.docker_context = None;
        let (h, s) = host_of(resolve(None, None, &f.env, Os::Linux).unwrap());
        assert_eq!(h, "tcp://10.0.0.1:2376");
        assert!(matches!(s, EndpointSource::CurrentContext { name, .. } if name == "t1"));
        std::fs::remove_file(f.env.config_dir.join("config.json")).unwrap();
        assert!(matches!(
            resolve(None, None, &f.env, Os::Linux).unwrap(),
            Resolution::Probe { .. }
        ));
        drop(f.dir);
    }

    #[test]
    fn the_default_context_skips_docker_context_and_current_context() {
        let mut f = fixture();
        set_current(&f.env.config_dir, "t1");
        f.env.docker_context = Some("t2".into());
        assert!(matches!(
            resolve(Some("default"), None, &f.env, Os::Linux).unwrap(),
            Resolution::Probe { .. }
        ));
        f.env.docker_host = Some("tcp://1.2.3.4".into());
        let (h, s) = host_of(resolve(None, Some("default"), &f.env, Os::Linux).unwrap());
        assert_eq!(
            (h.as_str(), s),
            ("tcp://1.2.3.4:2375", EndpointSource::DockerHost)
        );
    }

    #[test]
    fn a_missing_context_lists_the_ones_that_exist() {
        let f = fixture();
        let e = resolve(Some("nope"), None, &f.env, Os::Linux).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("\"nope\"") && text.contains("--context nope"),
            "{text}"
        );
        assert!(
            text.contains("default, colima, t1, t2"),
            "lists them: {text}"
        );
        let mut env = f.env.clone();
        env.docker_context = Some("gone".into());
        let text = resolve(None, None, &env, Os::Linux)
            .unwrap_err()
            .to_string();
        assert!(text.contains("DOCKER_CONTEXT=gone"), "{text}");
    }

    #[test]
    fn tls_variables_without_docker_host_mean_localhost_2376() {
        let mut f = fixture();
        f.env.tls_verify = true;
        let Resolution::Named { endpoint, .. } = resolve(None, None, &f.env, Os::Linux).unwrap()
        else {
            panic!("named")
        };
        assert_eq!(endpoint.host, "tcp://localhost:2376");
        assert_eq!(endpoint.source, EndpointSource::TlsDefault);
        assert_eq!(
            endpoint.tls.unwrap().ca,
            Some(f.env.config_dir.join("ca.pem"))
        );
    }

    #[test]
    fn tls_variables_do_not_apply_to_named_contexts_or_sockets() {
        let mut f = fixture();
        f.env.tls_verify = true;
        let Resolution::Named { endpoint, .. } =
            resolve(Some("t1"), None, &f.env, Os::Linux).unwrap()
        else {
            panic!("named")
        };
        assert_eq!(
            endpoint.tls, None,
            "t1 has no TLS files: plain, whatever DOCKER_TLS_VERIFY says"
        );
        f.env.docker_host = Some("unix:///x.sock".into());
        let (h, _) = host_of(resolve(None, None, &f.env, Os::Linux).unwrap());
        assert_eq!(h, "unix:///x.sock");
    }
}
