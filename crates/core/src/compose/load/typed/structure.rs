//! The service keys that tie a service to others or to its own life:
//! `links`, `external_links`, `volumes_from`, `scale` (and `deploy.replicas`
//! through [`replicas`]), `post_start` and `pre_stop`. What they imply across
//! services (dependencies, targets that must exist) is settled once every
//! service is typed, in [`crate::compose::load::relations`].

use serde_norway::Value;

use super::Ctx;
use crate::compose::error::ComposeError;
use crate::compose::load::merge::{list_or_map, scalar};
use crate::compose::model::{Hook, Link, VolumesFrom};

/// The keys of one hook, as the compose specification lists them.
const HOOK_KEYS: &[&str] = &[
    "command",
    "user",
    "privileged",
    "working_dir",
    "environment",
];

/// Why an `external_links`/`volumes_from: container:` entry is refused.
const OUTSIDE: &str = "a preview is isolated: it may reach only its own services, and a container outside it may be another preview's or anything else on this machine";

/// `links:`: `service` or `service:alias` entries.
pub fn links(ctx: &Ctx<'_>, v: &Value) -> Result<Vec<Link>, ComposeError> {
    ctx.strings("links", v)?
        .into_iter()
        .map(|entry| {
            let (service, alias) = match entry.split_once(':') {
                Some((s, a)) => (s.to_string(), a.to_string()),
                None => (entry.clone(), entry.clone()),
            };
            if service.is_empty() || alias.is_empty() || alias.contains(':') {
                return Err(ctx.invalid(
                    "links",
                    format!("{entry:?} is not SERVICE or SERVICE:ALIAS"),
                ));
            }
            Ok(Link { service, alias })
        })
        .collect()
}

/// `external_links:`: refused, whatever it names.
pub fn external_links(ctx: &Ctx<'_>, v: &Value) -> Result<(), ComposeError> {
    let names = ctx.strings("external_links", v)?;
    if names.is_empty() {
        return Ok(());
    }
    Err(ctx.invalid(
        "external_links",
        format!(
            "{} would link containers outside this preview; {OUTSIDE}. Make them services of this compose project, or reach them by address",
            names.join(", ")
        ),
    ))
}

/// `volumes_from:`: `service[:ro|:rw]`; `container:name` is refused.
pub fn volumes_from(ctx: &Ctx<'_>, v: &Value) -> Result<Vec<VolumesFrom>, ComposeError> {
    ctx.strings("volumes_from", v)?
        .into_iter()
        .map(|entry| {
            if let Some(rest) = entry.strip_prefix("container:") {
                let name = rest.split(':').next().unwrap_or_default();
                return Err(ctx.invalid(
                    "volumes_from",
                    format!(
                        "{entry:?} mounts the volumes of container {name:?}, outside this preview; {OUTSIDE}. Name a service of this project instead"
                    ),
                ));
            }
            let (service, mode) = match entry.rsplit_once(':') {
                Some((s, m @ ("ro" | "rw"))) => (s.to_string(), m),
                Some(_) => {
                    return Err(ctx.invalid(
                        "volumes_from",
                        format!("{entry:?} is not SERVICE, SERVICE:ro or SERVICE:rw"),
                    ))
                }
                None => (entry.clone(), "rw"),
            };
            if service.is_empty() {
                return Err(ctx.invalid("volumes_from", format!("{entry:?} names no service")));
            }
            Ok(VolumesFrom {
                service,
                read_only: mode == "ro",
            })
        })
        .collect()
}

/// `scale:` or `deploy.replicas` (`key` says which): a whole number, 0 or more.
pub fn replicas(ctx: &Ctx<'_>, key: &str, v: &Value) -> Result<u32, ComposeError> {
    let n = ctx.int(key, v)?;
    u32::try_from(n).map_err(|_| {
        ctx.invalid(
            key,
            format!("{n} is not a number of containers (0 or more)"),
        )
    })
}

