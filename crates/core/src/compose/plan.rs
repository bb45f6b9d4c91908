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
    /// Its `com.docker.compose.container-number` label (the replica, from 1).
    pub number: u32,
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

/// What to do with one replica (container) of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaPlan {
    /// Its number, from 1: the container is `<project>-<service>-<number>`.
    pub number: u32,
    /// What to do with it.
    pub action: Action,
}

/// One service's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// What to do, taken over its replicas: recreate if one is recreated,
    /// else create if one is created, else start if one is started, else keep.
    pub action: Action,
    /// Each replica that is to run, `1..=replicas` (none for `replicas: 0`).
    pub replicas: Vec<ReplicaPlan>,
    /// The config hash its containers must carry.
    pub config_hash: String,
}

impl ServicePlan {
    /// The replicas to create (or recreate).
    pub fn creating(&self) -> impl Iterator<Item = &ReplicaPlan> {
        self.replicas
            .iter()
            .filter(|r| matches!(r.action, Action::Create | Action::Recreate))
    }
}

/// The action of a whole service from its replicas' (see [`ServicePlan::action`]).
fn overall(replicas: &[ReplicaPlan]) -> Action {
    let any = |a: Action| replicas.iter().any(|r| r.action == a);
    [Action::Recreate, Action::Create, Action::Start]
        .into_iter()
        .find(|a| any(*a))
        .unwrap_or(Action::Keep)
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

    /// The containers to remove before anything starts: those of [`Plan::remove`]
    /// and the replicas being recreated.
    pub fn replaced(&self, project: &str) -> Vec<String> {
        let recreated = self.services.iter().flat_map(|(name, s)| {
            s.replicas
                .iter()
                .filter(|r| r.action == Action::Recreate)
                .map(move |r| container_name(project, name, r.number))
        });
        self.remove.iter().cloned().chain(recreated).collect()
    }
}

/// Compose v2's name of a service's container: `<project>-<service>-<number>`.
pub fn container_name(project: &str, service: &str, number: u32) -> String {
    format!("{project}-{service}-{number}")
}

/// `com.docker.compose.config-hash` of a service: sha256 of its canonical
/// JSON (keys sorted; `build`, `depends_on`, `scale` and `source_file` left
/// out, as compose leaves them out: they do not change a container), and of
/// the id of the image it runs when known, so a rebuilt image recreates the container.
pub fn config_hash(svc: &Service, image_id: Option<&str>) -> String {
    let mut value = serde_json::to_value(svc).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        for key in ["build", "depends_on", "scale", "source_file"] {
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
    let mut current: HashMap<(&str, u32), &ActualContainer> = HashMap::new();
    for c in actual {
        // A replica past the scale, a stray name, or a second container with one number goes.
        let wanted = project.services.get(&c.service).is_some_and(|s| {
            (1..=s.replicas()).contains(&c.number)
                && c.name == container_name(&project.name, &c.service, c.number)
        });
        if wanted && !current.contains_key(&(c.service.as_str(), c.number)) {
            current.insert((c.service.as_str(), c.number), c);
        } else {
            remove.push(c.name.clone());
        }
    }
    let mut services: IndexMap<String, ServicePlan> = project
        .services
        .iter()
        .map(|(name, svc)| {
            let config_hash = config_hash(svc, image_ids.get(name).map(String::as_str));
            let replicas: Vec<ReplicaPlan> = (1..=svc.replicas())
                .map(|number| {
                    let action = match current.get(&(name.as_str(), number)) {
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
                    ReplicaPlan { number, action }
                })
                .collect();
            let plan = ServicePlan {
                action: overall(&replicas),
                replicas,
                config_hash,
            };
            (name.clone(), plan)
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
            if !restarts_with_fresh {
                continue;
            }
            for r in &mut sp.replicas {
                if matches!(r.action, Action::Keep | Action::Start) {
                    r.action = Action::Recreate;
                    changed = true;
                }
            }
            sp.action = overall(&sp.replicas);
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
            number: 1,
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
            number: 1,
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

    fn replica(p: &Project, service: &str, n: u32) -> ActualContainer {
        ActualContainer {
            name: format!("p-{service}-{n}"),
            number: n,
            ..actual(p, service, ActualState::Running)
        }
    }

    fn replica_actions(plan: &Plan, service: &str) -> Vec<(u32, Action)> {
        plan.services[service]
            .replicas
            .iter()
            .map(|r| (r.number, r.action))
            .collect()
    }

    #[test]
    fn scaling_up_creates_only_the_new_replicas_and_down_removes_the_highest() {
        let mut p = project(&[("web", &[])]);
        p.services["web"].scale = Some(3);
        let plan = plan(&p, &[replica(&p, "web", 1)]);
        assert_eq!(
            replica_actions(&plan, "web"),
            vec![(1, Action::Keep), (2, Action::Create), (3, Action::Create)]
        );
        assert_eq!(plan.services["web"].action, Action::Create);
        p.services["web"].scale = Some(1);
        let running = [1, 2, 3].map(|n| replica(&p, "web", n));
        let plan = super::plan(&p, &running);
        assert_eq!(replica_actions(&plan, "web"), vec![(1, Action::Keep)]);
        assert_eq!(plan.remove, vec!["p-web-2".to_string(), "p-web-3".into()]);
        p.services["web"].scale = Some(0);
        let plan = super::plan(&p, &running);
        assert!(plan.services["web"].replicas.is_empty());
        assert_eq!(plan.remove.len(), 3, "replicas: 0 runs none");
    }

    #[test]
    fn a_changed_definition_recreates_every_replica_and_the_scale_is_not_in_the_hash() {
        let mut p = project(&[("web", &[])]);
        p.services["web"].scale = Some(2);
        let mut old = [1, 2].map(|n| replica(&p, "web", n));
        old[1].config_hash = "stale".into();
        let plan = plan(&p, &old);
        assert_eq!(
            replica_actions(&plan, "web"),
            vec![(1, Action::Keep), (2, Action::Recreate)]
        );
        assert_eq!(plan.replaced("p"), vec!["p-web-2".to_string()]);
        let one = p.services["web"].clone();
        let mut three = one.clone();
        three.scale = Some(3);
        assert_eq!(config_hash(&one, None), config_hash(&three, None));
    }

    #[test]
    fn a_recreated_dependency_recreates_every_replica_of_a_dependent() {
        let mut p = project(&[("db", &[]), ("web", &["db"])]);
        p.services["web"].scale = Some(2);
        let mut db = actual(&p, "db", ActualState::Running);
        db.config_hash = "stale".into();
        let plan = plan(&p, &[db, replica(&p, "web", 1), replica(&p, "web", 2)]);
        assert_eq!(
            replica_actions(&plan, "web"),
            vec![(1, Action::Recreate), (2, Action::Recreate)]
        );
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
