//! From a merged YAML service to the typed [`Service`]: every key is handled
//! by name, and a key not in the list is refused naming the file, the service
//! and the key (`x-*` keys are ignored anywhere).

mod mounts;
mod nested;
mod structure;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_norway::{Mapping, Value};

use super::merge::{list_or_map, scalar};
use super::paths;
use super::units::{bytes, duration_ns, shell_words};
use crate::compose::error::ComposeError;
use crate::compose::model::{PrivilegedSettings, Service};

/// Service keys Branchyard understands (besides `x-*`).
pub const SUPPORTED: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "volumes",
    "depends_on",
    "healthcheck",
    "restart",
    "init",
    "labels",
    "working_dir",
    "user",
    "networks",
    "extra_hosts",
    "hostname",
    "stop_signal",
    "stop_grace_period",
    "tty",
    "stdin_open",
    "platform",
    "sysctls",
    "mem_limit",
    "mem_reservation",
    "cpus",
    "deploy",
    "secrets",
    "configs",
    "container_name",
    "profiles",
    "extends",
    "privileged",
    "cap_add",
    "cap_drop",
    "devices",
    "network_mode",
    "pid",
    "ipc",
    "security_opt",
    "links",
    "external_links",
    "volumes_from",
    "scale",
    "post_start",
    "pre_stop",
];

/// Where a value came from, and what relative paths and bare variables resolve against.
pub struct Ctx<'a> {
    /// The compose file.
    pub file: &'a str,
    /// The service.
    pub service: &'a str,
    /// Directory relative paths resolve against (the project directory).
    pub dir: &'a Path,
    /// Variables for bare `environment:` keys, `env_file:` and `build.args` (process env over `.env`).
    pub env: &'a IndexMap<String, String>,
    /// For untrusted repos, the worktree: env files outside it are refused before being read.
    pub confine: Option<&'a Path>,
}

impl Ctx<'_> {
    fn where_(&self) -> String {
        format!("service {:?}", self.service)
    }

    /// A value of the wrong shape at `key`.
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ComposeError {
        ComposeError::Invalid {
            file: self.file.into(),
            where_: self.where_(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// `key` is not supported; `supported` lists what is, at that level.
    pub fn unsupported(&self, key: &str, supported: &[&str]) -> ComposeError {
        ComposeError::UnsupportedKey {
            file: self.file.into(),
            where_: self.where_(),
            key: key.into(),
            hint: format!(" (supported: {})", supported.join(", ")),
        }
    }

    /// Refuses keys of `m` outside `supported` (`x-*` aside), naming them `prefix.key`.
    pub fn only(&self, prefix: &str, m: &Mapping, supported: &[&str]) -> Result<(), ComposeError> {
        for k in m.keys() {
            let k = scalar(k).unwrap_or_default();
            if !k.starts_with("x-") && !supported.contains(&k.as_str()) {
                return Err(self.unsupported(&format!("{prefix}.{k}"), supported));
            }
        }
        Ok(())
    }

    /// A mapping, or the error naming `key`.
    pub fn mapping<'v>(&self, key: &str, v: &'v Value) -> Result<&'v Mapping, ComposeError> {
        match v {
            Value::Mapping(m) => Ok(m),
            _ => Err(self.invalid(key, "expected a mapping")),
        }
    }

    /// A scalar as a string.
    pub fn string(&self, key: &str, v: &Value) -> Result<String, ComposeError> {
        scalar(v).ok_or_else(|| self.invalid(key, "expected a string"))
    }

    /// `true`/`false`, also as the strings interpolation leaves.
    pub fn bool(&self, key: &str, v: &Value) -> Result<bool, ComposeError> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
            _ => Err(self.invalid(key, "expected true or false")),
        }
    }

    /// A list of strings (a single string counts as a list of one).
    pub fn strings(&self, key: &str, v: &Value) -> Result<Vec<String>, ComposeError> {
        match v {
            Value::Sequence(items) => items.iter().map(|i| self.string(key, i)).collect(),
            Value::Null => Ok(Vec::new()),
            other => Ok(vec![self.string(key, other)?]),
        }
    }

    /// A whole number.
    pub fn int(&self, key: &str, v: &Value) -> Result<i64, ComposeError> {
        self.string(key, v)?
            .trim()
            .parse()
            .map_err(|_| self.invalid(key, "expected a whole number"))
    }

    /// A duration like `10s` or `1m30s`, in nanoseconds.
    pub fn duration(&self, key: &str, v: &Value) -> Result<i64, ComposeError> {
        let d = self.string(key, v)?;
        duration_ns(&d).ok_or_else(|| {
            self.invalid(
                key,
                format!("{d:?} is not a duration like 10s, 500ms or 1m30s"),
            )
        })
    }

    /// A size like `512m` or `1g`, in bytes.
    pub fn size(&self, key: &str, v: &Value) -> Result<i64, ComposeError> {
        let s = self.string(key, v)?;
        bytes(&s).ok_or_else(|| {
            self.invalid(
                key,
                format!("{s:?} is not a size like 512m, 1g or a number of bytes"),
            )
        })
    }

    /// A command: a list as is, a string split like a shell would.
    pub fn command(&self, key: &str, v: &Value) -> Result<Vec<String>, ComposeError> {
        match v {
            Value::Sequence(_) => self.strings(key, v),
            Value::String(s) => {
                shell_words(s).ok_or_else(|| self.invalid(key, "a quote is never closed"))
            }
            _ => Err(self.invalid(key, "expected a string or a list")),
        }
    }

    /// A host path against the project directory, cleaned and with symlinks resolved.
    pub fn path(&self, p: &str) -> PathBuf {
        paths::absolute(self.dir, p)
    }
}

