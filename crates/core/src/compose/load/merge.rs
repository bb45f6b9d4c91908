//! Merging compose files (and `extends`) by compose's rules, on YAML trees:
//!
//! - mappings merge key by key; scalars are replaced; a `null` keeps the old value;
//! - `command`, `entrypoint` and `healthcheck.test` are replaced, never appended;
//! - `environment`, `labels`, `annotations`, `sysctls`, `extra_hosts`,
//!   `build.args` merge by name, whether written as a list or a mapping;
//! - `networks`, `depends_on` (list or mapping) and `build` (string or mapping) merge as mappings;
//! - other sequences are appended; `ports`, `expose`, `volumes`, `devices`,
//!   `secrets`, `configs`, `cap_add`, `cap_drop`, `dns`, `dns_search`,
//!   `tmpfs`, `profiles`, `env_file` then keep one entry per unique key (the
//!   container path for mounts, the target for secrets), the later winning;
//! - the `!reset` tag removes a value, `!override` replaces it without merging.
//!
//! Rules follow the compose documentation's merge page and compose-go.

use serde_norway::{Mapping, Value};

/// How the value at one path merges.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// Replaced wholesale.
    Replace,
    /// `K=V` list or mapping, merged by name; `sep` splits list items.
    ByName(char),
    /// List of names or mapping, merged as a mapping.
    AsMapping,
    /// `build:` string shorthand for `{context: …}`.
    Build,
    /// Anything else: the generic rules.
    Generic,
}

const RULES: &[(&str, Rule)] = &[
    ("services.*.command", Rule::Replace),
    ("services.*.entrypoint", Rule::Replace),
    ("services.*.healthcheck.test", Rule::Replace),
    ("services.*.environment", Rule::ByName('=')),
    ("services.*.labels", Rule::ByName('=')),
    ("services.*.annotations", Rule::ByName('=')),
    ("services.*.sysctls", Rule::ByName('=')),
    ("services.*.extra_hosts", Rule::ByName(':')),
    ("services.*.build.args", Rule::ByName('=')),
    ("services.*.build.labels", Rule::ByName('=')),
    ("services.*.deploy.labels", Rule::ByName('=')),
    ("networks.*.labels", Rule::ByName('=')),
    ("volumes.*.labels", Rule::ByName('=')),
    ("services.*.networks", Rule::AsMapping),
    ("services.*.depends_on", Rule::AsMapping),
    ("services.*.build", Rule::Build),
];

/// The unique key of a sequence entry, when it has one.
type KeyOf = fn(&Value) -> Option<String>;

/// Sequences that keep one entry per key, and how to compute the key.
const UNIQUE: &[(&str, KeyOf)] = &[
    ("services.*.volumes", mount_target),
    ("services.*.devices", mount_target),
    ("services.*.secrets", |v| {
        file_ref_target(v, "/run/secrets/")
    }),
    ("services.*.configs", |v| file_ref_target(v, "/")),
    ("services.*.ports", port_key),
    ("services.*.expose", scalar),
    ("services.*.cap_add", scalar),
    ("services.*.cap_drop", scalar),
    ("services.*.dns", scalar),
    ("services.*.dns_search", scalar),
    ("services.*.tmpfs", scalar),
    ("services.*.profiles", scalar),
    ("services.*.env_file", env_file_path),
    ("services.*.networks.*.aliases", scalar),
];

/// A scalar as a string (numbers and booleans as YAML writes them).
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `K=V` / `K` list items, or a mapping, as a mapping (`null` for a bare `K`).
/// For `extra_hosts` (`sep` = `:`) an item may also be written `host=ip`.
pub fn list_or_map(v: &Value, sep: char) -> Mapping {
    match v {
        Value::Mapping(m) => m.clone(),
        Value::Sequence(items) => {
            let mut m = Mapping::new();
            for it in items {
                let s = scalar(it).unwrap_or_default();
                let split = if sep == ':' && s.contains('=') {
                    s.split_once('=')
                } else {
                    s.split_once(sep)
                };
                match split {
                    Some((k, val)) => m.insert(
                        Value::String(k.trim().to_string()),
                        Value::String(val.to_string()),
                    ),
                    None => m.insert(Value::String(s.trim().to_string()), Value::Null),
                };
            }
            m
        }
        _ => Mapping::new(),
    }
}

fn matches(path: &[String], pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('.').collect();
    parts.len() == path.len() && parts.iter().zip(path).all(|(p, s)| *p == "*" || p == s)
}

