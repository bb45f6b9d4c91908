//! Planning: what `up` must do to each service, from each service's config
//! hash and the containers that exist. Pure, so it is tested without Docker.

use std::collections::{BTreeSet, HashMap};

use indexmap::IndexMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::compose::model::{Project, Service};

/// Where an existing container is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActualState {
    /// Running.
    Running,
    /// Crash-looping under a restart policy.
    Restarting,
    /// Running, but its health check fails.
    Unhealthy,
    /// Created, exited, paused or dead.
    Stopped,
}

/// A container that exists for the project: the part of Docker's summary a plan needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActualContainer {
    /// Container name (without Docker's leading `/`).
    pub name: String,
    /// Its `com.docker.compose.service` label.
    pub service: String,
    /// Its `com.docker.compose.config-hash` label.
    pub config_hash: String,
    /// Where it is.
    pub state: ActualState,
}

/// What to do with one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// No container: create and start one.
    Create,
    /// The config changed, a dependency it restarts with was recreated, or it
    /// crash-loops: replace it.
    Recreate,
    /// Same config, stopped: start it.
    Start,
    /// Same config, running: leave it.
    Keep,
}

/// One service's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// What to do.
    pub action: Action,
    /// The config hash its container must carry.
    pub config_hash: String,
}

/// The plan for a project.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Per service, in project order.
    pub services: IndexMap<String, ServicePlan>,
    /// Containers to remove: those of services no longer in the project, and
    /// stray extra containers of a service.
    pub remove: Vec<String>,
}

impl Plan {
    /// Whether the plan changes nothing.
    pub fn is_noop(&self) -> bool {
        self.remove.is_empty() && self.services.values().all(|s| s.action == Action::Keep)
    }
}

/// `com.docker.compose.config-hash` of a service: sha256 of its canonical
/// JSON (keys sorted; `build`, `depends_on` and `source_file` left out, as
/// compose leaves them out: they do not change the container), and of the id of
/// the image it runs when known, so a rebuilt image recreates the container.
pub fn config_hash(svc: &Service, image_id: Option<&str>) -> String {
    let mut value = serde_json::to_value(svc).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        for key in ["build", "depends_on", "source_file"] {
            map.remove(key);
        }
    }
    let mut canonical = String::new();
    write_canonical(&value, &mut canonical);
    let mut h = Sha256::new();
    h.update(canonical.as_bytes());
    h.update(b"\n");
    h.update(image_id.unwrap_or_default().as_bytes());
    hex::encode(h.finalize())
}

/// JSON with object keys sorted, whatever map type serde_json was built with.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Plans `up` of `project` over the containers that exist, hashing services
/// without image ids.
pub fn plan(project: &Project, actual: &[ActualContainer]) -> Plan {
    plan_with(project, actual, &HashMap::new(), false)
}

