//! Planning: what `up` must do to each service, from the wanted config hashes
//! and the containers that exist. Pure, so it is tested without Docker.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;

/// A container that exists for the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// Container name.
    pub name: String,
    /// Its `com.docker.compose.service` label.
    pub service: String,
    /// Its `com.docker.compose.config-hash` label.
    pub hash: String,
    /// Whether it runs.
    pub running: bool,
}

/// What to do with one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// No container: create and start one.
    Create,
    /// The config changed (or a dependency was recreated): replace it.
    Recreate,
    /// Same config, stopped: start it.
    Start,
    /// Same config, running: leave it.
    Keep,
}

/// The plan for a project.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Per service, in project order.
    pub services: IndexMap<String, Action>,
    /// Containers of services no longer in the project.
    pub remove: Vec<String>,
}

/// Plans `up`: `wanted` maps each service to its config hash and the services
/// it must restart with (`depends_on.<dep>.restart: true`). With `force`,
/// everything is recreated.
pub fn plan(wanted: &IndexMap<String, (String, Vec<String>)>, existing: &[Existing], force: bool) -> Plan {
    let by_service: BTreeMap<&str, &Existing> = existing.iter().map(|e| (e.service.as_str(), e)).collect();
    let mut services: IndexMap<String, Action> = wanted
        .iter()
        .map(|(name, (hash, _))| {
            let action = match by_service.get(name.as_str()) {
                None => Action::Create,
                Some(e) if force || &e.hash != hash => Action::Recreate,
                Some(e) if !e.running => Action::Start,
                Some(_) => Action::Keep,
            };
            (name.clone(), action)
        })
        .collect();
    // A recreated dependency restarts the services that asked for it, transitively.
    loop {
        let recreated: BTreeSet<String> = services
            .iter()
            .filter(|(_, a)| matches!(a, Action::Recreate | Action::Create))
            .map(|(n, _)| n.clone())
            .collect();
        let mut changed = false;
        for (name, (_, restart_with)) in wanted {
            let a = services.get(name).copied();
            if matches!(a, Some(Action::Keep | Action::Start)) && restart_with.iter().any(|d| recreated.contains(d)) {
                services.insert(name.clone(), Action::Recreate);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let remove = existing
        .iter()
        .filter(|e| !wanted.contains_key(&e.service))
        .map(|e| e.name.clone())
        .collect();
    Plan { services, remove }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(items: &[(&str, &str, &[&str])]) -> IndexMap<String, (String, Vec<String>)> {
        items
            .iter()
            .map(|(n, h, r)| (n.to_string(), (h.to_string(), r.iter().map(|s| s.to_string()).collect())))
            .collect()
    }

    fn existing(service: &str, hash: &str, running: bool) -> Existing {
        Existing { name: format!("p-{service}-1"), service: service.into(), hash: hash.into(), running }
    }

    #[test]
    fn an_unchanged_project_is_left_alone() {
        let p = plan(&wanted(&[("web", "h1", &[]), ("db", "h2", &[])]), &[existing("web", "h1", true), existing("db", "h2", true)], false);
        assert!(p.services.values().all(|a| *a == Action::Keep), "{p:?}");
        assert!(p.remove.is_empty());
    }

    #[test]
    fn a_changed_service_is_recreated_and_a_removed_one_removed() {
        let p = plan(
            &wanted(&[("web", "new", &[]), ("db", "h2", &[])]),
            &[existing("web", "old", true), existing("db", "h2", false), existing("gone", "x", true)],
            false,
        );
        assert_eq!(p.services["web"], Action::Recreate);
        assert_eq!(p.services["db"], Action::Start);
        assert_eq!(p.remove, vec!["p-gone-1".to_string()]);
    }

    #[test]
    fn dependents_that_asked_to_restart_are_recreated_with_their_dependency() {
        let p = plan(
            &wanted(&[("db", "new", &[]), ("api", "a", &["db"]), ("web", "w", &["api"]), ("other", "o", &[])]),
            &[existing("db", "old", true), existing("api", "a", true), existing("web", "w", true), existing("other", "o", true)],
            false,
        );
        assert_eq!(p.services["api"], Action::Recreate);
        assert_eq!(p.services["web"], Action::Recreate, "transitively");
        assert_eq!(p.services["other"], Action::Keep);
    }

    #[test]
    fn force_recreates_everything() {
        let p = plan(&wanted(&[("web", "h", &[])]), &[existing("web", "h", true)], true);
        assert_eq!(p.services["web"], Action::Recreate);
    }
}