fn rule(path: &[String]) -> Rule {
    RULES
        .iter()
        .find(|(p, _)| matches(path, p))
        .map(|(_, r)| *r)
        .unwrap_or(Rule::Generic)
}

fn tag_is(v: &Value, name: &str) -> bool {
    matches!(v, Value::Tagged(t) if t.tag == name)
}

fn untagged(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => untagged(&t.value),
        other => other,
    }
}

fn as_mapping(v: &Value) -> Mapping {
    match v {
        Value::Sequence(items) => items
            .iter()
            .filter_map(scalar)
            .map(|n| (Value::String(n), Value::Null))
            .collect(),
        Value::Mapping(m) => m.clone(),
        _ => Mapping::new(),
    }
}

fn build_mapping(v: &Value) -> Mapping {
    match v {
        Value::Mapping(m) => m.clone(),
        other => {
            let mut m = Mapping::new();
            if let Some(ctx) = scalar(other) {
                m.insert(Value::String("context".into()), Value::String(ctx));
            }
            m
        }
    }
}

/// Merges `over` onto `base`; `path` is where both sit (`["services", "web"]`).
pub fn merge(base: &Value, over: &Value, path: &[String]) -> Value {
    if tag_is(over, "override") {
        return untagged(over).clone();
    }
    if matches!(over, Value::Null) {
        return base.clone();
    }
    match rule(path) {
        Rule::Replace => over.clone(),
        Rule::ByName(sep) => {
            let mut m = list_or_map(untagged(base), sep);
            for (k, v) in list_or_map(untagged(over), sep) {
                if tag_is(&v, "reset") {
                    m.shift_remove(&k);
                } else {
                    m.insert(k, untagged(&v).clone());
                }
            }
            Value::Mapping(m)
        }
        Rule::AsMapping => {
            Value::Mapping(merge_mapping(&as_mapping(base), &as_mapping(over), path))
        }
        Rule::Build => Value::Mapping(merge_mapping(
            &build_mapping(base),
            &build_mapping(over),
            path,
        )),
        Rule::Generic => match (base, over) {
            (Value::Mapping(a), Value::Mapping(b)) => Value::Mapping(merge_mapping(a, b, path)),
            (Value::Sequence(a), Value::Sequence(b)) => {
                let mut out = Value::Sequence(a.iter().chain(b).cloned().collect());
                unique(&mut out, path);
                out
            }
            _ => over.clone(),
        },
    }
}

fn merge_mapping(a: &Mapping, b: &Mapping, path: &[String]) -> Mapping {
    let mut out = a.clone();
    for (k, v) in b {
        if tag_is(v, "reset") {
            out.shift_remove(k);
            continue;
        }
        let mut sub = path.to_vec();
        sub.push(scalar(k).unwrap_or_default());
        let merged = match a.get(k) {
            Some(old) => merge(old, v, &sub),
            None => v.clone(),
        };
        out.insert(k.clone(), merged);
    }
    out
}

/// Merges a whole file onto what the earlier files gave.
pub fn document(base: &Mapping, over: &Mapping) -> Mapping {
    merge_mapping(base, over, &[])
}

/// Keeps one entry per unique key where compose does, the later in place of the earlier.
fn unique(v: &mut Value, path: &[String]) {
    let Some((_, key_of)) = UNIQUE.iter().find(|(p, _)| matches(path, p)) else {
        return;
    };
    let Value::Sequence(items) = v else { return };
    let mut out: Vec<Value> = Vec::new();
    let mut keys: Vec<Option<String>> = Vec::new();
    for item in items.drain(..) {
        let key = key_of(untagged(&item));
        match key
            .as_ref()
            .and_then(|k| keys.iter().position(|x| x.as_ref() == Some(k)))
        {
            Some(pos) => out[pos] = item,
            None => {
                keys.push(key);
                out.push(item);
            }
        }
    }
    *items = out;
}

/// Applies the uniqueness rules everywhere (duplicates within one file too),
/// then settles tags left in values no merge touched: `!reset` entries go,
/// `!override` is dropped. Any other tag is returned as an error (`path`, tag).
pub fn settle(v: &mut Value, path: &mut Vec<String>) -> Result<(), (String, String)> {
    match v {
        Value::Mapping(m) => {
            m.retain(|_, item| !tag_is(item, "reset"));
            for (k, item) in m.iter_mut() {
                path.push(scalar(k).unwrap_or_default());
                settle(item, path)?;
                path.pop();
            }
        }
        Value::Sequence(items) => {
            items.retain(|item| !tag_is(item, "reset"));
            for item in items.iter_mut() {
                path.push("*".into());
                settle(item, path)?;
                path.pop();
            }
            unique(v, path);
        }
        Value::Tagged(t) if t.tag == "override" => {
            *v = t.value.clone();
            settle(v, path)?;
        }
        Value::Tagged(t) => return Err((path.join("."), t.tag.to_string())),
        _ => {}
    }
    Ok(())
}

