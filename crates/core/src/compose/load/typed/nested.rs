//! The service keys with structure of their own: `build`, `environment` and
//! `env_file`, `depends_on`, `healthcheck`, `networks`, `deploy`, `devices`,
//! `secrets`/`configs`. Nested keys are checked like top-level ones.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde_norway::Value;

use super::{cpus, Ctx};
use crate::compose::error::ComposeError;
use crate::compose::load::merge::{list_or_map, scalar};
use crate::compose::load::{env_file, paths};
use crate::compose::model::{
    Build, Condition, Dependency, FileRef, Healthcheck, Service, ServiceNetwork,
};

const BUILD_KEYS: &[&str] = &["context", "dockerfile", "args", "target"];
const DEPENDENCY_KEYS: &[&str] = &["condition", "restart", "required"];
const HEALTH_KEYS: &[&str] = &[
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "disable",
];
const NETWORK_KEYS: &[&str] = &["aliases"];
const ENV_FILE_KEYS: &[&str] = &["path", "required"];
const FILE_REF_KEYS: &[&str] = &["source", "target", "mode"];

/// `build:` as a context string or a mapping.
pub fn build(ctx: &Ctx<'_>, v: &Value) -> Result<Build, ComposeError> {
    let mut b = Build {
        dockerfile: "Dockerfile".into(),
        ..Build::default()
    };
    let mut context = ".".to_string();
    match v {
        Value::Mapping(m) => {
            ctx.only("build", m, BUILD_KEYS)?;
            for (k, bv) in m {
                match scalar(k).unwrap_or_default().as_str() {
                    "context" => context = ctx.string("build.context", bv)?,
                    "dockerfile" => b.dockerfile = ctx.string("build.dockerfile", bv)?,
                    "args" => {
                        // A bare arg takes its value from the environment, as compose does.
                        b.args = list_or_map(bv, '=')
                            .iter()
                            .map(|(k, v)| {
                                let name = scalar(k).unwrap_or_default();
                                let value = scalar(v).or_else(|| ctx.env.get(&name).cloned());
                                (name, value)
                            })
                            .collect();
                    }
                    "target" => b.target = Some(ctx.string("build.target", bv)?),
                    _ => {}
                }
            }
        }
        other => context = ctx.string("build", other)?,
    }
    if context.contains("://") || context.starts_with("git@") {
        return Err(ctx.invalid(
            "build.context",
            format!("{context:?} is a remote context; previews build from the branch's own files"),
        ));
    }
    b.context = ctx.path(&context);
    Ok(b)
}

/// `env_file:` as a path, a list of paths, or `{path, required}` entries;
/// optional files that do not exist are left out.
pub fn env_files(ctx: &Ctx<'_>, v: &Value) -> Result<Vec<PathBuf>, ComposeError> {
    let items = match v {
        Value::Sequence(items) => items.clone(),
        other => vec![other.clone()],
    };
    let mut out = Vec::new();
    for item in &items {
        let (path, required) = match item {
            Value::Mapping(m) => {
                ctx.only("env_file", m, ENV_FILE_KEYS)?;
                let path = m
                    .get("path")
                    .and_then(scalar)
                    .ok_or_else(|| ctx.invalid("env_file", "the long form needs `path:`"))?;
                (
                    path,
                    m.get("required")
                        .map(|r| ctx.bool("env_file.required", r))
                        .transpose()?
                        .unwrap_or(true),
                )
            }
            other => (ctx.string("env_file", other)?, true),
        };
        let abs = ctx.path(&path);
        if required || abs.exists() {
            out.push(abs);
        }
    }
    Ok(out)
}

