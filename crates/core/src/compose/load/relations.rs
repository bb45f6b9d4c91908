//! What `links` and `volumes_from` imply across services, as compose-go's
//! normalisation does: each target must be a service of the project, and
//! becomes an implicit `depends_on` (`service_started`; a link restarts with
//! its target, `volumes_from` does not) unless the service already declares
//! one. The dependency makes the target start first, so a link's name
//! resolves and the volumes exist when the service's container is created.

use super::profiles::Disabled;
use crate::compose::error::ComposeError;
use crate::compose::model::{Condition, Dependency, Project};

/// Checks every link and `volumes_from` target and adds the implicit dependencies.
///
/// # Errors
/// [`ComposeError::Invalid`] naming the service, the key and the missing
/// target (and the profiles that would enable it, when one does).
pub fn apply(p: &mut Project, disabled: &Disabled) -> Result<(), ComposeError> {
    let names: Vec<String> = p.services.keys().cloned().collect();
    let replicas: Vec<u32> = p.services.values().map(|s| s.replicas()).collect();
    let count = |svc: &str| names.iter().position(|n| n == svc).map(|i| replicas[i]);
    for (name, svc) in p.services.iter_mut() {
        let file = svc.source_file.display().to_string();
        let invalid = |key: &str, message: String| ComposeError::Invalid {
            file: file.clone(),
            where_: format!("service {name:?}"),
            key: key.into(),
            message,
        };
        let missing = |key: &str, target: &str| {
            let why = match disabled.get(target) {
                Some(profiles) => format!(
                    "service {target:?} is only enabled by the profile(s) {}; activate one (`--profile`, or `profiles` in branchyard.toml)",
                    profiles.join(", ")
                ),
                None => format!("service {target:?} is not defined in any compose file"),
            };
            invalid(key, why)
        };
        let mut implied = Vec::new();
        for l in &svc.links {
            if l.service == *name {
                return Err(invalid(
                    "links",
                    format!("{:?} links the service to itself", l.service),
                ));
            }
            if count(&l.service).is_none() {
                return Err(missing("links", &l.service));
            }
            implied.push((l.service.clone(), true));
        }
        for v in &svc.volumes_from {
            if v.service == *name {
                return Err(invalid(
                    "volumes_from",
                    format!("{:?} takes the volumes of the service itself", v.service),
                ));
            }
            match count(&v.service) {
                None => return Err(missing("volumes_from", &v.service)),
                Some(0) => {
                    return Err(invalid(
                        "volumes_from",
                        format!(
                            "service {:?} runs no container (replicas: 0), so it has no volumes to share",
                            v.service
                        ),
                    ))
                }
                Some(_) => implied.push((v.service.clone(), false)),
            }
        }
        for (target, restart) in implied {
            svc.depends_on.entry(target).or_insert(Dependency {
                condition: Condition::ServiceStarted,
                restart,
                required: true,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::{Link, Service, VolumesFrom};

    fn project(services: Vec<(&str, Service)>) -> Project {
        let mut p = Project::empty("p", "/w");
        p.services = services
            .into_iter()
            .map(|(n, s)| (n.to_string(), s))
            .collect();
        p
    }

    fn linking(service: &str, alias: &str) -> Service {
        Service {
            source_file: "c.yaml".into(),
            links: vec![Link {
                service: service.into(),
                alias: alias.into(),
            }],
            ..Service::default()
        }
    }

    #[test]
    fn a_link_and_volumes_from_become_implicit_dependencies() {
        let mut web = linking("db", "database");
        web.volumes_from.push(VolumesFrom {
            service: "data".into(),
            read_only: true,
        });
        let mut p = project(vec![
            ("web", web),
            ("db", Service::default()),
            ("data", Service::default()),
        ]);
        apply(&mut p, &Disabled::new()).unwrap();
        let deps = &p.services["web"].depends_on;
        assert_eq!(
            deps["db"],
            Dependency {
                condition: Condition::ServiceStarted,
                restart: true,
                required: true
            },
            "V5: a link restarts with its target"
        );
        assert_eq!(
            deps["data"],
            Dependency {
                condition: Condition::ServiceStarted,
                restart: false,
                required: true
            },
            "V5: volumes_from does not"
        );
    }

    #[test]
    fn a_declared_dependency_is_kept_as_declared() {
        let mut web = linking("db", "db");
        web.depends_on.insert(
            "db".into(),
            Dependency {
                condition: Condition::ServiceHealthy,
                restart: false,
                required: true,
            },
        );
        let mut p = project(vec![("web", web), ("db", Service::default())]);
        apply(&mut p, &Disabled::new()).unwrap();
        assert_eq!(
            p.services["web"].depends_on["db"].condition,
            Condition::ServiceHealthy
        );
    }

    #[test]
    fn a_missing_or_disabled_target_is_named() {
        let mut p = project(vec![("web", linking("db", "database"))]);
        let e = apply(&mut p, &Disabled::new()).unwrap_err().to_string();
        assert!(
            e.contains("c.yaml")
                && e.contains("\"web\"")
                && e.contains("links")
                && e.contains("\"db\" is not defined"),
            "{e}"
        );
        let disabled: Disabled = [("db".to_string(), vec!["debug".to_string()])]
            .into_iter()
            .collect();
        let e = apply(&mut p, &disabled).unwrap_err().to_string();
        assert!(e.contains("profile(s) debug"), "{e}");
        let web = Service {
            source_file: "c.yaml".into(),
            volumes_from: vec![VolumesFrom {
                service: "nope".into(),
                read_only: false,
            }],
            ..Service::default()
        };
        let e = apply(&mut project(vec![("web", web)]), &Disabled::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("volumes_from") && e.contains("\"nope\""), "{e}");
    }

    #[test]
    fn volumes_from_a_service_without_containers_is_refused() {
        let web = Service {
            volumes_from: vec![VolumesFrom {
                service: "data".into(),
                read_only: false,
            }],
            ..Service::default()
        };
        let data = Service {
            scale: Some(0),
            ..Service::default()
        };
        let e = apply(
            &mut project(vec![("web", web), ("data", data)]),
            &Disabled::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("replicas: 0"), "{e}");
    }
}