/// The container path of a `volumes:`/`devices:` entry.
fn mount_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(
                if parts.len() == 1 { parts[0] } else { parts[1] }
                    .trim_end_matches('/')
                    .to_string(),
            )
        }
        Value::Mapping(m) => m
            .get("target")
            .and_then(scalar)
            .map(|t| t.trim_end_matches('/').to_string()),
        _ => None,
    }
}

fn file_ref_target(v: &Value, default_dir: &str) -> Option<String> {
    match v {
        Value::String(s) => Some(format!("{default_dir}{s}")),
        Value::Mapping(m) => match m.get("target").and_then(scalar) {
            Some(t) if t.starts_with('/') => Some(t),
            Some(t) => Some(format!("{default_dir}{t}")),
            None => m
                .get("source")
                .and_then(scalar)
                .map(|s| format!("{default_dir}{s}")),
        },
        _ => None,
    }
}

/// `{host_ip, published, target, protocol}` of a long-form port; short forms as written.
fn port_key(v: &Value) -> Option<String> {
    match v {
        Value::Mapping(m) => {
            let get = |k: &str| m.get(k).and_then(scalar);
            Some(format!(
                "{}:{}:{}/{}",
                get("host_ip").unwrap_or_else(|| "0.0.0.0".into()),
                get("published").unwrap_or_default(),
                get("target").unwrap_or_default(),
                get("protocol").unwrap_or_else(|| "tcp".into())
            ))
        }
        other => scalar(other),
    }
}