/// `env_file:` contents, then `environment:` over them. Bare names take
/// their value from the environment, and are unset when it has none.
pub fn environment(
    ctx: &Ctx<'_>,
    files: &[PathBuf],
    v: Option<&Value>,
) -> Result<IndexMap<String, Option<String>>, ComposeError> {
    let mut out = IndexMap::new();
    for f in files {
        if ctx.confine.is_some_and(|root| !paths::is_inside(f, root)) {
            // Refused before reading: not a byte of a host file reaches the project.
            return Err(ComposeError::Unsafe {
                file: ctx.file.into(),
                service: ctx.service.into(),
                key: "env_file".into(),
                reason: format!("{} resolves outside the preview's worktree; its values would be copied into the container. Keep the file in the repo, gitignored, and name it in .worktreeinclude so it is carried into previews (see {})", f.display(), crate::carry::GUIDE),
            });
        }
        if !f.exists() {
            // Named, with the path, so the engine can say where the file is.
            return Err(ComposeError::MissingFile(Box::new(
                crate::compose::MissingFile {
                    file: ctx.file.into(),
                    service: ctx.service.into(),
                    key: "env_file".into(),
                    path: f.display().to_string(),
                    hint: String::new(),
                },
            )));
        }
        let vars = env_file::read(f, ctx.env)
            .map_err(|e| ctx.invalid("env_file", format!("{}: {e}", f.display())))?;
        for (k, v) in vars {
            match v.or_else(|| ctx.env.get(&k).cloned()) {
                Some(v) => out.insert(k, Some(v)),
                None => continue,
            };
        }
    }
    if let Some(v) = v {
        if !matches!(v, Value::Mapping(_) | Value::Sequence(_)) {
            return Err(ctx.invalid("environment", "expected a list of KEY=VALUE or a mapping"));
        }
        for (k, val) in list_or_map(v, '=') {
            let name = scalar(&k).unwrap_or_default();
            let value = scalar(&val).or_else(|| ctx.env.get(&name).cloned());
            out.insert(name, value);
        }
    }
    Ok(out)
}

/// `depends_on:` as a list of names or a mapping with conditions.
pub fn depends_on(ctx: &Ctx<'_>, v: &Value) -> Result<IndexMap<String, Dependency>, ComposeError> {
    let started = Dependency {
        condition: Condition::ServiceStarted,
        restart: false,
        required: true,
    };
    match v {
        Value::Sequence(items) => items.iter().map(|i| Ok((ctx.string("depends_on", i)?, started.clone()))).collect(),
        Value::Mapping(m) => m
            .iter()
            .map(|(name, dv)| {
                let name = scalar(name).unwrap_or_default();
                let Value::Mapping(dm) = dv else {
                    return Ok((name, started.clone()));
                };
                ctx.only(&format!("depends_on.{name}"), dm, DEPENDENCY_KEYS)?;
                let condition = match dm.get("condition").and_then(scalar).as_deref() {
                    None | Some("service_started") => Condition::ServiceStarted,
                    Some("service_healthy") => Condition::ServiceHealthy,
                    Some("service_completed_successfully") => Condition::ServiceCompletedSuccessfully,
                    Some(other) => {
                        return Err(ctx.invalid(
                            &format!("depends_on.{name}.condition"),
                            format!("{other:?} is not service_started, service_healthy or service_completed_successfully"),
                        ))
                    }
                };
                let flag = |k: &str, default: bool| dm.get(k).map(|b| ctx.bool(&format!("depends_on.{name}.{k}"), b)).transpose().map(|o| o.unwrap_or(default));
                let dependency = Dependency { condition, restart: flag("restart", false)?, required: flag("required", true)? };
                Ok((name, dependency))
            })
            .collect(),
        _ => Err(ctx.invalid("depends_on", "expected a list of services or a mapping")),
    }
}

