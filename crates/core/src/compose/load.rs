//! Loading: YAML files → interpolation → `extends` → merge → profiles →
//! the typed [`Project`], checked (and, for untrusted repos, made safe).

mod interpolate;
mod merge;
pub mod typed;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_norway::{Mapping, Value};

use super::error::ComposeError;
use super::model::{FileObject, Mount, Network, Project, Volume};
use interpolate::{interpolate, InterpolateError};
use merge::{merge, scalar};

pub use typed::read_env_file;

/// What to load and how.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Compose project name.
    pub project_name: String,
    /// The project directory (relative paths, `.env`).
    pub working_dir: PathBuf,
    /// Compose files in merge order (absolute or relative to `working_dir`).
    pub files: Vec<PathBuf>,
    /// The process environment (it wins over `.env`).
    pub env: IndexMap<String, String>,
    /// The `.env` file (default: `working_dir/.env` when it exists).
    pub env_file: Option<PathBuf>,
    /// Active profiles.
    pub profiles: Vec<String>,
    /// Lift the safety refusals.
    pub trusted: bool,
    /// Bind mounts and build contexts must stay inside this directory (the worktree).
    pub confine_to: PathBuf,
}

const TOP_LEVEL: &[&str] = &["services", "networks", "volumes", "secrets", "configs", "version", "name", "include"];

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// Parses one YAML file into a mapping, with file and line on errors.
fn parse(path: &Path) -> Result<Mapping, ComposeError> {
    let text = std::fs::read_to_string(path).map_err(|e| ComposeError::Io { file: display(path), message: e.to_string() })?;
    let syntax = |e: serde_norway::Error| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        ComposeError::Syntax { file: display(path), line, column, message: e.to_string() }
    };
    let mut v: Value = serde_norway::from_str(&text).map_err(syntax)?;
    // YAML merge keys (`<<: *anchor`), which compose files use with x-* fragments.
    v.apply_merge().map_err(syntax)?;
    match v {
        Value::Mapping(m) => Ok(m),
        Value::Null => Ok(Mapping::new()),
        _ => Err(ComposeError::Invalid {
            file: display(path),
            where_: "top level".into(),
            key: "(document)".into(),
            message: "a compose file must be a mapping with `services:`".into(),
        }),
    }
}