/// The service's replica count from `scale` and `deploy.replicas` (equal
/// when both are set, as compose requires). More than one with a fixed
/// `container_name` is refused, as compose refuses it: Docker names are unique.
pub fn scale(
    ctx: &Ctx<'_>,
    scale: Option<u32>,
    deploy_replicas: Option<u32>,
    container_name: bool,
) -> Result<Option<u32>, ComposeError> {
    let n = match (scale, deploy_replicas) {
        (Some(a), Some(b)) if a != b => {
            return Err(ctx.invalid(
                "scale",
                format!("scale: {a} and deploy.replicas: {b} disagree; keep one of them"),
            ))
        }
        (a, b) => a.or(b),
    };
    if container_name && n.is_some_and(|n| n > 1) {
        return Err(ctx.invalid(
            "container_name",
            format!(
                "a fixed container name cannot be given to {} replicas (Docker names are unique); remove container_name (previews name containers <project>-<service>-<n>)",
                n.unwrap_or_default()
            ),
        ));
    }
    Ok(n)
}

/// `post_start:`/`pre_stop:` (`key`): a list of hooks.
pub fn hooks(ctx: &Ctx<'_>, key: &str, v: &Value) -> Result<Vec<Hook>, ComposeError> {
    let Value::Sequence(items) = v else {
        return Err(ctx.invalid(key, "expected a list of hooks ({command, …})"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("{key}[{i}]");
            let m = ctx.mapping(&at, item)?;
            ctx.only(&at, m, HOOK_KEYS)?;
            let get = |k: &str| m.get(k).filter(|v| !v.is_null());
            let command = match get("command") {
                Some(c) => ctx.command(&format!("{at}.command"), c)?,
                None => return Err(ctx.invalid(&at, "a hook needs `command:`")),
            };
            if command.is_empty() {
                return Err(ctx.invalid(&format!("{at}.command"), "the command is empty"));
            }
            let environment = match get("environment") {
                None => Default::default(),
                Some(e @ (Value::Mapping(_) | Value::Sequence(_))) => list_or_map(e, '=')
                    .iter()
                    .map(|(k, v)| {
                        let name = scalar(k).unwrap_or_default();
                        // A bare name takes its value where the service's would.
                        let value = scalar(v).or_else(|| ctx.env.get(&name).cloned());
                        (name, value)
                    })
                    .collect(),
                Some(_) => {
                    return Err(ctx.invalid(
                        &format!("{at}.environment"),
                        "expected a list of KEY=VALUE or a mapping",
                    ))
                }
            };
            Ok(Hook {
                command,
                user: get("user")
                    .map(|u| ctx.string(&format!("{at}.user"), u))
                    .transpose()?,
                privileged: get("privileged")
                    .map(|p| ctx.bool(&format!("{at}.privileged"), p))
                    .transpose()?
                    .unwrap_or(false),
                working_dir: get("working_dir")
                    .map(|w| ctx.string(&format!("{at}.working_dir"), w))
                    .transpose()?,
                environment,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::with;
    use super::*;

    #[test]
    fn links_take_a_service_and_an_optional_alias() {
        let l = with("links: [db, 'cache:redis']\n", |ctx, m| {
            links(ctx, &m["links"])
        })
        .unwrap();
        assert_eq!(
            l,
            vec![
                Link {
                    service: "db".into(),
                    alias: "db".into()
                },
                Link {
                    service: "cache".into(),
                    alias: "redis".into()
                }
            ]
        );
        let e = with("links: ['db:']\n", |ctx, m| links(ctx, &m["links"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("links") && e.contains("SERVICE:ALIAS"), "{e}");
    }

    #[test]
    fn external_links_and_foreign_containers_are_refused_with_the_reason() {
        let e = with("external_links: ['redis_1:redis']\n", |ctx, m| {
            external_links(ctx, &m["external_links"])
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("external_links")
                && e.contains("redis_1")
                && e.contains("outside this preview"),
            "{e}"
        );
        let e = with("volumes_from: ['container:other:ro']\n", |ctx, m| {
            volumes_from(ctx, &m["volumes_from"])
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("volumes_from")
                && e.contains("\"other\"")
                && e.contains("outside this preview"),
            "{e}"
        );
    }

    #[test]
    fn volumes_from_keeps_the_read_only_mode() {
        let v = with("volumes_from: [data, 'logs:ro', 'cache:rw']\n", |ctx, m| {
            volumes_from(ctx, &m["volumes_from"])
        })
        .unwrap();
        assert_eq!(
            v.iter()
                .map(|v| (v.service.as_str(), v.read_only))
                .collect::<Vec<_>>(),
            vec![("data", false), ("logs", true), ("cache", false)]
        );
        assert!(with("volumes_from: ['data:rx']\n", |ctx, m| volumes_from(
            ctx,
            &m["volumes_from"]
        ))
        .is_err());
    }

    #[test]
    fn a_scale_is_a_whole_number_of_containers() {
        assert_eq!(
            with("scale: 3\n", |ctx, m| replicas(ctx, "scale", &m["scale"])).unwrap(),
            3
        );
        assert_eq!(
            with("scale: '0'\n", |ctx, m| replicas(ctx, "scale", &m["scale"])).unwrap(),
            0
        );
        let e = with("scale: -1\n", |ctx, m| replicas(ctx, "scale", &m["scale"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("scale") && e.contains("-1"), "{e}");
    }

    #[test]
    fn scale_and_deploy_replicas_must_agree_and_a_fixed_name_allows_one_replica() {
        let s = |yaml: &str| {
            with(yaml, |ctx, m| {
                crate::compose::load::typed::service(ctx, m, &mut Vec::new())
            })
        };
        assert_eq!(s("image: x\nscale: 2\n").unwrap().replicas(), 2);
        assert_eq!(
            s("image: x\ndeploy: {replicas: 0}\n").unwrap().replicas(),
            0
        );
        assert_eq!(
            s("image: x\nscale: 2\ndeploy: {replicas: 2}\n")
                .unwrap()
                .replicas(),
            2
        );
        assert_eq!(
            s("image: x\n").unwrap().scale,
            None,
            "one, and left out of the hash"
        );
        let e = s("image: x\nscale: 2\ndeploy: {replicas: 3}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("scale: 2 and deploy.replicas: 3"), "{e}");
        let e = s("image: x\ncontainer_name: fixed\ndeploy: {replicas: 2}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("container_name") && e.contains("2 replicas"),
            "{e}"
        );
        assert!(s("image: x\ncontainer_name: fixed\nscale: 1\n").is_ok());
    }

    #[test]
    fn hooks_take_a_command_and_the_exec_settings() {
        let h = with(
            "post_start: [{command: echo hi, user: root, privileged: true, working_dir: /app, environment: [A=1, FROM_ENV, NOPE]}, {command: [touch, /x]}]\n",
            |ctx, m| hooks(ctx, "post_start", &m["post_start"]),
        )
        .unwrap();
        assert_eq!(h[0].command, vec!["echo".to_string(), "hi".into()]);
        assert_eq!(h[0].user.as_deref(), Some("root"));
        assert!(h[0].privileged);
        assert_eq!(h[0].working_dir.as_deref(), Some("/app"));
        assert_eq!(h[0].environment["A"].as_deref(), Some("1"));
        assert_eq!(h[0].environment["FROM_ENV"].as_deref(), Some("e"));
        assert_eq!(h[0].environment["NOPE"], None);
        assert_eq!(h[1].command, vec!["touch".to_string(), "/x".into()]);
        let e = with("pre_stop: [{user: root}]\n", |ctx, m| {
            hooks(ctx, "pre_stop", &m["pre_stop"])
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("pre_stop[0]") && e.contains("command"), "{e}");
        let e = with("pre_stop: [{command: x, image: alpine}]\n", |ctx, m| {
            hooks(ctx, "pre_stop", &m["pre_stop"])
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("pre_stop[0].image"), "{e}");
    }
}