/// `healthcheck:`; a string `test` runs in a shell (`CMD-SHELL`).
pub fn healthcheck(ctx: &Ctx<'_>, v: &Value) -> Result<Healthcheck, ComposeError> {
    let m = ctx.mapping("healthcheck", v)?;
    ctx.only("healthcheck", m, HEALTH_KEYS)?;
    let dur = |k: &str| {
        m.get(k)
            .map(|d| ctx.duration(&format!("healthcheck.{k}"), d))
            .transpose()
    };
    let test = match m.get("test") {
        Some(Value::String(cmd)) => vec!["CMD-SHELL".into(), cmd.clone()],
        Some(t) => {
            let test = ctx.strings("healthcheck.test", t)?;
            if !matches!(
                test.first().map(String::as_str),
                Some("CMD" | "CMD-SHELL" | "NONE")
            ) {
                return Err(ctx.invalid(
                    "healthcheck.test",
                    "a list must start with CMD, CMD-SHELL or NONE",
                ));
            }
            test
        }
        None => Vec::new(),
    };
    let disabled = test.first().is_some_and(|t| t == "NONE");
    Ok(Healthcheck {
        test,
        interval_ns: dur("interval")?,
        timeout_ns: dur("timeout")?,
        retries: m
            .get("retries")
            .map(|r| ctx.int("healthcheck.retries", r))
            .transpose()?,
        start_period_ns: dur("start_period")?,
        start_interval_ns: dur("start_interval")?,
        disable: disabled
            || m.get("disable")
                .map(|d| ctx.bool("healthcheck.disable", d))
                .transpose()?
                .unwrap_or(false),
    })
}

/// `networks:` as a list of names or a mapping with aliases.
pub fn networks(
    ctx: &Ctx<'_>,
    v: &Value,
) -> Result<IndexMap<String, ServiceNetwork>, ComposeError> {
    match v {
        Value::Sequence(items) => items
            .iter()
            .map(|i| Ok((ctx.string("networks", i)?, ServiceNetwork::default())))
            .collect(),
        Value::Mapping(m) => m
            .iter()
            .map(|(name, nv)| {
                let name = scalar(name).unwrap_or_default();
                let aliases = match nv {
                    Value::Mapping(nm) => {
                        ctx.only(&format!("networks.{name}"), nm, NETWORK_KEYS)?;
                        nm.get("aliases")
                            .map(|a| ctx.strings(&format!("networks.{name}.aliases"), a))
                            .transpose()?
                            .unwrap_or_default()
                    }
                    Value::Null => Vec::new(),
                    _ => {
                        return Err(ctx.invalid(
                            &format!("networks.{name}"),
                            "expected a mapping (or nothing)",
                        ))
                    }
                };
                Ok((name, ServiceNetwork { aliases }))
            })
            .collect(),
        _ => Err(ctx.invalid("networks", "expected a list of networks or a mapping")),
    }
}

/// `deploy:`: only `resources.limits.{cpus,memory}` and `resources.reservations.memory`.
pub fn deploy(ctx: &Ctx<'_>, v: &Value, s: &mut Service) -> Result<(), ComposeError> {
    let m = ctx.mapping("deploy", v)?;
    ctx.only("deploy", m, &["resources"])?;
    let Some(r) = m.get("resources").filter(|r| !r.is_null()) else {
        return Ok(());
    };
    let r = ctx.mapping("deploy.resources", r)?;
    ctx.only("deploy.resources", r, &["limits", "reservations"])?;
    if let Some(lim) = r.get("limits").filter(|l| !l.is_null()) {
        let lim = ctx.mapping("deploy.resources.limits", lim)?;
        ctx.only("deploy.resources.limits", lim, &["cpus", "memory"])?;
        if let Some(c) = lim.get("cpus") {
            s.cpus = Some(cpus(ctx, "deploy.resources.limits.cpus", c)?);
        }
        if let Some(mem) = lim.get("memory") {
            s.mem_limit = Some(ctx.size("deploy.resources.limits.memory", mem)?);
        }
    }
    if let Some(res) = r.get("reservations").filter(|l| !l.is_null()) {
        let res = ctx.mapping("deploy.resources.reservations", res)?;
        ctx.only("deploy.resources.reservations", res, &["memory"])?;
        if let Some(mem) = res.get("memory") {
            s.mem_reservation = Some(ctx.size("deploy.resources.reservations.memory", mem)?);
        }
    }
    Ok(())
}

