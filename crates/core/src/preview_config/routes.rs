//! Which services the gateway routes, under which host names, and the extra
//! environment whose placeholders (`{url}`, `{branch}`, …) name them.
//!
//! Without `[[route]]`s, services declaring `ports` or `expose` are routed in
//! file order: the first at `<branch>.<repo>.localhost`, the others at
//! `<service>.<branch>.<repo>.localhost`.

use indexmap::IndexMap;

use super::file::RouteToml;
use super::{ResolveInput, RouteTarget};
use crate::compose::model::Project;
use crate::compose::ComposeError;

/// `[sub.]<branch_slug>.<repo_slug>.localhost`.
fn host(input: &ResolveInput, sub: &str) -> String {
    if sub.is_empty() {
        format!("{}.{}.localhost", input.branch_slug, input.repo_slug)
    } else {
        format!("{sub}.{}.{}.localhost", input.branch_slug, input.repo_slug)
    }
}

/// A DNS label: lowercase letters, digits and inner hyphens, at most 63.
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The routes of `project`: `declared` when any, else automatic.
///
/// # Errors
/// A `[[route]]` naming a missing service, a service without a port, a bad
/// subdomain, or two routes on one host; `toml_file` is named.
pub fn routes(
    project: &Project,
    declared: &[RouteToml],
    input: &ResolveInput,
    toml_file: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<RouteTarget>, ComposeError> {
    let invalid = |key: &str, message: String| ComposeError::Invalid {
        file: toml_file.to_string(),
        where_: "[[route]]".into(),
        key: key.into(),
        message,
    };
    let mut out: Vec<RouteTarget> = Vec::new();
    if declared.is_empty() {
        for (name, svc) in &project.services {
            let Some(port) = svc.routable_ports().first().copied() else {
                continue;
            };
            let sub = if out.is_empty() {
                String::new()
            } else {
                crate::git::slugify(name)
            };
            let h = host(input, &sub);
            if out.iter().any(|r| r.host == h) {
                warnings.push(format!("service {name:?} is not routed: its host name {h} is taken; add a [[route]] with a subdomain in branchyard.toml"));
                continue;
            }
            out.push(RouteTarget {
                service: name.clone(),
                port,
                url: input.base.url(&h),
                host: h,
            });
        }
        if out.is_empty() {
            warnings.push(
                "no service declares ports or expose: nothing is routed through the gateway"
                    .to_string(),
            );
        }
        return Ok(out);
    }
    for r in declared {
        let svc = project.services.get(&r.service).ok_or_else(|| {
            invalid(
                "service",
                format!(
                    "there is no service {:?} in the compose project (is its profile active?)",
                    r.service
                ),
            )
        })?;
        let port = r
            .port
            .or_else(|| svc.routable_ports().first().copied())
            .ok_or_else(|| {
                invalid(
                    "port",
                    format!(
                        "service {:?} declares no ports or expose: give `port =`",
                        r.service
                    ),
                )
            })?;
        if !r.subdomain.is_empty() && !is_label(&r.subdomain) {
            return Err(invalid(
                "subdomain",
                format!(
                    "{:?} is not a DNS label: use lowercase letters, digits and hyphens",
                    r.subdomain
                ),
            ));
        }
        let h = host(input, &r.subdomain);
        if let Some(other) = out.iter().find(|o| o.host == h) {
            return Err(invalid("subdomain", format!("services {:?} and {:?} would both answer at {h}: give one a different subdomain", other.service, r.service)));
        }
        out.push(RouteTarget {
            service: r.service.clone(),
            port,
            url: input.base.url(&h),
            host: h,
        });
    }
    Ok(out)
}

/// `value` with `{branch}`, `{branch_slug}`, `{url}`, `{sha}` and `{repo}`
/// replaced; other braces are left as written.
pub fn placeholders(value: &str, input: &ResolveInput, url: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let known = after.find('}').and_then(|close| {
            let v = match &after[..close] {
                "branch" => input.branch.as_str(),
                "branch_slug" => input.branch_slug.as_str(),
                "url" => url,
                "sha" => input.sha.as_str(),
                "repo" => input.repo_slug.as_str(),
                _ => return None,
            };
            Some((v, close))
        });
        match known {
            Some((v, close)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Adds `env` (placeholders replaced) to every service's environment.
pub fn inject_env(
    project: &mut Project,
    env: &IndexMap<String, String>,
    input: &ResolveInput,
    url: &str,
) {
    for (k, v) in env {
        let value = placeholders(v, input, url);
        for svc in project.services.values_mut() {
            svc.environment.insert(k.clone(), Some(value.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::input;
    use super::*;
    use crate::compose::model::Service;

    fn project(services: &[(&str, &[u16])]) -> Project {
        Project {
            name: "p".into(),
            working_dir: "/w".into(),
            config_files: Vec::new(),
            services: services
                .iter()
                .map(|(n, ports)| {
                    (
                        n.to_string(),
                        Service {
                            expose: ports.to_vec(),
                            ..Service::default()
                        },
                    )
                })
                .collect(),
            networks: IndexMap::new(),
            volumes: IndexMap::new(),
            secrets: IndexMap::new(),
            configs: IndexMap::new(),
            warnings: Vec::new(),
        }
    }

    fn route(service: &str, port: Option<u16>, subdomain: &str) -> RouteToml {
        RouteToml {
            service: service.into(),
            port,
            subdomain: subdomain.into(),
        }
    }

    #[test]
    fn automatic_routes_follow_file_order_with_service_subdomains() {
        let d = std::path::Path::new("/w");
        let mut w = Vec::new();
        let r = routes(
            &project(&[
                ("worker", &[]),
                ("web", &[8080, 9090]),
                ("Admin_UI", &[3000]),
            ]),
            &[],
            &input(d),
            "t",
            &mut w,
        )
        .unwrap();
        let got: Vec<_> = r
            .iter()
            .map(|r| (r.service.as_str(), r.host.as_str(), r.port))
            .collect();
        assert_eq!(
            got,
            vec![
                ("web", "feature-x.shop.localhost", 8080),
                ("Admin_UI", "admin-ui.feature-x.shop.localhost", 3000)
            ]
        );
        assert_eq!(r[0].url, "http://feature-x.shop.localhost:8080");
        assert!(w.is_empty());
        let r = routes(&project(&[("worker", &[])]), &[], &input(d), "t", &mut w).unwrap();
        assert!(r.is_empty() && w[0].contains("nothing is routed"), "{w:?}");
    }

    #[test]
    fn declared_routes_are_checked() {
        let d = std::path::Path::new("/w");
        let p = project(&[("web", &[80]), ("worker", &[])]);
        let r = routes(
            &p,
            &[route("worker", Some(9000), "jobs"), route("web", None, "")],
            &input(d),
            "t",
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(
            (r[0].host.as_str(), r[0].port),
            ("jobs.feature-x.shop.localhost", 9000)
        );
        assert_eq!(
            (r[1].host.as_str(), r[1].port),
            ("feature-x.shop.localhost", 80)
        );
        for (routes_, needle) in [
            (vec![route("nope", None, "")], "no service \"nope\""),
            (vec![route("worker", None, "")], "port ="),
            (vec![route("web", None, "Bad_Name")], "DNS label"),
            (
                vec![route("web", None, "a"), route("worker", Some(1), "a")],
                "both answer",
            ),
        ] {
            let e = routes(
                &p,
                &routes_,
                &input(d),
                "/w/branchyard.toml",
                &mut Vec::new(),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("branchyard.toml") && e.contains(needle), "{e}");
        }
    }

    #[test]
    fn placeholders_are_replaced_in_one_pass_and_others_left_alone() {
        let i = input(std::path::Path::new("/w"));
        assert_eq!(
            placeholders("{url}/{branch}/{branch_slug}@{sha} {repo}", &i, "http://u"),
            "http://u/feature/x/feature-x@abc shop"
        );
        assert_eq!(
            placeholders("{\"json\": {other}} {", &i, "u"),
            "{\"json\": {other}} {"
        );
    }
}
