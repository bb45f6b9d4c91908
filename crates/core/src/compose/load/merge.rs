//! Merging compose files (and `extends`) by compose's rules: mappings merge
//! key by key; `command`, `entrypoint` and `healthcheck.test` are replaced;
//! `environment`, `labels`, `extra_hosts` and `sysctls` merge by name;
//! `volumes` by container path, `secrets`/`configs` by source; other lists
//! are appended without duplicates.

use serde_norway::{Mapping, Value};

/// Keys whose value replaces the earlier one wholesale.
const REPLACED: &[&str] = &["command", "entrypoint", "test"];
/// Keys whose list or map form merges by name.
const BY_NAME: &[&str] = &["environment", "labels", "extra_hosts", "sysctls", "annotations"];

/// `K=V` / `K` list items, or a map, as a map (`None` values for bare `K`).
pub fn list_or_map(v: &Value, sep: char) -> Mapping {
    match v {
        Value::Mapping(m) => m.clone(),
        Value::Sequence(items) => {
            let mut m = Mapping::new();
            for it in items {
                let s = scalar(it).unwrap_or_default();
                match s.split_once(sep) {
                    Some((k, val)) => m.insert(Value::String(k.trim().to_string()), Value::String(val.to_string())),
                    None => m.insert(Value::String(s.trim().to_string()), Value::Null),
                };
            }
            m
        }
        _ => Mapping::new(),
    }
}

/// A scalar as a string (numbers and booleans as YAML writes them).
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The identity of a `volumes:` entry: its container path.
fn volume_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(match parts.len() {
                1 => parts[0].to_string(),
                _ => parts[1].to_string(),
            })
        }
        Value::Mapping(m) => m.get("target").and_then(scalar),
        _ => None,
    }
}

fn ref_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Mapping(m) => m.get("source").and_then(scalar),
        _ => None,
    }
}

/// Merges `over` onto `base`; `key` is the key both sit under (for the rules).
pub fn merge(base: &Value, over: &Value, key: &str) -> Value {
    if REPLACED.contains(&key) {
        return over.clone();
    }
    if BY_NAME.contains(&key) {
        let sep = if key == "extra_hosts" { ':' } else { '=' };
        let mut m = list_or_map(base, sep);
        for (k, v) in list_or_map(over, sep) {
            m.insert(k, v);
        }
        return Value::Mapping(m);
    }
    match (base, over) {
        (Value::Mapping(a), Value::Mapping(b)) => {
            let mut out = a.clone();
            for (k, v) in b {
                let kname = scalar(k).unwrap_or_default();
                let merged = match a.get(k) {
                    Some(old) => merge(old, v, &kname),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Mapping(out)
        }
        (Value::Sequence(a), Value::Sequence(b)) => {
            let ident: fn(&Value) -> Option<String> = match key {
                "volumes" => volume_key,
                "secrets" | "configs" => ref_key,
                _ => |_| None,
            };
            let mut out = a.clone();
            for item in b {
                match ident(item) {
                    Some(id) => {
                        if let Some(pos) = out.iter().position(|x| ident(x).as_deref() == Some(id.as_str())) {
                            out[pos] = item.clone();
                        } else {
                            out.push(item.clone());
                        }
                    }
                    None => {
                        if !out.contains(item) {
                            out.push(item.clone());
                        }
                    }
                }
            }
            Value::Sequence(out)
        }
        _ => over.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_norway::from_str(s).unwrap()
    }

    fn svc(base: &str, over: &str) -> Value {
        merge(&y(base), &y(over), "web")
    }

    #[test]
    fn scalars_and_nested_maps_are_overridden_key_by_key() {
        let m = svc("image: a\nbuild: {context: ., target: dev}\n", "image: b\nbuild: {target: prod}\n");
        assert_eq!(m, y("image: b\nbuild: {context: ., target: prod}\n"));
    }

    #[test]
    fn commands_and_health_tests_are_replaced_not_appended() {
        let m = svc("command: [a, b]\nhealthcheck: {test: [CMD, x], interval: 1s}\n", "command: [c]\nhealthcheck: {test: [CMD, y]}\n");
        assert_eq!(m, y("command: [c]\nhealthcheck: {test: [CMD, y], interval: 1s}\n"));
    }

    #[test]
    fn environment_and_labels_merge_by_name_across_list_and_map_forms() {
        let m = svc("environment: [A=1, B=2]\nlabels: {x: '1'}\n", "environment: {B: '3', C: '4'}\nlabels: [y=2]\n");
        assert_eq!(m, y("environment: {A: '1', B: '3', C: '4'}\nlabels: {x: '1', y: '2'}\n"));
    }

    #[test]
    fn volumes_merge_by_container_path_and_ports_append() {
        let m = svc("volumes: ['data:/data', './a:/app']\nports: ['80']\n", "volumes: ['./b:/app:ro']\nports: ['80', '443']\n");
        assert_eq!(m, y("volumes: ['data:/data', './b:/app:ro']\nports: ['80', '443']\n"));
    }
}
