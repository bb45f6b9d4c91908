//! From a merged YAML service to the typed [`Service`]: every key is handled
//! by name, and a key not in the list is refused naming the file and service.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_norway::{Mapping, Value};

use super::merge::{list_or_map, scalar};
use crate::compose::error::ComposeError;
use crate::compose::model::{
    Build, Condition, Dependency, FileRef, Healthcheck, Mount, PrivilegedSettings, Service, ServiceNetwork,
};

/// Service keys Branchyard understands (besides `x-*`).
pub const SUPPORTED: &[&str] = &[
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "volumes",
    "depends_on", "healthcheck", "restart", "init", "labels", "working_dir", "user", "networks", "extra_hosts",
    "hostname", "stop_signal", "stop_grace_period", "tty", "stdin_open", "platform", "sysctls", "mem_limit",
    "mem_reservation", "cpus", "deploy", "secrets", "configs", "container_name", "profiles", "privileged",
    "cap_add", "cap_drop", "devices", "network_mode", "pid", "ipc", "security_opt",
];

/// Where a value came from, for messages.
pub struct Ctx<'a> {
    /// The compose file.
    pub file: &'a str,
    /// The service.
    pub service: &'a str,
    /// Directory relative paths resolve against.
    pub dir: &'a Path,
}

impl Ctx<'_> {
    fn invalid(&self, key: &str, message: impl Into<String>) -> ComposeError {
        ComposeError::Invalid {
            file: self.file.into(),
            where_: format!("service {:?}", self.service),
            key: key.into(),
            message: message.into(),
        }
    }

    fn string(&self, key: &str, v: &Value) -> Result<String, ComposeError> {
        scalar(v).ok_or_else(|| self.invalid(key, "expected a string"))
    }

    fn bool(&self, key: &str, v: &Value) -> Result<bool, ComposeError> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
            _ => Err(self.invalid(key, "expected true or false")),
        }
    }

    fn strings(&self, key: &str, v: &Value) -> Result<Vec<String>, ComposeError> {
        match v {
            Value::Sequence(items) => items.iter().map(|i| self.string(key, i)).collect(),
            other => Ok(vec![self.string(key, other)?]),
        }
    }

    /// A command: a list as is, a string split like a shell would.
    fn command(&self, key: &str, v: &Value) -> Result<Vec<String>, ComposeError> {
        match v {
            Value::Sequence(_) => self.strings(key, v),
            Value::String(s) => shell_words(s).ok_or_else(|| self.invalid(key, "unbalanced quotes")),
            _ => Err(self.invalid(key, "expected a string or a list")),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = if let Some(rest) = p.strip_prefix("~/") {
            dirs::home_dir().unwrap_or_default().join(rest)
        } else {
            PathBuf::from(p)
        };
        let abs = if p.is_absolute() { p } else { self.dir.join(p) };
        resolve(&abs)
    }
}

/// Makes `p` absolute and canonical as far as it exists (symlinks resolved),
/// so a link pointing out of the worktree is seen for what it is.
pub fn resolve(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name().map(|s| s.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for part in rest.into_iter().rev() {
        if part == ".." {
            out.pop();
        } else if part != "." {
            out.push(part);
        }
    }
    out
}

/// Splits like a POSIX shell: whitespace, single and double quotes, backslashes.
pub fn shell_words(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => cur.push(chars.next()?),
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

/// `1m30s`, `500ms`, `10s`, `2h`, or a bare number of seconds, in nanoseconds.
pub fn duration_ns(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<f64>() {
        return Some((secs * 1e9) as i64);
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
    }
    if !num.is_empty() {
        return None;
    }
    Some(total as i64)
}

/// `512m`, `1g`, `1.5gb`, `100k`, or bytes.
pub fn bytes(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let idx = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(idx);
    let n: f64 = n.trim().parse().ok()?;
    let mult = match unit.trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * mult) as i64)
}

