//! Profiles: a service listing `profiles:` runs only when one of them is
//! active (`*` activates all); a service without profiles always runs. An
//! enabled service may not require one that profiles left out.

use indexmap::IndexMap;
use serde_norway::{Mapping, Value};

use super::merge::scalar;
use crate::compose::error::ComposeError;
use crate::compose::model::Project;

/// Services left out, with the profiles that would enable each.
pub type Disabled = IndexMap<String, Vec<String>>;

/// Splits `services` into the names to load and the ones profiles leave out.
pub fn split(services: &Mapping, active: &[String]) -> (Vec<String>, Disabled) {
    let mut enabled = Vec::new();
    let mut disabled = Disabled::new();
    for (name, svc) in services {
        let name = scalar(name).unwrap_or_default();
        let listed: Vec<String> = match svc.get("profiles") {
            Some(Value::Sequence(s)) => s.iter().filter_map(scalar).collect(),
            Some(other) => scalar(other).into_iter().collect(),
            None => Vec::new(),
        };
        if listed.is_empty() || active.iter().any(|a| a == "*" || listed.contains(a)) {
            enabled.push(name);
        } else {
            disabled.insert(name, listed);
        }
    }
    (enabled, disabled)
}

/// Checks every `depends_on` target is loaded: a required dependency on a
/// disabled or unknown service is an error naming both; an optional one
/// (`required: false`) is dropped with a warning, as compose does.
///
/// # Errors
/// [`ComposeError::DisabledDependency`] or [`ComposeError::Invalid`].
pub fn check_dependencies(
    p: &mut Project,
    disabled: &Disabled,
    warnings: &mut Vec<String>,
) -> Result<(), ComposeError> {
    let names: Vec<String> = p.services.keys().cloned().collect();
    for (name, svc) in p.services.iter_mut() {
        let file = svc.source_file.display().to_string();
        let mut missing = Vec::new();
        for (dep, d) in &svc.depends_on {
            if names.contains(dep) {
                continue;
            }
            if d.required {
                return Err(match disabled.get(dep) {
                    Some(profiles) => ComposeError::DisabledDependency {
                        file,
                        service: name.clone(),
                        dependency: dep.clone(),
                        profiles: profiles.join(", "),
                    },
                    None => ComposeError::Invalid {
                        file,
                        where_: format!("service {name:?}"),
                        key: "depends_on".into(),
                        message: format!("service {dep:?} is not defined in any compose file"),
                    },
                });
            }
            warnings.push(format!("{file}: service {name:?}: optional dependency {dep:?} is not running in this preview; ignored"));
            missing.push(dep.clone());
        }
        for dep in missing {
            svc.depends_on.shift_remove(&dep);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::{Condition, Dependency, Service};

    fn services() -> Mapping {
        serde_norway::from_str("web: {image: x}\ndebug: {image: y, profiles: [debug, tools]}\nadmin: {image: z, profiles: admin}\n").unwrap()
    }

    #[test]
    fn services_with_profiles_run_only_when_one_is_active() {
        let (on, off) = split(&services(), &[]);
        assert_eq!(on, vec!["web"]);
        assert_eq!(off["debug"], vec!["debug".to_string(), "tools".into()]);
        let (on, _) = split(&services(), &["tools".into()]);
        assert_eq!(on, vec!["web", "debug"]);
        let (on, off) = split(&services(), &["*".into()]);
        assert_eq!(on.len(), 3);
        assert!(off.is_empty());
    }

    fn project(deps: &[(&str, bool)]) -> Project {
        let web = Service {
            source_file: "compose.yaml".into(),
            depends_on: deps
                .iter()
                .map(|(d, required)| {
                    (
                        d.to_string(),
                        Dependency {
                            condition: Condition::ServiceStarted,
                            restart: false,
                            required: *required,
                        },
                    )
                })
                .collect(),
            ..Service::default()
        };
        Project {
            name: "p".into(),
            working_dir: "/w".into(),
            config_files: Vec::new(),
            services: [("web".to_string(), web)].into_iter().collect(),
            networks: IndexMap::new(),
            volumes: IndexMap::new(),
            secrets: IndexMap::new(),
            configs: IndexMap::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_required_dependency_left_out_by_profiles_names_both_services_and_the_profile() {
        let (_, off) = split(&services(), &[]);
        let e = check_dependencies(&mut project(&[("debug", true)]), &off, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"web\"")
                && e.contains("\"debug\"")
                && e.contains("debug, tools")
                && e.contains("--profile"),
            "{e}"
        );
        let e = check_dependencies(&mut project(&[("ghost", true)]), &off, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"ghost\"") && e.contains("not defined"), "{e}");
    }

    #[test]
    fn an_optional_missing_dependency_is_dropped_with_a_warning() {
        let (_, off) = split(&services(), &[]);
        let mut p = project(&[("debug", false)]);
        let mut w = Vec::new();
        check_dependencies(&mut p, &off, &mut w).unwrap();
        assert!(p.services["web"].depends_on.is_empty());
        assert!(w[0].contains("debug"), "{w:?}");
    }
}