/// `devices:` as `host[:container[:perms]]` strings or `{source, target, permissions}`.
pub fn devices(ctx: &Ctx<'_>, v: &Value) -> Result<Vec<String>, ComposeError> {
    let Value::Sequence(items) = v else {
        return Err(ctx.invalid("devices", "expected a list"));
    };
    items
        .iter()
        .map(|d| match d {
            Value::Mapping(m) => {
                ctx.only("devices", m, &["source", "target", "permissions"])?;
                let get = |k: &str| m.get(k).and_then(scalar);
                let source = get("source")
                    .ok_or_else(|| ctx.invalid("devices", "the long form needs `source:`"))?;
                let target = get("target").unwrap_or_else(|| source.clone());
                Ok(match get("permissions") {
                    Some(p) => format!("{source}:{target}:{p}"),
                    None => format!("{source}:{target}"),
                })
            }
            other => ctx.string("devices", other),
        })
        .collect()
}

/// A `mode:` written the way people write file modes: `0440` (read as
/// octal digits even though YAML reads a decimal), `0o440`, or `"0440"`.
fn mode(ctx: &Ctx<'_>, key: &str, v: &Value) -> Result<u32, ComposeError> {
    let s = ctx.string(key, v)?;
    let digits = s.trim().trim_start_matches("0o");
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| ctx.invalid(key, format!("{s:?} is not a file mode like 0440")))
}