/// Interpolates every string value in place (keys are left alone, as in compose).
fn interpolate_all(v: &mut Value, env: &IndexMap<String, String>, file: &str, unset: &mut Vec<String>) -> Result<(), ComposeError> {
    match v {
        Value::String(s) => {
            *s = interpolate(s, env, unset).map_err(|e| match e {
                InterpolateError::Required { variable, message } => ComposeError::MissingVariable { file: file.into(), variable, message },
                InterpolateError::Syntax(message) => ComposeError::Invalid { file: file.into(), where_: "interpolation".into(), key: "$".into(), message },
            })?;
        }
        Value::Sequence(items) => {
            for it in items {
                interpolate_all(it, env, file, unset)?;
            }
        }
        Value::Mapping(m) => {
            for (_, it) in m.iter_mut() {
                interpolate_all(it, env, file, unset)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Resolves `extends` within one file's services (cycles refused).
fn resolve_extends(file: &str, services: &mut Mapping) -> Result<(), ComposeError> {
    let names: Vec<String> = services.keys().filter_map(scalar).collect();
    for name in &names {
        let mut chain = vec![name.clone()];
        let resolved = extended(file, services, name, &mut chain)?;
        services.insert(Value::String(name.clone()), resolved);
    }
    Ok(())
}

fn extended(file: &str, services: &Mapping, name: &str, chain: &mut Vec<String>) -> Result<Value, ComposeError> {
    let svc = services.get(name).cloned().unwrap_or(Value::Null);
    let Some(ext) = svc.get("extends").cloned() else {
        return Ok(svc);
    };
    let base_name = match &ext {
        Value::String(s) => s.clone(),
        Value::Mapping(m) => {
            if m.get("file").is_some() {
                return Err(ComposeError::UnsupportedKey {
                    file: file.into(),
                    where_: format!("service {name:?}"),
                    key: "extends.file".into(),
                    hint: " (extends works within one file; list the other file in branchyard.toml's `compose` instead)".into(),
                });
            }
            m.get("service").and_then(scalar).unwrap_or_default()
        }
        _ => String::new(),
    };
    if chain.contains(&base_name) {
        chain.push(base_name);
        return Err(ComposeError::Cycle { file: file.into(), cycle: format!("extends {}", chain.join(" -> ")) });
    }
    if services.get(base_name.as_str()).is_none() {
        return Err(ComposeError::Invalid {
            file: file.into(),
            where_: format!("service {name:?}"),
            key: "extends".into(),
            message: format!("there is no service {base_name:?} in this file"),
        });
    }
    chain.push(base_name.clone());
    let base = extended(file, services, &base_name, chain)?;
    let mut own = svc;
    if let Value::Mapping(m) = &mut own {
        m.remove("extends");
    }
    // Like compose: what extends a service does not inherit its dependencies.
    let mut base = base;
    if let Value::Mapping(m) = &mut base {
        m.remove("depends_on");
    }
    Ok(merge(&base, &own, name))
}

/// Loads and checks a compose project.
///
/// # Errors
/// Unreadable or malformed files, unsupported keys, bad values, missing
/// required variables, dependency cycles, or (untrusted) unsafe settings.
pub fn load(opts: &LoadOptions) -> Result<Project, ComposeError> {
    let mut env: IndexMap<String, String> = IndexMap::new();
    let dot_env = opts.env_file.clone().unwrap_or_else(|| opts.working_dir.join(".env"));
    if dot_env.is_file() {
        env.extend(read_env_file(&dot_env).map_err(|e| ComposeError::Io { file: display(&dot_env), message: e.to_string() })?);
    }
    env.extend(opts.env.clone());

    let mut warnings = Vec::new();
    let mut merged = Mapping::new();
    // Which file last set each service (named in messages).
    let mut origin: IndexMap<String, String> = IndexMap::new();
    let files: Vec<PathBuf> = opts.files.iter().map(|f| if f.is_absolute() { f.clone() } else { opts.working_dir.join(f) }).collect();
    for path in &files {
        let file = display(path);
        let mut doc = parse(path)?;
        for key in doc.keys().filter_map(scalar) {
            if !TOP_LEVEL.contains(&key.as_str()) && !key.starts_with("x-") {
                return Err(ComposeError::UnsupportedKey { file: file.clone(), where_: "top level".into(), key, hint: " (supported: services, networks, volumes, secrets, configs, x-*)".into() });
            }
            if key == "include" {
                return Err(ComposeError::UnsupportedKey { file: file.clone(), where_: "top level".into(), key, hint: " (list the files in branchyard.toml's `compose` instead)".into() });
            }
        }
        for ignored in ["version", "name"] {
            if doc.remove(ignored).is_some() {
                warnings.push(format!("{file}: top-level `{ignored}` is ignored (Branchyard names each preview's project itself)"));
            }
        }
        let mut unset = Vec::new();
        let mut as_value = Value::Mapping(doc);
        interpolate_all(&mut as_value, &env, &file, &mut unset)?;
        for v in unset {
            let w = format!("{file}: variable {v} is not set; it is substituted with an empty string");
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        let Value::Mapping(mut doc) = as_value else { continue };
        if let Some(Value::Mapping(services)) = doc.get_mut("services") {
            resolve_extends(&file, services)?;
            for name in services.keys().filter_map(scalar) {
                origin.insert(name, file.clone());
            }
        }
        merged = match merge(&Value::Mapping(merged), &Value::Mapping(doc), "") {
            Value::Mapping(m) => m,
            _ => Mapping::new(),
        };
    }
    let first = files.first().map(|f| display(f)).unwrap_or_default();
    let dir = opts.working_dir.clone();

    let mut project = Project {
        name: opts.project_name.clone(),
        working_dir: dir.clone(),
        config_files: files.clone(),
        services: IndexMap::new(),
        networks: IndexMap::new(),
        volumes: IndexMap::new(),
        secrets: IndexMap::new(),
        configs: IndexMap::new(),
        warnings: Vec::new(),
    };
    top_level(&merged, &first, &dir, &env, &mut project)?;

    let Some(Value::Mapping(services)) = merged.get("services") else {
        return Err(ComposeError::Invalid { file: first, where_: "top level".into(), key: "services".into(), message: "no services are defined".into() });
    };
    for (k, v) in services {
        let name = scalar(k).unwrap_or_default();
        let file = origin.get(&name).cloned().unwrap_or_else(|| first.clone());
        let Value::Mapping(m) = v else {
            return Err(ComposeError::Invalid { file, where_: format!("service {name:?}"), key: name.clone(), message: "a service must be a mapping".into() });
        };
        // Profiles: a service with profiles runs only when one of them is active.
        if let Some(p) = m.get("profiles") {
            let listed: Vec<String> = match p {
                Value::Sequence(s) => s.iter().filter_map(scalar).collect(),
                other => scalar(other).into_iter().collect(),
            };
            if !listed.iter().any(|l| opts.profiles.contains(l)) {
                continue;
            }
        }
        let ctx = typed::Ctx { file: &file, service: &name, dir: &dir };
        let mut svc = typed::service(&ctx, m, &mut warnings)?;
        if svc.networks.is_empty() && svc.privileged_settings.network_mode.is_none() {
            svc.networks.insert("default".into(), Default::default());
        }
        if svc.image.is_none() && svc.build.is_none() {
            return Err(ComposeError::Invalid { file, where_: format!("service {name:?}"), key: "image".into(), message: "a service needs `image:` or `build:`".into() });
        }
        project.services.insert(name, svc);
    }
    check_references(&project, &origin, &first)?;
    project.warnings = warnings;
    if !opts.trusted {
        super::safety::check(&project, &opts.confine_to)?;
    }
    Ok(project)
}

fn top_level(merged: &Mapping, file: &str, dir: &Path, env: &IndexMap<String, String>, p: &mut Project) -> Result<(), ComposeError> {
    let invalid = |key: &str, message: String| ComposeError::Invalid { file: file.into(), where_: "top level".into(), key: key.into(), message };
    let labels = |v: &Value| -> IndexMap<String, String> {
        v.get("labels").map(|l| merge::list_or_map(l, '=')).unwrap_or_default().iter().map(|(k, v)| (scalar(k).unwrap_or_default(), scalar(v).unwrap_or_default())).collect()
    };
    let flag = |v: &Value, k: &str| matches!(v.get(k), Some(Value::Bool(true)));
    if let Some(Value::Mapping(nets)) = merged.get("networks") {
        for (k, v) in nets {
            let name = scalar(k).unwrap_or_default();
            p.networks.insert(name, Network { external: flag(v, "external"), name: v.get("name").and_then(scalar), internal: flag(v, "internal"), labels: labels(v) });
        }
    }
    p.networks.entry("default".into()).or_default();
    if let Some(Value::Mapping(vols)) = merged.get("volumes") {
        for (k, v) in vols {
            let name = scalar(k).unwrap_or_default();
            p.volumes.insert(name, Volume { external: flag(v, "external"), name: v.get("name").and_then(scalar), labels: labels(v) });
        }
    }
    for (key, target) in [("secrets", &mut p.secrets), ("configs", &mut p.configs)] {
        if let Some(Value::Mapping(objs)) = merged.get(key) {
            for (k, v) in objs {
                let name = scalar(k).unwrap_or_default();
                let obj = if let Some(f) = v.get("file").and_then(scalar) {
                    FileObject::File(typed::resolve(&dir.join(f)))
                } else if let Some(var) = v.get("environment").and_then(scalar) {
                    FileObject::Content(env.get(&var).cloned().unwrap_or_default())
                } else if let Some(c) = v.get("content").and_then(scalar) {
                    FileObject::Content(c)
                } else {
                    return Err(invalid(&format!("{key}.{name}"), "needs `file:`, `environment:` or `content:` (external secrets need a swarm)".into()));
                };
                target.insert(name, obj);
            }
        }
    }
    Ok(())
}

/// depends_on targets exist (or are optional), no cycles, named volumes,
/// networks, secrets and configs are declared.
fn check_references(p: &Project, origin: &IndexMap<String, String>, first: &str) -> Result<(), ComposeError> {
    for (name, s) in &p.services {
        let file = origin.get(name).cloned().unwrap_or_else(|| first.to_string());
        let invalid = |key: &str, message: String| ComposeError::Invalid { file: file.clone(), where_: format!("service {name:?}"), key: key.into(), message };
        for (dep, d) in &s.depends_on {
            if !p.services.contains_key(dep) && d.required {
                return Err(invalid("depends_on", format!("service {dep:?} is not defined, or its profile is not active")));
            }
        }
        for m in &s.volumes {
            if let Mount::Volume { source, .. } = m {
                if !p.volumes.contains_key(source) {
                    return Err(invalid("volumes", format!("named volume {source:?} is not declared under the top-level `volumes:`")));
                }
            }
        }
        for n in s.networks.keys() {
            if !p.networks.contains_key(n) {
                return Err(invalid("networks", format!("network {n:?} is not declared under the top-level `networks:`")));
            }
        }
        for r in &s.secrets {
            if !p.secrets.contains_key(&r.source) {
                return Err(invalid("secrets", format!("secret {:?} is not declared under the top-level `secrets:`", r.source)));
            }
        }
        for r in &s.configs {
            if !p.configs.contains_key(&r.source) {
                return Err(invalid("configs", format!("config {:?} is not declared under the top-level `configs:`", r.source)));
            }
        }
    }
    // Cycles: depth-first search over depends_on.
    fn visit<'a>(p: &'a Project, n: &'a str, stack: &mut Vec<&'a str>, done: &mut Vec<&'a str>) -> Option<String> {
        if done.contains(&n) {
            return None;
        }
        if let Some(pos) = stack.iter().position(|s| *s == n) {
            let mut c: Vec<&str> = stack[pos..].to_vec();
            c.push(n);
            return Some(c.join(" -> "));
        }
        stack.push(n);
        if let Some(s) = p.services.get(n) {
            for dep in s.depends_on.keys() {
                if let Some(c) = visit(p, dep, stack, done) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        done.push(n);
        None
    }
    let mut done = Vec::new();
    for n in p.services.keys() {
        if let Some(cycle) = visit(p, n, &mut Vec::new(), &mut done) {
            return Err(ComposeError::Cycle { file: first.into(), cycle });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