fn port_of(ctx: &Ctx<'_>, key: &str, v: &Value) -> Result<u16, ComposeError> {
    let s = match v {
        Value::Mapping(m) => m.get("target").and_then(scalar).ok_or_else(|| ctx.invalid(key, "long form needs `target`"))?,
        other => ctx.string(key, other)?,
    };
    // "127.0.0.1:8080:80/tcp" → container side "80"; ranges take their first port.
    let container = s.rsplit(':').next().unwrap_or(&s);
    let container = container.split('/').next().unwrap_or(container);
    let container = container.split('-').next().unwrap_or(container);
    container.trim().parse().map_err(|_| ctx.invalid(key, format!("{s:?} is not a port")))
}

fn mount(ctx: &Ctx<'_>, v: &Value) -> Result<Mount, ComposeError> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            let (source, target, mode) = match parts.as_slice() {
                [t] => return Ok(Mount::Anonymous { target: t.to_string() }),
                [s, t] => (*s, *t, ""),
                [s, t, m] => (*s, *t, *m),
                _ => return Err(ctx.invalid("volumes", format!("{s:?} is not `source:target[:mode]`"))),
            };
            let read_only = mode.split(',').any(|m| m == "ro");
            if source.starts_with('.') || source.starts_with('/') || source.starts_with('~') {
                Ok(Mount::Bind { source: ctx.path(source), target: target.into(), read_only })
            } else {
                Ok(Mount::Volume { source: source.into(), target: target.into(), read_only })
            }
        }
        Value::Mapping(m) => {
            let get = |k: &str| m.get(k).and_then(scalar);
            let target = get("target").ok_or_else(|| ctx.invalid("volumes", "long form needs `target`"))?;
            let read_only = m.get("read_only").map(|v| ctx.bool("volumes.read_only", v)).transpose()?.unwrap_or(false);
            match get("type").as_deref().unwrap_or("volume") {
                "volume" => Ok(match get("source") {
                    Some(source) => Mount::Volume { source, target, read_only },
                    None => Mount::Anonymous { target },
                }),
                "bind" => {
                    let source = get("source").ok_or_else(|| ctx.invalid("volumes", "a bind needs `source`"))?;
                    Ok(Mount::Bind { source: ctx.path(&source), target, read_only })
                }
                "tmpfs" => Ok(Mount::Tmpfs {
                    target,
                    size: m.get("tmpfs").and_then(|t| t.get("size")).and_then(scalar).and_then(|s| bytes(&s)),
                }),
                other => Err(ctx.invalid("volumes", format!("volume type {other:?} is not supported (volume, bind, tmpfs)"))),
            }
        }
        _ => Err(ctx.invalid("volumes", "expected a string or a mapping")),
    }
}

fn file_refs(ctx: &Ctx<'_>, key: &str, v: &Value) -> Result<Vec<FileRef>, ComposeError> {
    let Value::Sequence(items) = v else {
        return Err(ctx.invalid(key, "expected a list"));
    };
    items
        .iter()
        .map(|it| {
            let (source, target, mode) = match it {
                Value::Mapping(m) => (
                    m.get("source").and_then(scalar).ok_or_else(|| ctx.invalid(key, "needs `source`"))?,
                    m.get("target").and_then(scalar),
                    m.get("mode").and_then(scalar).and_then(|s| u32::from_str_radix(s.trim_start_matches("0o"), 8).ok()),
                ),
                other => (ctx.string(key, other)?, None, None),
            };
            let target = match target {
                Some(t) if t.starts_with('/') => t,
                Some(t) if key == "secrets" => format!("/run/secrets/{t}"),
                Some(t) => format!("/{t}"),
                None if key == "secrets" => format!("/run/secrets/{source}"),
                None => format!("/{source}"),
            };
            Ok(FileRef { source, target, mode })
        })
        .collect()
}

/// Reads an `env_file`: `KEY=VALUE` lines, `#` comments, optional quotes and `export`.
pub fn read_env_file(path: &Path) -> std::io::Result<IndexMap<String, String>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = IndexMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .unwrap_or(v);
            out.insert(k.trim().to_string(), v.to_string());
        }
    }
    Ok(out)
}

