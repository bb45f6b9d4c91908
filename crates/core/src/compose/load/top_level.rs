//! The top-level `networks:`, `volumes:`, `secrets:` and `configs:`, each
//! key checked by name like a service's.

use std::path::Path;

use indexmap::IndexMap;
use serde_norway::{Mapping, Value};

use super::merge::{list_or_map, scalar};
use super::paths;
use crate::compose::error::ComposeError;
use crate::compose::model::{FileObject, Network, Project, Volume};

/// Top-level keys of a compose file (besides `x-*`).
pub const KEYS: &[&str] = &[
    "services", "networks", "volumes", "secrets", "configs", "version", "name",
];

const NETWORK_KEYS: &[&str] = &[
    "name",
    "external",
    "internal",
    "labels",
    "driver",
    "attachable",
];
const VOLUME_KEYS: &[&str] = &["name", "external", "labels", "driver"];
const SECRET_KEYS: &[&str] = &["file", "environment", "name"];
const CONFIG_KEYS: &[&str] = &["file", "content", "environment", "name"];

struct Section<'a> {
    file: &'a str,
    kind: &'a str,
}

impl Section<'_> {
    fn where_(&self, name: &str) -> String {
        format!("{} {name:?}", self.kind.trim_end_matches('s'))
    }

    fn invalid(&self, name: &str, key: &str, message: impl Into<String>) -> ComposeError {
        ComposeError::Invalid {
            file: self.file.into(),
            where_: self.where_(name),
            key: key.into(),
            message: message.into(),
        }
    }

    /// The definition's mapping (`null` counts as empty), its keys checked.
    fn body<'v>(
        &self,
        name: &str,
        v: &'v Value,
        supported: &[&str],
    ) -> Result<Option<&'v Mapping>, ComposeError> {
        let m = match v {
            Value::Null => return Ok(None),
            Value::Mapping(m) => m,
            _ => return Err(self.invalid(name, "(definition)", "expected a mapping")),
        };
        for k in m.keys().filter_map(scalar) {
            if !k.starts_with("x-") && !supported.contains(&k.as_str()) {
                return Err(ComposeError::UnsupportedKey {
                    file: self.file.into(),
                    where_: self.where_(name),
                    key: k,
                    hint: format!(" (supported: {})", supported.join(", ")),
                });
            }
        }
        Ok(Some(m))
    }

    fn flag(&self, name: &str, m: &Mapping, key: &str) -> Result<bool, ComposeError> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            // The old `external: {name: x}` form.
            Some(Value::Mapping(_)) if key == "external" => Ok(true),
            Some(_) => Err(self.invalid(name, key, "expected true or false")),
        }
    }

    fn name(&self, m: &Mapping) -> Option<String> {
        m.get("name").and_then(scalar).or_else(|| {
            m.get("external")
                .and_then(|e| e.get("name"))
                .and_then(scalar)
        })
    }

    fn driver(&self, name: &str, m: &Mapping, allowed: &[&str]) -> Result<(), ComposeError> {
        match m.get("driver").and_then(scalar) {
            Some(d) if !allowed.contains(&d.as_str()) => Err(self.invalid(
                name,
                "driver",
                format!(
                    "driver {d:?} is not supported (previews use {})",
                    allowed.join(" or ")
                ),
            )),
            _ => Ok(()),
        }
    }
}

fn labels(m: &Mapping) -> IndexMap<String, String> {
    m.get("labels")
        .map(|l| list_or_map(l, '='))
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| (scalar(k).unwrap_or_default(), scalar(v).unwrap_or_default()))
        .collect()
}

fn entries<'m>(
    merged: &'m Mapping,
    key: &str,
    file: &str,
) -> Result<Option<&'m Mapping>, ComposeError> {
    match merged.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Mapping(m)) => Ok(Some(m)),
        Some(_) => Err(ComposeError::Invalid {
            file: file.into(),
            where_: "top level".into(),
            key: key.into(),
            message: "expected a mapping".into(),
        }),
    }
}