/// Converts one merged service.
///
/// # Errors
/// An unsupported key, or a value of the wrong shape, naming file, service and key.
pub fn service(
    ctx: &Ctx<'_>,
    m: &Mapping,
    warnings: &mut Vec<String>,
) -> Result<Service, ComposeError> {
    let mut s = Service {
        source_file: PathBuf::from(ctx.file),
        ..Service::default()
    };
    let mut ps = PrivilegedSettings::default();
    let mut environment: Option<&Value> = None;
    let mut scale: Option<u32> = None;
    let mut container_name = false;
    for (k, v) in m {
        let key = scalar(k).unwrap_or_default();
        // `key: null` is the same as leaving the key out, as in compose.
        if matches!(v, Value::Null) || key.starts_with("x-") {
            continue;
        }
        match key.as_str() {
            "image" => s.image = Some(ctx.string("image", v)?),
            "build" => s.build = Some(nested::build(ctx, v)?),
            "command" => s.command = Some(ctx.command("command", v)?),
            "entrypoint" => s.entrypoint = Some(ctx.command("entrypoint", v)?),
            "environment" => environment = Some(v),
            "env_file" => s.env_files = nested::env_files(ctx, v)?,
            "ports" => s.ports = mounts::ports(ctx, "ports", v)?,
            "expose" => s.expose = mounts::ports(ctx, "expose", v)?,
            "volumes" => s.volumes = mounts::volumes(ctx, v)?,
            "depends_on" => s.depends_on = nested::depends_on(ctx, v)?,
            "healthcheck" => s.healthcheck = Some(nested::healthcheck(ctx, v)?),
            "restart" => s.restart = Some(restart(ctx, v)?),
            "init" => s.init = Some(ctx.bool("init", v)?),
            "labels" => s.labels = pairs(v, '='),
            "working_dir" => s.working_dir = Some(ctx.string("working_dir", v)?),
            "user" => s.user = Some(ctx.string("user", v)?),
            "networks" => s.networks = nested::networks(ctx, v)?,
            "extra_hosts" => {
                s.extra_hosts = pairs(v, ':')
                    .into_iter()
                    .map(|(host, ip)| format!("{host}:{ip}"))
                    .collect();
            }
            "hostname" => s.hostname = Some(ctx.string("hostname", v)?),
            "stop_signal" => s.stop_signal = Some(ctx.string("stop_signal", v)?),
            "stop_grace_period" => {
                let ns = ctx.duration("stop_grace_period", v)?;
                s.stop_grace_period_secs = Some((ns as u64).div_ceil(1_000_000_000));
            }
            "tty" => s.tty = ctx.bool("tty", v)?,
            "stdin_open" => s.stdin_open = ctx.bool("stdin_open", v)?,
            "platform" => s.platform = Some(ctx.string("platform", v)?),
            "sysctls" => s.sysctls = pairs(v, '='),
            "mem_limit" => s.mem_limit = Some(ctx.size("mem_limit", v)?),
            "mem_reservation" => s.mem_reservation = Some(ctx.size("mem_reservation", v)?),
            "cpus" => s.cpus = Some(cpus(ctx, "cpus", v)?),
            "deploy" => nested::deploy(ctx, v, &mut s)?,
            "secrets" => s.secrets = nested::file_refs(ctx, "secrets", v)?,
            "configs" => s.configs = nested::file_refs(ctx, "configs", v)?,
            "container_name" => {
                container_name = true;
                warnings.push(format!(
                "{}: service {:?}: container_name is ignored: a fixed name would collide between two previews of this repo",
                ctx.file, ctx.service
                ));
            }
            // Read by the profile filter; resolved before typing.
            "profiles" => {
                ctx.strings("profiles", v)?;
            }
            "extends" => {}
            "privileged" => ps.privileged = ctx.bool("privileged", v)?,
            "cap_add" => ps.cap_add = ctx.strings("cap_add", v)?,
            "cap_drop" => ps.cap_drop = ctx.strings("cap_drop", v)?,
            "devices" => ps.devices = nested::devices(ctx, v)?,
            "network_mode" => ps.network_mode = Some(ctx.string("network_mode", v)?),
            "pid" => ps.pid = Some(ctx.string("pid", v)?),
            "ipc" => ps.ipc = Some(ctx.string("ipc", v)?),
            "security_opt" => ps.security_opt = ctx.strings("security_opt", v)?,
            "links" => s.links = structure::links(ctx, v)?,
            "external_links" => structure::external_links(ctx, v)?,
            "volumes_from" => s.volumes_from = structure::volumes_from(ctx, v)?,
            "scale" => scale = Some(structure::replicas(ctx, "scale", v)?),
            "post_start" => s.post_start = structure::hooks(ctx, "post_start", v)?,
            "pre_stop" => s.pre_stop = structure::hooks(ctx, "pre_stop", v)?,
            other => return Err(ctx.unsupported(other, SUPPORTED)),
        }
    }
    s.environment = nested::environment(ctx, &s.env_files, environment)?;
    s.scale = structure::scale(ctx, scale, s.scale, container_name)?;
    s.privileged_settings = ps;
    Ok(s)
}

