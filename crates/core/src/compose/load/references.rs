//! Cross-references of a loaded project: named volumes, networks, secrets
//! and configs are declared at top level, `service:` modes name a loaded
//! service, and dependencies form no cycle.

use crate::compose::error::ComposeError;
use crate::compose::model::{Mount, Project, Service};

/// Services `s` must start after: `depends_on` and `service:` namespaces.
fn after(s: &Service) -> Vec<&str> {
    let ps = &s.privileged_settings;
    let shared = [&ps.network_mode, &ps.pid, &ps.ipc]
        .into_iter()
        .flatten()
        .filter_map(|m| m.strip_prefix("service:"));
    s.depends_on
        .keys()
        .map(String::as_str)
        .chain(shared)
        .collect()
}

/// Checks every reference of `p`.
///
/// # Errors
/// [`ComposeError::Invalid`] naming the service and what is undeclared, or
/// [`ComposeError::Cycle`] naming the cycle.
pub fn check(p: &Project) -> Result<(), ComposeError> {
    for (name, s) in &p.services {
        let invalid = |key: &str, message: String| ComposeError::Invalid {
            file: s.source_file.display().to_string(),
            where_: format!("service {name:?}"),
            key: key.into(),
            message,
        };
        for m in &s.volumes {
            if let Mount::Volume { source, .. } = m {
                if !p.volumes.contains_key(source) {
                    return Err(invalid("volumes", format!("named volume {source:?} is not declared under the top-level `volumes:`; add `volumes: {{{source}: {{}}}}`")));
                }
            }
        }
        for n in s.networks.keys() {
            if !p.networks.contains_key(n) {
                return Err(invalid(
                    "networks",
                    format!("network {n:?} is not declared under the top-level `networks:`"),
                ));
            }
        }
        for r in &s.secrets {
            if !p.secrets.contains_key(&r.source) {
                return Err(invalid(
                    "secrets",
                    format!(
                        "secret {:?} is not declared under the top-level `secrets:`",
                        r.source
                    ),
                ));
            }
        }
        for r in &s.configs {
            if !p.configs.contains_key(&r.source) {
                return Err(invalid(
                    "configs",
                    format!(
                        "config {:?} is not declared under the top-level `configs:`",
                        r.source
                    ),
                ));
            }
        }
        let ps = &s.privileged_settings;
        if ps.network_mode.is_some() && !s.networks.is_empty() {
            return Err(invalid(
                "network_mode",
                "cannot be combined with `networks:`; keep one of them".into(),
            ));
        }
        for (key, mode) in [
            ("network_mode", &ps.network_mode),
            ("pid", &ps.pid),
            ("ipc", &ps.ipc),
        ] {
            if let Some(other) = mode.as_deref().and_then(|m| m.strip_prefix("service:")) {
                if !p.services.contains_key(other) {
                    return Err(invalid(key, format!("service {other:?} is not part of this project (or its profile is not active)")));
                }
            }
        }
    }
    let mut done: Vec<&str> = Vec::new();
    for n in p.services.keys() {
        if let Some(cycle) = visit(p, n, &mut Vec::new(), &mut done) {
            let first = cycle
                .first()
                .and_then(|f| p.services.get(*f))
                .map(|s| s.source_file.display().to_string())
                .unwrap_or_default();
            return Err(ComposeError::Cycle {
                file: first,
                cycle: cycle.join(" -> "),
            });
        }
    }
    Ok(())
}

/// Depth-first search; returns the cycle through `n`, if any.
fn visit<'a>(
    p: &'a Project,
    n: &'a str,
    stack: &mut Vec<&'a str>,
    done: &mut Vec<&'a str>,
) -> Option<Vec<&'a str>> {
    if done.contains(&n) {
        return None;
    }
    if let Some(pos) = stack.iter().position(|s| *s == n) {
        let mut c = stack[pos..].to_vec();
        c.push(n);
        return Some(c);
    }
    stack.push(n);
    if let Some(s) = p.services.get(n) {
        for dep in after(s) {
            if let Some(c) = visit(p, dep, stack, done) {
                return Some(c);
            }
        }
    }
    stack.pop();
    done.push(n);
    None
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;

    use super::*;
    use crate::compose::model::{Condition, Dependency, ServiceNetwork};

    fn project(services: Vec<(&str, Service)>) -> Project {
        Project {
            name: "p".into(),
            working_dir: "/w".into(),
            config_files: Vec::new(),
            services: services
                .into_iter()
                .map(|(n, s)| (n.to_string(), s))
                .collect(),
            networks: [("default".to_string(), Default::default())]
                .into_iter()
                .collect(),
            volumes: IndexMap::new(),
            secrets: IndexMap::new(),
            configs: IndexMap::new(),
            warnings: Vec::new(),
        }
    }

    fn depends(on: &[&str]) -> Service {
        let dep = Dependency {
            condition: Condition::ServiceStarted,
            restart: false,
            required: true,
        };
        Service {
            source_file: "c.yaml".into(),
            depends_on: on.iter().map(|d| (d.to_string(), dep.clone())).collect(),
            ..Service::default()
        }
    }

    #[test]
    fn a_dependency_cycle_is_named() {
        let p = project(vec![
            ("a", depends(&["b"])),
            ("b", depends(&["c"])),
            ("c", depends(&["a"])),
            ("d", depends(&["a"])),
        ]);
        let e = check(&p).unwrap_err().to_string();
        assert!(
            e.contains("c.yaml") && e.contains("a -> b -> c -> a"),
            "{e}"
        );
        assert!(check(&project(vec![("a", depends(&["b"])), ("b", depends(&[]))])).is_ok());
    }

    #[test]
    fn a_network_mode_service_counts_as_a_dependency_and_must_exist() {
        let mut a = depends(&[]);
        a.privileged_settings.network_mode = Some("service:b".into());
        let e = check(&project(vec![("a", a.clone())]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("network_mode") && e.contains("\"b\""), "{e}");
        let e = check(&project(vec![("a", a), ("b", depends(&["a"]))]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cycle"), "{e}");
    }

    #[test]
    fn network_mode_and_networks_exclude_each_other() {
        let mut s = depends(&[]);
        s.privileged_settings.network_mode = Some("none".into());
        s.networks
            .insert("default".into(), ServiceNetwork::default());
        let e = check(&project(vec![("web", s)])).unwrap_err().to_string();
        assert!(e.contains("network_mode") && e.contains("networks"), "{e}");
    }

    #[test]
    fn undeclared_volumes_and_networks_are_named() {
        let mut s = depends(&[]);
        s.volumes.push(Mount::Volume {
            source: "data".into(),
            target: "/d".into(),
            read_only: false,
        });
        let e = check(&project(vec![("web", s)])).unwrap_err().to_string();
        assert!(
            e.contains("\"web\"") && e.contains("\"data\"") && e.contains("top-level `volumes:`"),
            "{e}"
        );
        let mut s = depends(&[]);
        s.networks.insert("back".into(), ServiceNetwork::default());
        let e = check(&project(vec![("web", s)])).unwrap_err().to_string();
        assert!(e.contains("\"back\""), "{e}");
    }
}