/// Plans `up`: `image_ids` maps services to the id of the image they run (part
/// of the hash); with `force`, every service is recreated.
pub fn plan_with(
    project: &Project,
    actual: &[ActualContainer],
    image_ids: &HashMap<String, String>,
    force: bool,
) -> Plan {
    let mut remove = Vec::new();
    let mut current: HashMap<&str, &ActualContainer> = HashMap::new();
    for c in actual {
        let wanted_name = format!("{}-{}-1", project.name, c.service);
        if !project.services.contains_key(&c.service) || c.name != wanted_name {
            remove.push(c.name.clone());
        } else {
            current.insert(c.service.as_str(), c);
        }
    }
    let mut services: IndexMap<String, ServicePlan> = project
        .services
        .iter()
        .map(|(name, svc)| {
            let config_hash = config_hash(svc, image_ids.get(name).map(String::as_str));
            let action = match current.get(name.as_str()) {
                None => Action::Create,
                Some(c)
                    if force
                        || c.config_hash != config_hash
                        // Both are what `start` of a degraded preview must
                        // mend: kept, they would fail its health wait again.
                        || matches!(c.state, ActualState::Restarting | ActualState::Unhealthy) =>
                {
                    Action::Recreate
                }
                Some(c) if c.state == ActualState::Stopped => Action::Start,
                Some(_) => Action::Keep,
            };
            (
                name.clone(),
                ServicePlan {
                    action,
                    config_hash,
                },
            )
        })
        .collect();
    // A (re)created dependency restarts the services that asked for it, transitively.
    loop {
        let fresh: BTreeSet<String> = services
            .iter()
            .filter(|(_, s)| matches!(s.action, Action::Recreate | Action::Create))
            .map(|(n, _)| n.clone())
            .collect();
        let mut changed = false;
        for (name, svc) in &project.services {
            let Some(sp) = services.get_mut(name) else {
                continue;
            };
            let restarts_with_fresh = svc
                .depends_on
                .iter()
                .any(|(dep, d)| d.restart && fresh.contains(dep));
            if matches!(sp.action, Action::Keep | Action::Start) && restarts_with_fresh {
                sp.action = Action::Recreate;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    Plan { services, remove }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::compose::model::{Condition, Dependency};

    fn project(services: &[(&str, &[&str])]) -> Project {
        Project {
            name: "p".into(),
            working_dir: PathBuf::from("/w"),
            config_files: vec![PathBuf::from("/w/compose.yaml")],
            services: services
                .iter()
                .map(|(name, restart_with)| {
                    let svc = Service {
                        image: Some(format!("img-{name}")),
                        depends_on: restart_with
                            .iter()
                            .map(|d| {
                                let dep = Dependency {
                                    condition: Condition::ServiceStarted,
                                    restart: true,
                                    required: true,
                                };
                                (d.to_string(), dep)
                            })
                            .collect(),
                        ..Service::default()
                    };
                    (name.to_string(), svc)
                })
                .collect(),
            networks: IndexMap::new(),
            volumes: IndexMap::new(),
            secrets: IndexMap::new(),
            configs: IndexMap::new(),
            warnings: vec![],
        }
    }

    fn actual(p: &Project, service: &str, state: ActualState) -> ActualContainer {
        let hash = p
            .services
            .get(service)
            .map(|s| config_hash(s, None))
            .unwrap_or_else(|| "old".into());
        ActualContainer {
            name: format!("p-{service}-1"),
            service: service.into(),
            config_hash: hash,
            state,
        }
    }

    fn actions(plan: &Plan) -> Vec<(&str, Action)> {
        plan.services
            .iter()
            .map(|(n, s)| (n.as_str(), s.action))
            .collect()
    }

    #[test]
    fn a_fresh_project_creates_every_service() {
        let p = project(&[("db", &[]), ("web", &[])]);
        let plan = plan(&p, &[]);
        assert_eq!(
            actions(&plan),
            vec![("db", Action::Create), ("web", Action::Create)]
        );
    }

    #[test]
    fn an_unchanged_running_project_is_left_alone() {
        let p = project(&[("db", &[]), ("web", &[])]);
        let plan = plan(
            &p,
            &[
                actual(&p, "db", ActualState::Running),
                actual(&p, "web", ActualState::Running),
            ],
        );
        assert!(plan.is_noop(), "{plan:?}");
    }

    #[test]
    fn a_changed_service_is_recreated_a_stopped_one_started_and_a_removed_one_removed() {
        let p = project(&[("db", &[]), ("web", &[])]);
        let mut web = actual(&p, "web", ActualState::Running);
        web.config_hash = "stale".into();
        let gone = ActualContainer {
            name: "p-gone-1".into(),
            service: "gone".into(),
            config_hash: "x".into(),
            state: ActualState::Running,
        };
        let plan = plan(&p, &[actual(&p, "db", ActualState::Stopped), web, gone]);
        assert_eq!(
            actions(&plan),
            vec![("db", Action::Start), ("web", Action::Recreate)]
        );
        assert_eq!(plan.remove, vec!["p-gone-1".to_string()]);
    }

    #[test]
    fn dependents_that_restart_with_a_recreated_dependency_are_recreated_transitively() {
        let p = project(&[
            ("db", &[]),
            ("api", &["db"]),
            ("web", &["api"]),
            ("other", &[]),
        ]);
        let mut db = actual(&p, "db", ActualState::Running);
        db.config_hash = "stale".into();
        let rest = ["api", "web", "other"].map(|s| actual(&p, s, ActualState::Running));
        let plan = plan(&p, &[vec![db], rest.to_vec()].concat());
        assert_eq!(plan.services["api"].action, Action::Recreate);
        assert_eq!(
            plan.services["web"].action,
            Action::Recreate,
            "web restarts with api, which restarts with db"
        );
        assert_eq!(plan.services["other"].action, Action::Keep);
    }

    #[test]
    fn force_recreates_everything_and_a_crash_looping_or_unhealthy_container_is_replaced() {
        let p = project(&[("web", &[])]);
        let running = [actual(&p, "web", ActualState::Running)];
        assert_eq!(
            plan_with(&p, &running, &HashMap::new(), true).services["web"].action,
            Action::Recreate
        );
        let looping = [actual(&p, "web", ActualState::Restarting)];
        assert_eq!(plan(&p, &looping).services["web"].action, Action::Recreate);
        let sick = [actual(&p, "web", ActualState::Unhealthy)];
        assert_eq!(plan(&p, &sick).services["web"].action, Action::Recreate);
    }

    #[test]
    fn a_stray_container_of_a_known_service_is_removed() {
        let p = project(&[("web", &[])]);
        let mut stray = actual(&p, "web", ActualState::Running);
        stray.name = "p_web_1".into();
        let plan = plan(&p, &[actual(&p, "web", ActualState::Running), stray]);
        assert_eq!(plan.remove, vec!["p_web_1".to_string()]);
        assert_eq!(plan.services["web"].action, Action::Keep);
    }

    #[test]
    fn the_hash_follows_the_definition_and_the_image_but_not_the_order_of_keys_or_the_build() {
        let mut a = Service {
            image: Some("x".into()),
            ..Service::default()
        };
        a.environment.insert("A".into(), Some("1".into()));
        a.environment.insert("B".into(), Some("2".into()));
        let mut b = a.clone();
        b.environment.clear();
        b.environment.insert("B".into(), Some("2".into()));
        b.environment.insert("A".into(), Some("1".into()));
        b.build = Some(Default::default());
        assert_eq!(
            config_hash(&a, Some("sha256:1")),
            config_hash(&b, Some("sha256:1"))
        );
        assert_ne!(
            config_hash(&a, Some("sha256:1")),
            config_hash(&a, Some("sha256:2")),
            "a new image recreates"
        );
        b.environment.insert("A".into(), Some("changed".into()));
        assert_ne!(config_hash(&a, None), config_hash(&b, None));
    }
}