/// `secrets:`/`configs:` references, short (`name`) or long (`{source, target, mode}`).
pub fn file_refs(ctx: &Ctx<'_>, key: &str, v: &Value) -> Result<Vec<FileRef>, ComposeError> {
    let Value::Sequence(items) = v else {
        return Err(ctx.invalid(key, "expected a list"));
    };
    let default_dir = if key == "secrets" {
        "/run/secrets/"
    } else {
        "/"
    };
    items
        .iter()
        .map(|it| {
            let (source, target, mode) = match it {
                Value::Mapping(m) => {
                    ctx.only(key, m, FILE_REF_KEYS)?;
                    (
                        m.get("source")
                            .and_then(scalar)
                            .ok_or_else(|| ctx.invalid(key, "the long form needs `source:`"))?,
                        m.get("target").and_then(scalar),
                        m.get("mode")
                            .map(|v| mode(ctx, &format!("{key}.mode"), v))
                            .transpose()?,
                    )
                }
                other => (ctx.string(key, other)?, None, None),
            };
            let target = match target {
                Some(t) if t.starts_with('/') => t,
                Some(t) => format!("{default_dir}{t}"),
                None => format!("{default_dir}{source}"),
            };
            Ok(FileRef {
                source,
                target,
                mode,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::tests::with;
    use super::*;

    #[test]
    fn build_takes_a_string_or_a_mapping_and_bare_args_come_from_the_environment() {
        let b = with("build: ./app\n", |ctx, m| build(ctx, &m["build"])).unwrap();
        assert_eq!(b.context, Path::new("/nonexistent/project/app"));
        assert_eq!(b.dockerfile, "Dockerfile");
        let b = with(
            "build: {dockerfile: web.Dockerfile, args: [A=1, FROM_ENV, MISSING], target: dev}\n",
            |ctx, m| build(ctx, &m["build"]),
        )
        .unwrap();
        assert_eq!(b.context, Path::new("/nonexistent/project"));
        assert_eq!(b.dockerfile, "web.Dockerfile");
        assert_eq!(b.args["A"].as_deref(), Some("1"));
        assert_eq!(b.args["FROM_ENV"].as_deref(), Some("e"));
        assert_eq!(b.args["MISSING"], None);
        assert_eq!(b.target.as_deref(), Some("dev"));
        let b = with("build: {args: {N: 3}}\n", |ctx, m| build(ctx, &m["build"])).unwrap();
        assert_eq!(b.args["N"].as_deref(), Some("3"));
        let e = with("build: {context: ., cache_from: [x]}\n", |ctx, m| {
            build(ctx, &m["build"])
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("build.cache_from")
                && e.contains("supported: context, dockerfile, args, target"),
            "{e}"
        );
        assert!(with("build: https://github.com/x/y.git\n", |ctx, m| build(
            ctx,
            &m["build"]
        ))
        .is_err());
    }

    #[test]
    fn environment_list_and_map_forms_with_bare_names_from_the_environment() {
        let env = with("environment: [A=1, 'B=x=y', FROM_ENV, NOPE]\n", |ctx, m| {
            environment(ctx, &[], m.get("environment"))
        })
        .unwrap();
        assert_eq!(env["A"].as_deref(), Some("1"));
        assert_eq!(env["B"].as_deref(), Some("x=y"));
        assert_eq!(env["FROM_ENV"].as_deref(), Some("e"));
        assert_eq!(env["NOPE"], None, "unset in the container");
        let env = with("environment: {N: 3, T: true, E: ''}\n", |ctx, m| {
            environment(ctx, &[], m.get("environment"))
        })
        .unwrap();
        assert_eq!(env["N"].as_deref(), Some("3"));
        assert_eq!(env["T"].as_deref(), Some("true"));
        assert_eq!(env["E"].as_deref(), Some(""));
    }

    #[test]
    fn env_files_are_read_in_order_and_environment_wins() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.env"), "A=from-a\nB=from-a\nFROM_ENV\n").unwrap();
        std::fs::write(d.path().join("b.env"), "B=from-b\nC=\"quoted\"\n").unwrap();
        let env_vars: IndexMap<String, String> = [("FROM_ENV".to_string(), "e".to_string())]
            .into_iter()
            .collect();
        let ctx = Ctx {
            file: "compose.yaml",
            service: "web",
            dir: d.path(),
            env: &env_vars,
            confine: None,
        };
        let v: Value =
            serde_norway::from_str("[a.env, {path: b.env}, {path: missing.env, required: false}]")
                .unwrap();
        let files = env_files(&ctx, &v).unwrap();
        assert_eq!(files.len(), 2, "an optional missing file is left out");
        let over: Value = serde_norway::from_str("{C: set}").unwrap();
        let env = environment(&ctx, &files, Some(&over)).unwrap();
        assert_eq!(env["A"].as_deref(), Some("from-a"));
        assert_eq!(env["B"].as_deref(), Some("from-b"));
        assert_eq!(env["C"].as_deref(), Some("set"));
        assert_eq!(env["FROM_ENV"].as_deref(), Some("e"));
        let v: Value = serde_norway::from_str("missing.env").unwrap();
        let files = env_files(&ctx, &v).unwrap();
        let e = environment(&ctx, &files, None).unwrap_err().to_string();
        assert!(e.contains("env_file") && e.contains("missing.env"), "{e}");
    }

    #[test]
    fn depends_on_lists_and_conditions() {
        let d = with("depends_on: [db]\n", |ctx, m| {
            depends_on(ctx, &m["depends_on"])
        })
        .unwrap();
        assert_eq!(
            d["db"],
            Dependency {
                condition: Condition::ServiceStarted,
                restart: false,
                required: true
            }
        );
        let d = with(
            "depends_on: {db: {condition: service_healthy, restart: true}, job: {condition: service_completed_successfully, required: false}, c: null}\n",
            |ctx, m| depends_on(ctx, &m["depends_on"]),
        )
        .unwrap();
        assert_eq!(
            d["db"],
            Dependency {
                condition: Condition::ServiceHealthy,
                restart: true,
                required: true
            }
        );
        assert_eq!(
            d["job"],
            Dependency {
                condition: Condition::ServiceCompletedSuccessfully,
                restart: false,
                required: false
            }
        );
        assert_eq!(d["c"].condition, Condition::ServiceStarted);
        let e = with("depends_on: {db: {condition: ready}}\n", |ctx, m| {
            depends_on(ctx, &m["depends_on"])
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("depends_on.db.condition"), "{e}");
    }

    #[test]
    fn healthchecks_take_shell_strings_lists_and_durations() {
        let h = with("healthcheck: {test: wget -q localhost, interval: 1m30s, timeout: 500ms, retries: 3, start_period: 10s, start_interval: 1s}\n", |ctx, m| {
            healthcheck(ctx, &m["healthcheck"])
        })
        .unwrap();
        assert_eq!(
            h.test,
            vec!["CMD-SHELL".to_string(), "wget -q localhost".into()]
        );
        assert_eq!(
            (h.interval_ns, h.timeout_ns, h.retries),
            (Some(90_000_000_000), Some(500_000_000), Some(3))
        );
        assert_eq!(
            (h.start_period_ns, h.start_interval_ns),
            (Some(10_000_000_000), Some(1_000_000_000))
        );
        let h = with("healthcheck: {test: [NONE]}\n", |ctx, m| {
            healthcheck(ctx, &m["healthcheck"])
        })
        .unwrap();
        assert!(h.disable);
        let h = with("healthcheck: {disable: true}\n", |ctx, m| {
            healthcheck(ctx, &m["healthcheck"])
        })
        .unwrap();
        assert!(h.disable);
        assert!(
            with("healthcheck: {test: [curl, x]}\n", |ctx, m| healthcheck(
                ctx,
                &m["healthcheck"]
            ))
            .is_err()
        );
        let e = with("healthcheck: {interval: soon}\n", |ctx, m| {
            healthcheck(ctx, &m["healthcheck"])
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("healthcheck.interval"), "{e}");
    }

    #[test]
    fn networks_lists_and_mappings_with_aliases() {
        let n = with("networks: [front, back]\n", |ctx, m| {
            networks(ctx, &m["networks"])
        })
        .unwrap();
        assert_eq!(n.keys().collect::<Vec<_>>(), vec!["front", "back"]);
        let n = with(
            "networks: {front: {aliases: [web2]}, back: null}\n",
            |ctx, m| networks(ctx, &m["networks"]),
        )
        .unwrap();
        assert_eq!(n["front"].aliases, vec!["web2".to_string()]);
        let e = with("networks: {front: {ipv4_address: 10.0.0.2}}\n", |ctx, m| {
            networks(ctx, &m["networks"])
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("networks.front.ipv4_address"), "{e}");
    }

    #[test]
    fn deploy_keeps_only_resource_limits() {
        let s = with("deploy: {resources: {limits: {cpus: '0.5', memory: 256m}, reservations: {memory: 64m}}}\n", |ctx, m| {
            let mut s = Service::default();
            deploy(ctx, &m["deploy"], &mut s).map(|_| s)
        })
        .unwrap();
        assert_eq!(
            (s.cpus, s.mem_limit, s.mem_reservation),
            (Some(0.5), Some(256 << 20), Some(64 << 20))
        );
        for (yaml, key) in [
            ("deploy: {replicas: 2}\n", "deploy.replicas"),
            (
                "deploy: {resources: {limits: {pids: 10}}}\n",
                "deploy.resources.limits.pids",
            ),
            (
                "deploy: {resources: {reservations: {cpus: '1'}}}\n",
                "deploy.resources.reservations.cpus",
            ),
        ] {
            let e = with(yaml, |ctx, m| {
                deploy(ctx, &m["deploy"], &mut Service::default())
            })
            .unwrap_err()
            .to_string();
            assert!(e.contains(&format!("key \"{key}\"")), "{e}");
        }
    }

    #[test]
    fn secrets_and_configs_short_and_long_forms() {
        let r = with(
            "secrets: [db, {source: api, target: key, mode: 0440}, {source: x, target: /etc/x}]\n",
            |ctx, m| file_refs(ctx, "secrets", &m["secrets"]),
        )
        .unwrap();
        assert_eq!(
            r[0],
            FileRef {
                source: "db".into(),
                target: "/run/secrets/db".into(),
                mode: None
            }
        );
        assert_eq!(
            r[1],
            FileRef {
                source: "api".into(),
                target: "/run/secrets/key".into(),
                mode: Some(0o440)
            }
        );
        assert_eq!(r[2].target, "/etc/x");
        let r = with(
            "configs: [app, {source: app, mode: '0o644'}]\n",
            |ctx, m| file_refs(ctx, "configs", &m["configs"]),
        )
        .unwrap();
        assert_eq!(r[0].target, "/app");
        assert_eq!(r[1].mode, Some(0o644));
        let e = with("secrets: [{source: a, uid: '0'}]\n", |ctx, m| {
            file_refs(ctx, "secrets", &m["secrets"])
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("secrets.uid"), "{e}");
    }
}