fn env_file_path(v: &Value) -> Option<String> {
    match v {
        Value::Mapping(m) => m.get("path").and_then(scalar),
        other => scalar(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_norway::from_str(s).unwrap()
    }

    /// Merges two service bodies as two files would, then settles tags.
    fn svc(base: &str, over: &str) -> Value {
        let path = vec!["services".to_string(), "web".to_string()];
        let mut v = merge(&y(base), &y(over), &path);
        settle(&mut v, &mut path.clone()).unwrap();
        v
    }

    #[test]
    fn scalars_and_nested_mappings_are_overridden_key_by_key() {
        let m = svc(
            "image: a\nbuild: {context: ., target: dev}\n",
            "image: b\nbuild: {target: prod}\n",
        );
        assert_eq!(m, y("image: b\nbuild: {context: ., target: prod}\n"));
    }

    #[test]
    fn a_null_keeps_the_earlier_value() {
        assert_eq!(svc("image: a\n", "image:\n"), y("image: a\n"));
    }

    #[test]
    fn build_strings_merge_as_a_context() {
        assert_eq!(
            svc("build: ./app\n", "build: {target: prod}\n"),
            y("build: {context: ./app, target: prod}\n")
        );
    }

    #[test]
    fn commands_entrypoints_and_health_tests_are_replaced_not_appended() {
        let m = svc(
            "command: [a, b]\nentrypoint: [sh]\nhealthcheck: {test: [CMD, x], interval: 1s}\n",
            "command: [c]\nentrypoint: [bash, -c]\nhealthcheck: {test: [CMD, y]}\n",
        );
        assert_eq!(m, y("command: [c]\nentrypoint: [bash, -c]\nhealthcheck: {test: [CMD, y], interval: 1s}\n"));
    }

    #[test]
    fn environment_labels_and_sysctls_merge_by_name_across_list_and_map_forms() {
        let m = svc(
            "environment: [A=1, B=2]\nlabels: {x: '1'}\nsysctls: [net.a=1]\n",
            "environment: {B: '3', C: '4'}\nlabels: [y=2]\nsysctls: {net.a: '2'}\n",
        );
        assert_eq!(m, y("environment: {A: '1', B: '3', C: '4'}\nlabels: {x: '1', y: '2'}\nsysctls: {net.a: '2'}\n"));
    }

    #[test]
    fn extra_hosts_merge_by_host_in_either_notation() {
        let m = svc(
            "extra_hosts: ['db:10.0.0.1', 'v6:::1']\n",
            "extra_hosts: ['db=10.0.0.2']\n",
        );
        assert_eq!(m, y("extra_hosts: {db: 10.0.0.2, v6: '::1'}\n"));
    }

    #[test]
    fn volumes_and_devices_merge_by_container_path() {
        let m = svc(
            "volumes: ['./original:/foo', './original:/bar', {type: tmpfs, target: /t}]\ndevices: ['/dev/a:/dev/x']\n",
            "volumes: ['./local:/bar', './local:/baz', {type: tmpfs, target: /t/, tmpfs: {size: 1m}}]\ndevices: ['/dev/b:/dev/x']\n",
        );
        assert_eq!(
            m,
            y("volumes: ['./original:/foo', './local:/bar', {type: tmpfs, target: /t/, tmpfs: {size: 1m}}, './local:/baz']\ndevices: ['/dev/b:/dev/x']\n")
        );
    }

    #[test]
    fn ports_expose_dns_and_tmpfs_are_concatenated_keeping_one_of_each() {
        let m = svc(
            "ports: ['80', '8080:80']\nexpose: ['3000']\ndns: [1.1.1.1]\ndns_search: [a]\ntmpfs: [/run]\nexternal_links: [x]\n",
            "ports: ['80', '443']\nexpose: ['4000', '5000']\ndns: [8.8.8.8]\ndns_search: [b]\ntmpfs: [/run, /tmp]\nexternal_links: [y]\n",
        );
        assert_eq!(
            m,
            y("ports: ['80', '8080:80', '443']\nexpose: ['3000', '4000', '5000']\ndns: [1.1.1.1, 8.8.8.8]\ndns_search: [a, b]\ntmpfs: [/run, /tmp]\nexternal_links: [x, y]\n")
        );
    }

    #[test]
    fn long_form_ports_are_unique_by_ip_published_target_and_protocol() {
        let m = svc(
            "ports: [{target: 80, published: 8080}, {target: 80, protocol: udp}]\n",
            "ports: [{target: 80, published: 8080, name: web}]\n",
        );
        assert_eq!(
            m,
            y("ports: [{target: 80, published: 8080, name: web}, {target: 80, protocol: udp}]\n")
        );
    }

    #[test]
    fn secrets_and_configs_are_unique_by_target() {
        let m = svc(
            "secrets: [db, {source: api, target: /etc/api}]\nconfigs: [app]\n",
            "secrets: [{source: db2, target: db}, {source: api2, target: /etc/api}]\nconfigs: [{source: app, mode: 0400}]\n",
        );
        assert_eq!(m, y("secrets: [{source: db2, target: db}, {source: api2, target: /etc/api}]\nconfigs: [{source: app, mode: 0400}]\n"));
    }

    #[test]
    fn networks_and_depends_on_merge_as_mappings_from_either_form() {
        let m = svc(
            "networks: [front]\ndepends_on: {db: {condition: service_healthy}}\n",
            "networks: {back: {aliases: [b]}}\ndepends_on: [db, cache]\n",
        );
        assert_eq!(
            m,
            y("networks: {front: null, back: {aliases: [b]}}\ndepends_on: {db: {condition: service_healthy}, cache: null}\n")
        );
    }

    #[test]
    fn reset_removes_and_override_replaces() {
        let m = svc(
            "ports: ['8080:80']\nenvironment: {FOO: bar, KEEP: x}\nvolumes: ['a:/a']\n",
            "ports: !reset []\nenvironment: {FOO: !reset null}\nvolumes: !override ['b:/b']\n",
        );
        assert_eq!(m, y("environment: {KEEP: x}\nvolumes: ['b:/b']\n"));
    }

    #[test]
    fn duplicates_within_one_file_keep_the_last_and_unknown_tags_are_errors() {
        let mut v = y("services: {web: {volumes: ['a:/data', 'b:/data'], image: !override x}}\n");
        settle(&mut v, &mut Vec::new()).unwrap();
        assert_eq!(v, y("services: {web: {volumes: ['b:/data'], image: x}}\n"));
        let mut v = y("services: {web: {image: !custom x}}\n");
        assert_eq!(
            settle(&mut v, &mut Vec::new()),
            Err(("services.web.image".to_string(), "!custom".to_string()))
        );
    }

    #[test]
    fn files_merge_as_documents_adding_services() {
        let a = y("services: {web: {image: a}}\nvolumes: {data: {}}\n");
        let b = y("services: {web: {image: b}, db: {image: c}}\n");
        let (Value::Mapping(a), Value::Mapping(b)) = (a, b) else {
            panic!()
        };
        assert_eq!(
            Value::Mapping(document(&a, &b)),
            y("services: {web: {image: b}, db: {image: c}}\nvolumes: {data: {}}\n")
        );
    }
}