/// Reads the top-level definitions into `p`; `dir` resolves relative `file:`
/// paths; `env` gives `environment:` secrets and configs their values.
///
/// # Errors
/// An unsupported key or driver, or a secret/config with no source.
pub fn read(
    merged: &Mapping,
    file: &str,
    dir: &Path,
    env: &IndexMap<String, String>,
    p: &mut Project,
) -> Result<(), ComposeError> {
    if let Some(nets) = entries(merged, "networks", file)? {
        let s = Section {
            file,
            kind: "networks",
        };
        for (k, v) in nets {
            let name = scalar(k).unwrap_or_default();
            let net = match s.body(&name, v, NETWORK_KEYS)? {
                None => Network::default(),
                Some(m) => {
                    s.driver(&name, m, &["bridge"])?;
                    Network {
                        external: s.flag(&name, m, "external")?,
                        name: s.name(m),
                        internal: s.flag(&name, m, "internal")?,
                        labels: labels(m),
                    }
                }
            };
            p.networks.insert(name, net);
        }
    }
    p.networks.entry("default".into()).or_default();
    if let Some(vols) = entries(merged, "volumes", file)? {
        let s = Section {
            file,
            kind: "volumes",
        };
        for (k, v) in vols {
            let name = scalar(k).unwrap_or_default();
            let vol = match s.body(&name, v, VOLUME_KEYS)? {
                None => Volume::default(),
                Some(m) => {
                    s.driver(&name, m, &["local"])?;
                    Volume {
                        external: s.flag(&name, m, "external")?,
                        name: s.name(m),
                        labels: labels(m),
                    }
                }
            };
            p.volumes.insert(name, vol);
        }
    }
    for (key, supported) in [("secrets", SECRET_KEYS), ("configs", CONFIG_KEYS)] {
        let Some(objs) = entries(merged, key, file)? else {
            continue;
        };
        let s = Section { file, kind: key };
        let mut out = IndexMap::new();
        for (k, v) in objs {
            let name = scalar(k).unwrap_or_default();
            let m = s.body(&name, v, supported)?;
            let get = |field: &str| m.and_then(|m| m.get(field)).and_then(scalar);
            let obj = if let Some(f) = get("file") {
                FileObject::File(paths::absolute(dir, &f))
            } else if let Some(var) = get("environment") {
                FileObject::Content(env.get(&var).cloned().ok_or_else(|| {
                    s.invalid(&name, "environment", format!("variable {var} is not set"))
                })?)
            } else if let Some(c) = get("content") {
                FileObject::Content(c)
            } else {
                let how = if key == "secrets" {
                    "`file:` or `environment:`"
                } else {
                    "`file:`, `content:` or `environment:`"
                };
                return Err(s.invalid(
                    &name,
                    "(definition)",
                    format!("needs {how} (external ones need a swarm)"),
                ));
            };
            out.insert(name, obj);
        }
        if key == "secrets" {
            p.secrets = out;
        } else {
            p.configs = out;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn read_yaml(yaml: &str) -> Result<Project, ComposeError> {
        let merged: Mapping = serde_norway::from_str(yaml).unwrap();
        let env: IndexMap<String, String> = [("TOKEN".to_string(), "t0k".to_string())]
            .into_iter()
            .collect();
        let mut p = Project::empty("p", "/w");
        read(
            &merged,
            "compose.yaml",
            Path::new("/nonexistent/w"),
            &env,
            &mut p,
        )
        .map(|_| p)
    }

    #[test]
    fn networks_and_volumes_with_their_options() {
        let p = read_yaml(
            "networks:\n  front:\n  back: {internal: true, labels: [a=1], driver: bridge}\n  shared: {external: true, name: proxy}\n  old: {external: {name: legacy}}\n\
             volumes:\n  data:\n  cache: {external: true, name: c, labels: {b: '2'}}\n",
        )
        .unwrap();
        assert_eq!(
            p.networks.keys().collect::<Vec<_>>(),
            vec!["front", "back", "shared", "old", "default"]
        );
        assert!(p.networks["back"].internal && p.networks["back"].labels["a"] == "1");
        assert_eq!(
            (
                p.networks["shared"].external,
                p.networks["shared"].name.as_deref()
            ),
            (true, Some("proxy"))
        );
        assert_eq!(p.networks["old"].name.as_deref(), Some("legacy"));
        assert_eq!(p.volumes["data"], Volume::default());
        assert_eq!(p.volumes["cache"].name.as_deref(), Some("c"));
    }

    #[test]
    fn unsupported_options_and_drivers_are_refused_by_name() {
        let e = read_yaml("volumes:\n  data: {driver_opts: {type: none, o: bind, device: /}}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("volume \"data\"") && e.contains("driver_opts"),
            "{e}"
        );
        let e = read_yaml("networks:\n  n: {driver: overlay}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("overlay"), "{e}");
        let e = read_yaml("networks:\n  n: {ipam: {}}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("network \"n\"") && e.contains("ipam"), "{e}");
    }

    #[test]
    fn secrets_and_configs_from_files_content_and_environment() {
        let p = read_yaml("secrets:\n  db: {file: ./db.txt}\n  tok: {environment: TOKEN}\nconfigs:\n  app: {content: hello}\n").unwrap();
        assert_eq!(
            p.secrets["db"],
            FileObject::File(PathBuf::from("/nonexistent/w/db.txt"))
        );
        assert_eq!(p.secrets["tok"], FileObject::Content("t0k".into()));
        assert_eq!(p.configs["app"], FileObject::Content("hello".into()));
        let e = read_yaml("secrets:\n  s: {external: true}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("external"), "{e}");
        let e = read_yaml("secrets:\n  s: {environment: NOPE}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("NOPE"), "{e}");
        let e = read_yaml("configs:\n  c: {}\n").unwrap_err().to_string();
        assert!(e.contains("config \"c\"") && e.contains("content"), "{e}");
    }
}