/// Converts one merged service.
pub fn service(ctx: &Ctx<'_>, m: &Mapping, warnings: &mut Vec<String>) -> Result<Service, ComposeError> {
    let mut s = Service { source_file: PathBuf::from(ctx.file), ..Service::default() };
    let mut ps = PrivilegedSettings::default();
    let mut env_files: Vec<PathBuf> = Vec::new();
    let mut environment = IndexMap::new();
    for (k, v) in m {
        let key = scalar(k).unwrap_or_default();
        match key.as_str() {
            k if k.starts_with("x-") => {}
            "image" => s.image = Some(ctx.string(k_(&key), v)?),
            "build" => {
                let mut b = Build { dockerfile: "Dockerfile".into(), ..Build::default() };
                match v {
                    Value::Mapping(bm) => {
                        for (bk, bv) in bm {
                            let bk = scalar(bk).unwrap_or_default();
                            match bk.as_str() {
                                "context" => b.context = ctx.path(&ctx.string("build.context", bv)?),
                                "dockerfile" => b.dockerfile = ctx.string("build.dockerfile", bv)?,
                                "args" => {
                                    b.args = list_or_map(bv, '=').iter().map(|(k, v)| (scalar(k).unwrap_or_default(), scalar(v))).collect()
                                }
                                "target" => b.target = Some(ctx.string("build.target", bv)?),
                                x if x.starts_with("x-") => {}
                                other => return Err(unsupported(ctx, &format!("build.{other}"), " (supported in build: context, dockerfile, args, target)")),
                            }
                        }
                        if b.context.as_os_str().is_empty() {
                            b.context = ctx.path(".");
                        }
                    }
                    other => b.context = ctx.path(&ctx.string("build", other)?),
                }
                s.build = Some(b);
            }
            "command" => s.command = Some(ctx.command("command", v)?),
            "entrypoint" => s.entrypoint = Some(ctx.command("entrypoint", v)?),
            "environment" => {
                for (ek, ev) in list_or_map(v, '=') {
                    environment.insert(scalar(&ek).unwrap_or_default(), scalar(&ev));
                }
            }
            "env_file" => {
                let files = match v {
                    Value::Sequence(items) => items
                        .iter()
                        .map(|i| match i {
                            Value::Mapping(m) => m.get("path").and_then(scalar).ok_or_else(|| ctx.invalid("env_file", "needs `path`")),
                            other => ctx.string("env_file", other),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    other => vec![ctx.string("env_file", other)?],
                };
                env_files.extend(files.iter().map(|f| ctx.path(f)));
            }
            "ports" => s.ports = seq(v).iter().map(|p| port_of(ctx, "ports", p)).collect::<Result<_, _>>()?,
            "expose" => s.expose = seq(v).iter().map(|p| port_of(ctx, "expose", p)).collect::<Result<_, _>>()?,
            "volumes" => s.volumes = seq(v).iter().map(|x| mount(ctx, x)).collect::<Result<_, _>>()?,
            "depends_on" => {
                s.depends_on = match v {
                    Value::Sequence(items) => items
                        .iter()
                        .map(|i| Ok((ctx.string("depends_on", i)?, Dependency { condition: Condition::ServiceStarted, restart: false, required: true })))
                        .collect::<Result<_, ComposeError>>()?,
                    Value::Mapping(dm) => dm
                        .iter()
                        .map(|(dk, dv)| {
                            let cond = match dv.get("condition").and_then(scalar).as_deref() {
                                None | Some("service_started") => Condition::ServiceStarted,
                                Some("service_healthy") => Condition::ServiceHealthy,
                                Some("service_completed_successfully") => Condition::ServiceCompletedSuccessfully,
                                Some(other) => return Err(ctx.invalid("depends_on", format!("unknown condition {other:?}"))),
                            };
                            let flag = |k: &str, d: bool| dv.get(k).map(|b| ctx.bool(k, b)).transpose().map(|o| o.unwrap_or(d));
                            Ok((scalar(dk).unwrap_or_default(), Dependency { condition: cond, restart: flag("restart", false)?, required: flag("required", true)? }))
                        })
                        .collect::<Result<_, ComposeError>>()?,
                    _ => return Err(ctx.invalid("depends_on", "expected a list or a mapping")),
                }
            }
            "healthcheck" => {
                let get = |k: &str| v.get(k).and_then(scalar);
                let dur = |k: &str| -> Result<Option<i64>, ComposeError> {
                    get(k).map(|d| duration_ns(&d).ok_or_else(|| ctx.invalid(&format!("healthcheck.{k}"), format!("{d:?} is not a duration like 10s or 1m30s")))).transpose()
                };
                let test = match v.get("test") {
                    Some(Value::String(cmd)) => vec!["CMD-SHELL".into(), cmd.clone()],
                    Some(t) => ctx.strings("healthcheck.test", t)?,
                    None => Vec::new(),
                };
                s.healthcheck = Some(Healthcheck {
                    test,
                    interval_ns: dur("interval")?,
                    timeout_ns: dur("timeout")?,
                    retries: get("retries").and_then(|r| r.parse().ok()),
                    start_period_ns: dur("start_period")?,
                    start_interval_ns: dur("start_interval")?,
                    disable: v.get("disable").map(|d| ctx.bool("healthcheck.disable", d)).transpose()?.unwrap_or(false),
                });
            }
            "restart" => s.restart = Some(ctx.string("restart", v)?),
            "init" => s.init = Some(ctx.bool("init", v)?),
            "labels" => s.labels = list_or_map(v, '=').iter().map(|(k, v)| (scalar(k).unwrap_or_default(), scalar(v).unwrap_or_default())).collect(),
            "working_dir" => s.working_dir = Some(ctx.string("working_dir", v)?),
            "user" => s.user = Some(ctx.string("user", v)?),
            "networks" => {
                s.networks = match v {
                    Value::Sequence(items) => items.iter().map(|i| Ok((ctx.string("networks", i)?, ServiceNetwork::default()))).collect::<Result<_, ComposeError>>()?,
                    Value::Mapping(nm) => nm
                        .iter()
                        .map(|(nk, nv)| {
                            let aliases = match nv.get("aliases") {
                                Some(a) => ctx.strings("networks.aliases", a)?,
                                None => Vec::new(),
                            };
                            Ok((scalar(nk).unwrap_or_default(), ServiceNetwork { aliases }))
                        })
                        .collect::<Result<_, ComposeError>>()?,
                    _ => return Err(ctx.invalid("networks", "expected a list or a mapping")),
                }
            }
            "extra_hosts" => s.extra_hosts = list_or_map(v, ':').iter().map(|(k, v)| format!("{}:{}", scalar(k).unwrap_or_default(), scalar(v).unwrap_or_default().trim_start_matches('='))).collect(),
            "hostname" => s.hostname = Some(ctx.string("hostname", v)?),
            "stop_signal" => s.stop_signal = Some(ctx.string("stop_signal", v)?),
            "stop_grace_period" => {
                let d = ctx.string("stop_grace_period", v)?;
                s.stop_grace_period_secs = Some((duration_ns(&d).ok_or_else(|| ctx.invalid("stop_grace_period", "not a duration"))? / 1_000_000_000) as u64);
            }
            "tty" => s.tty = ctx.bool("tty", v)?,
            "stdin_open" => s.stdin_open = ctx.bool("stdin_open", v)?,
            "platform" => s.platform = Some(ctx.string("platform", v)?),
            "sysctls" => s.sysctls = list_or_map(v, '=').iter().map(|(k, v)| (scalar(k).unwrap_or_default(), scalar(v).unwrap_or_default())).collect(),
            "mem_limit" => s.mem_limit = Some(bytes(&ctx.string("mem_limit", v)?).ok_or_else(|| ctx.invalid("mem_limit", "not a size like 512m"))?),
            "mem_reservation" => s.mem_reservation = Some(bytes(&ctx.string("mem_reservation", v)?).ok_or_else(|| ctx.invalid("mem_reservation", "not a size"))?),
            "cpus" => s.cpus = Some(ctx.string("cpus", v)?.parse().map_err(|_| ctx.invalid("cpus", "not a number"))?),
            "deploy" => deploy(ctx, v, &mut s)?,
            "secrets" => s.secrets = file_refs(ctx, "secrets", v)?,
            "configs" => s.configs = file_refs(ctx, "configs", v)?,
            "container_name" => warnings.push(format!(
                "{}: service {:?}: container_name is ignored: fixed names would collide between two previews of one repo",
                ctx.file, ctx.service
            )),
            "profiles" => {}
            "privileged" => ps.privileged = ctx.bool("privileged", v)?,
            "cap_add" => ps.cap_add = ctx.strings("cap_add", v)?,
            "cap_drop" => ps.cap_drop = ctx.strings("cap_drop", v)?,
            "devices" => ps.devices = ctx.strings("devices", v)?,
            "network_mode" => ps.network_mode = Some(ctx.string("network_mode", v)?),
            "pid" => ps.pid = Some(ctx.string("pid", v)?),
            "ipc" => ps.ipc = Some(ctx.string("ipc", v)?),
            "security_opt" => ps.security_opt = ctx.strings("security_opt", v)?,
            other => return Err(unsupported(ctx, other, "")),
        }
    }
    // env_file first, then `environment:` wins.
    for f in &env_files {
        let vars = read_env_file(f).map_err(|e| ctx.invalid("env_file", format!("{}: {e}", f.display())))?;
        for (k, v) in vars {
            s.environment.insert(k, Some(v));
        }
    }
    s.environment.extend(environment);
    s.privileged_settings = ps;
    s.source_file = PathBuf::from(ctx.file);
    Ok(s)
}

/// Identity, to keep `match` arms readable.
fn k_(k: &str) -> &str {
    k
}

fn seq(v: &Value) -> Vec<Value> {
    match v {
        Value::Sequence(s) => s.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn unsupported(ctx: &Ctx<'_>, key: &str, hint: &str) -> ComposeError {
    ComposeError::UnsupportedKey {
        file: ctx.file.into(),
        where_: format!("service {:?}", ctx.service),
        key: key.into(),
        hint: if hint.is_empty() { " (see the README's list of supported compose keys)".into() } else { hint.into() },
    }
}

fn deploy(ctx: &Ctx<'_>, v: &Value, s: &mut Service) -> Result<(), ComposeError> {
    let Value::Mapping(m) = v else {
        return Err(ctx.invalid("deploy", "expected a mapping"));
    };
    for (k, dv) in m {
        let k = scalar(k).unwrap_or_default();
        if k != "resources" {
            return Err(unsupported(ctx, &format!("deploy.{k}"), " (only deploy.resources is supported)"));
        }
        let Value::Mapping(r) = dv else { continue };
        for (rk, rv) in r {
            let rk = scalar(rk).unwrap_or_default();
            let Value::Mapping(lim) = rv else { continue };
            for (lk, lv) in lim {
                let lk = scalar(lk).unwrap_or_default();
                let val = scalar(lv).unwrap_or_default();
                match (rk.as_str(), lk.as_str()) {
                    ("limits", "cpus") => s.cpus = Some(val.parse().map_err(|_| ctx.invalid("deploy.resources.limits.cpus", "not a number"))?),
                    ("limits", "memory") => s.mem_limit = Some(bytes(&val).ok_or_else(|| ctx.invalid("deploy.resources.limits.memory", "not a size"))?),
                    ("reservations", "memory") => s.mem_reservation = Some(bytes(&val).ok_or_else(|| ctx.invalid("deploy.resources.reservations.memory", "not a size"))?),
                    ("reservations", "cpus") => {}
                    _ => return Err(unsupported(ctx, &format!("deploy.resources.{rk}.{lk}"), " (supported: limits.cpus, limits.memory, reservations.memory)")),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_sizes_and_shell_words_parse_like_compose() {
        assert_eq!(duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(duration_ns("500ms"), Some(500_000_000));
        assert_eq!(duration_ns("10"), Some(10_000_000_000));
        assert_eq!(duration_ns("10x"), None);
        assert_eq!(bytes("512m"), Some(512 * 1024 * 1024));
        assert_eq!(bytes("1g"), Some(1024 * 1024 * 1024));
        assert_eq!(bytes("1024"), Some(1024));
        assert_eq!(shell_words(r#"sh -c "echo 'a b'" x\ y"#), Some(vec!["sh".into(), "-c".into(), "echo 'a b'".into(), "x y".into()]));
        assert_eq!(shell_words("a 'b"), None);
    }

    #[test]
    fn env_files_take_comments_quotes_and_export() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join(".env");
        std::fs::write(&f, "# c\nA=1\nexport B=\"two words\"\nC='x'\n\n").unwrap();
        let m = read_env_file(&f).unwrap();
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two words");
        assert_eq!(m["C"], "x");
    }
}