/// `K=V` list or mapping as strings (a bare `K` or `null` gives "").
fn pairs(v: &Value, sep: char) -> IndexMap<String, String> {
    list_or_map(v, sep)
        .iter()
        .map(|(k, v)| (scalar(k).unwrap_or_default(), scalar(v).unwrap_or_default()))
        .collect()
}

fn restart(ctx: &Ctx<'_>, v: &Value) -> Result<String, ComposeError> {
    let r = match v {
        Value::Bool(false) => "no".to_string(),
        other => ctx.string("restart", other)?,
    };
    let ok = matches!(
        r.as_str(),
        "no" | "always" | "unless-stopped" | "on-failure"
    ) || r
        .strip_prefix("on-failure:")
        .is_some_and(|n| n.parse::<u32>().is_ok());
    if !ok {
        return Err(ctx.invalid(
            "restart",
            format!("{r:?} is not one of no, always, on-failure[:N], unless-stopped"),
        ));
    }
    Ok(r)
}

/// A CPU count like `0.5` or `"2"`.
pub fn cpus(ctx: &Ctx<'_>, key: &str, v: &Value) -> Result<f64, ComposeError> {
    let s = ctx.string(key, v)?;
    match s.trim().parse::<f64>() {
        Ok(n) if n > 0.0 => Ok(n),
        _ => Err(ctx.invalid(key, format!("{s:?} is not a positive number of CPUs"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn with<T>(yaml: &str, f: impl FnOnce(&Ctx<'_>, &Mapping) -> T) -> T {
        let env: IndexMap<String, String> = [("FROM_ENV".to_string(), "e".to_string())]
            .into_iter()
            .collect();
        let dir = Path::new("/nonexistent/project");
        let ctx = Ctx {
            file: "compose.yaml",
            service: "web",
            dir,
            env: &env,
            confine: None,
        };
        let v: Value = serde_norway::from_str(yaml).unwrap();
        let Value::Mapping(m) = v else {
            panic!("not a mapping")
        };
        f(&ctx, &m)
    }

    fn svc(yaml: &str) -> Result<Service, ComposeError> {
        with(yaml, |ctx, m| service(ctx, m, &mut Vec::new()))
    }

    #[test]
    fn an_unsupported_key_names_file_service_key_and_what_is_supported() {
        let e = svc("image: x\nlinkz: [db]\n").unwrap_err().to_string();
        assert!(e.starts_with("compose.yaml: service \"web\": key \"linkz\" is not supported by Branchyard (supported: image, build,"), "{e}");
    }

    #[test]
    fn x_keys_and_nulls_are_ignored() {
        let s = svc("image: x\nx-note: {anything: 1}\ncommand:\n").unwrap();
        assert_eq!(s.command, None);
    }

    #[test]
    fn commands_split_like_a_shell_and_lists_stay() {
        let s = svc("image: x\ncommand: sh -c \"echo hi\"\nentrypoint: [/bin/sh, -c]\n").unwrap();
        assert_eq!(
            s.command,
            Some(vec!["sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(s.entrypoint, Some(vec!["/bin/sh".into(), "-c".into()]));
        assert!(svc("image: x\nentrypoint: \"sh 'x\"\n")
            .unwrap_err()
            .to_string()
            .contains("entrypoint"));
    }

    #[test]
    fn scalars_flags_and_sizes() {
        let s = svc(
            "image: x\nrestart: on-failure:3\ninit: 'true'\nuser: 1000\nworking_dir: /app\nhostname: h\nstop_signal: SIGINT\n\
             stop_grace_period: 1m30s\ntty: true\nstdin_open: true\nplatform: linux/amd64\nmem_limit: 512m\nmem_reservation: 1g\ncpus: 1.5\n",
        )
        .unwrap();
        assert_eq!(s.restart.as_deref(), Some("on-failure:3"));
        assert_eq!(s.init, Some(true));
        assert_eq!(s.user.as_deref(), Some("1000"));
        assert_eq!(s.stop_grace_period_secs, Some(90));
        assert!(s.tty && s.stdin_open);
        assert_eq!(s.mem_limit, Some(512 * 1024 * 1024));
        assert_eq!(s.mem_reservation, Some(1024 * 1024 * 1024));
        assert_eq!(s.cpus, Some(1.5));
        assert!(svc("image: x\nrestart: sometimes\n")
            .unwrap_err()
            .to_string()
            .contains("restart"));
        assert!(svc("image: x\nmem_limit: lots\n")
            .unwrap_err()
            .to_string()
            .contains("mem_limit"));
    }

    #[test]
    fn labels_sysctls_and_extra_hosts_take_list_and_map_forms() {
        let s = svc("image: x\nlabels: [a=1, b]\nsysctls: {net.core.somaxconn: 1024}\nextra_hosts: ['db:10.0.0.1', 'v6=::1']\n").unwrap();
        assert_eq!(
            s.labels,
            IndexMap::from([
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), String::new())
            ])
        );
        assert_eq!(s.sysctls["net.core.somaxconn"], "1024");
        assert_eq!(
            s.extra_hosts,
            vec!["db:10.0.0.1".to_string(), "v6:::1".to_string()]
        );
        let s = svc("image: x\nextra_hosts: {db: 10.0.0.1}\n").unwrap();
        assert_eq!(s.extra_hosts, vec!["db:10.0.0.1".to_string()]);
    }

    #[test]
    fn privileged_settings_are_carried_for_trusted_repos() {
        let s = svc(
            "image: x\nprivileged: true\ncap_add: [NET_ADMIN]\ncap_drop: [ALL]\ndevices: ['/dev/fuse', {source: /dev/kvm, target: /dev/kvm, permissions: rwm}]\n\
             network_mode: host\npid: host\nipc: host\nsecurity_opt: ['seccomp=unconfined']\n",
        )
        .unwrap();
        let ps = s.privileged_settings;
        assert!(ps.privileged);
        assert_eq!(ps.cap_add, vec!["NET_ADMIN".to_string()]);
        assert_eq!(
            ps.devices,
            vec!["/dev/fuse".to_string(), "/dev/kvm:/dev/kvm:rwm".to_string()]
        );
        assert_eq!(
            (
                ps.network_mode.as_deref(),
                ps.pid.as_deref(),
                ps.ipc.as_deref()
            ),
            (Some("host"), Some("host"), Some("host"))
        );
    }

    #[test]
    fn container_name_is_accepted_with_a_warning() {
        let mut w = Vec::new();
        with("image: x\ncontainer_name: fixed\n", |ctx, m| {
            service(ctx, m, &mut w)
        })
        .unwrap();
        assert!(
            w[0].contains("container_name") && w[0].contains("\"web\""),
            "{w:?}"
        );
    }
}
