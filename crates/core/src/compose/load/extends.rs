//! `extends:` within a file or from another file, with compose's merge rules.
//!
//! A service taken from another file keeps pointing at the same files: its
//! relative paths (build context, env files, bind sources) are made absolute
//! against that file's folder. As the compose documentation says, `depends_on`
//! is never inherited. Chains are followed; a cycle is an error naming it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use super::merge::{merge, scalar};
use super::paths;
use crate::compose::error::ComposeError;

/// Reads (and interpolates) a compose file that another one extends from.
pub type Reader<'a> = dyn Fn(&Path) -> Result<Mapping, ComposeError> + 'a;

/// Resolves `extends` for the services of one file.
pub struct Extends<'a> {
    read: &'a Reader<'a>,
    /// When set (untrusted repos), files outside this directory may not be extended.
    confine: Option<&'a Path>,
    /// Services of the other files read so far, by path.
    cache: HashMap<PathBuf, Mapping>,
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

impl<'a> Extends<'a> {
    /// `read` loads other files; `confine` is the worktree for untrusted repos.
    pub fn new(read: &'a Reader<'a>, confine: Option<&'a Path>) -> Self {
        Extends {
            read,
            confine,
            cache: HashMap::new(),
        }
    }

    /// Replaces every service of `services` (from `file`) that extends
    /// another by the merged result. `base_dir` is where a relative
    /// `extends.file` is looked for (the project directory for the main files).
    ///
    /// # Errors
    /// A missing service or file, a cycle, or an extended file outside the worktree when confined.
    pub fn apply(
        &mut self,
        file: &Path,
        base_dir: &Path,
        services: &mut Mapping,
    ) -> Result<(), ComposeError> {
        let snapshot = services.clone();
        for name in snapshot.keys().filter_map(scalar) {
            let mut chain = Vec::new();
            let resolved = self.service(file, base_dir, &snapshot, &name, &mut chain)?;
            services.insert(Value::String(name), resolved);
        }
        Ok(())
    }

    fn service(
        &mut self,
        file: &Path,
        base_dir: &Path,
        services: &Mapping,
        name: &str,
        chain: &mut Vec<(PathBuf, String)>,
    ) -> Result<Value, ComposeError> {
        let invalid = |key: &str, message: String| ComposeError::Invalid {
            file: display(file),
            where_: format!("service {name:?}"),
            key: key.into(),
            message,
        };
        let svc = services.get(name).cloned().unwrap_or(Value::Null);
        let Some(ext) = svc.get("extends").cloned() else {
            return Ok(svc);
        };
        let (base_name, base_file) = match &ext {
            Value::String(s) => (s.clone(), None),
            Value::Mapping(m) => {
                for k in m.keys().filter_map(scalar) {
                    if k != "service" && k != "file" && !k.starts_with("x-") {
                        return Err(ComposeError::UnsupportedKey {
                            file: display(file),
                            where_: format!("service {name:?}"),
                            key: format!("extends.{k}"),
                            hint: " (supported: service, file)".into(),
                        });
                    }
                }
                let service = m
                    .get("service")
                    .and_then(scalar)
                    .ok_or_else(|| invalid("extends", "needs `service:`".into()))?;
                (service, m.get("file").and_then(scalar))
            }
            _ => {
                return Err(invalid(
                    "extends",
                    "expected a service name or {service, file}".into(),
                ))
            }
        };
        chain.push((file.to_path_buf(), name.to_string()));
        let (base_path, base_services, base_base_dir) = match base_file {
            None => (file.to_path_buf(), services.clone(), base_dir.to_path_buf()),
            Some(f) => {
                let path = paths::absolute(base_dir, &f);
                if let Some(root) = self.confine {
                    if !paths::is_inside(&path, root) {
                        return Err(ComposeError::Unsafe {
                            file: display(file),
                            service: name.to_string(),
                            key: "extends.file".into(),
                            reason: format!("{} is outside the preview's worktree", path.display()),
                        });
                    }
                }
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (path.clone(), self.services_of(&path)?, dir)
            }
        };
        if chain
            .iter()
            .any(|(f, n)| *f == base_path && *n == base_name)
        {
            let mut names: Vec<String> = chain.iter().map(|(_, n)| n.clone()).collect();
            names.push(base_name);
            return Err(ComposeError::Cycle {
                file: display(file),
                cycle: format!("extends {}", names.join(" -> ")),
            });
        }
        if base_services.get(base_name.as_str()).is_none() {
            return Err(invalid(
                "extends",
                format!(
                    "there is no service {base_name:?} in {}",
                    display(&base_path)
                ),
            ));
        }
        let mut base = self.service(
            &base_path,
            &base_base_dir,
            &base_services,
            &base_name,
            chain,
        )?;
        if let Value::Mapping(m) = &mut base {
            if base_path != file {
                rebase(m, &base_base_dir);
            }
            m.shift_remove("depends_on");
        }
        let mut own = svc;
        if let Value::Mapping(m) = &mut own {
            m.shift_remove("extends");
        }
        Ok(merge(
            &base,
            &own,
            &["services".to_string(), name.to_string()],
        ))
    }

    fn services_of(&mut self, path: &Path) -> Result<Mapping, ComposeError> {
        if let Some(s) = self.cache.get(path) {
            return Ok(s.clone());
        }
        let doc = (self.read)(path)?;
        let services = match doc.get("services") {
            Some(Value::Mapping(s)) => s.clone(),
            _ => Mapping::new(),
        };
        self.cache.insert(path.to_path_buf(), services.clone());
        Ok(services)
    }
}

/// Makes a relative path string absolute against `dir`.
pub(super) fn absolute(dir: &Path, p: &str) -> String {
    if Path::new(p).is_absolute() || p.starts_with('~') {
        p.to_string()
    } else {
        paths::clean(&dir.join(p)).display().to_string()
    }
}

/// Relative paths of a service from another file, made absolute against its folder.
pub(super) fn rebase(svc: &mut Mapping, dir: &Path) {
    let s = |v: String| Value::String(v);
    match svc.get_mut("build") {
        Some(Value::String(ctx)) => *ctx = absolute(dir, ctx),
        Some(Value::Mapping(b)) => {
            let ctx = b
                .get("context")
                .and_then(scalar)
                .unwrap_or_else(|| ".".into());
            b.insert(s("context".into()), s(absolute(dir, &ctx)));
        }
        _ => {}
    }
    match svc.get_mut("env_file") {
        Some(Value::String(f)) => *f = absolute(dir, f),
        Some(Value::Sequence(items)) => {
            for it in items {
                match it {
                    Value::String(f) => *f = absolute(dir, f),
                    Value::Mapping(m) => {
                        if let Some(p) = m.get("path").and_then(scalar) {
                            m.insert(s("path".into()), s(absolute(dir, &p)));
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    if let Some(Value::Sequence(vols)) = svc.get_mut("volumes") {
        for v in vols {
            match v {
                Value::String(spec) if spec.starts_with('.') => {
                    if let Some((source, rest)) = spec.split_once(':') {
                        *spec = format!("{}:{rest}", absolute(dir, source));
                    }
                }
                Value::Mapping(m) if m.get("type").and_then(scalar).as_deref() == Some("bind") => {
                    if let Some(src) = m.get("source").and_then(scalar) {
                        m.insert(s("source".into()), s(absolute(dir, &src)));
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Mapping {
        serde_norway::from_str(s).unwrap()
    }

    fn no_files(p: &Path) -> Result<Mapping, ComposeError> {
        Err(ComposeError::Io {
            file: display(p),
            message: "not expected".into(),
        })
    }

    #[test]
    fn a_service_extends_another_in_the_same_file_without_its_dependencies() {
        let mut services = y("base: {image: x, environment: {A: '1'}, depends_on: [db]}\nweb: {extends: base, environment: {B: '2'}}\nalt: {extends: {service: web}, image: y}\n");
        Extends::new(&no_files, None)
            .apply(Path::new("/p/compose.yaml"), Path::new("/p"), &mut services)
            .unwrap();
        assert_eq!(
            Value::Mapping(services["web"].as_mapping().unwrap().clone()),
            Value::Mapping(y("image: x\nenvironment: {A: '1', B: '2'}\n"))
        );
        assert_eq!(
            services["alt"]["image"],
            Value::String("y".into()),
            "chains resolve and the extending value wins"
        );
        assert_eq!(
            services["alt"]["environment"]["A"],
            Value::String("1".into())
        );
        assert!(
            services["base"].get("depends_on").is_some(),
            "the base itself keeps its dependencies"
        );
    }

    #[test]
    fn cycles_and_missing_bases_are_errors() {
        let mut services = y("a: {extends: b}\nb: {extends: {service: a}}\n");
        let e = Extends::new(&no_files, None)
            .apply(Path::new("/p/c.yaml"), Path::new("/p"), &mut services)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cycle") && e.contains("a -> b -> a"), "{e}");
        let mut services = y("a: {extends: nope}\n");
        let e = Extends::new(&no_files, None)
            .apply(Path::new("/p/c.yaml"), Path::new("/p"), &mut services)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"a\"") && e.contains("nope"), "{e}");
        let mut services = y("a: {extends: {service: b, files: x}}\nb: {image: x}\n");
        let e = Extends::new(&no_files, None)
            .apply(Path::new("/p/c.yaml"), Path::new("/p"), &mut services)
            .unwrap_err()
            .to_string();
        assert!(e.contains("extends.files"), "{e}");
    }

    #[test]
    fn a_service_from_another_file_keeps_its_paths_pointing_at_its_folder() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("common")).unwrap();
        let common = root.join("common/services.yaml");
        std::fs::write(&common, "services:\n  app:\n    build: {dockerfile: D}\n    env_file: [./app.env]\n    volumes: ['./data:/data', 'named:/n']\n").unwrap();
        let read = |p: &Path| super::super::yaml::read(p);
        let mut services =
            y("web: {extends: {file: common/services.yaml, service: app}, image: web}\n");
        Extends::new(&read, None)
            .apply(&root.join("compose.yaml"), &root, &mut services)
            .unwrap();
        let web = &services["web"];
        let common_dir = root.join("common").display().to_string();
        assert_eq!(web["build"]["context"], Value::String(common_dir.clone()));
        assert_eq!(
            web["env_file"][0],
            Value::String(format!("{common_dir}/app.env"))
        );
        assert_eq!(
            web["volumes"][0],
            Value::String(format!("{common_dir}/data:/data"))
        );
        assert_eq!(web["volumes"][1], Value::String("named:/n".into()));
        assert_eq!(web["image"], Value::String("web".into()));
    }

    #[test]
    fn an_untrusted_repo_may_not_extend_a_file_outside_the_worktree() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("wt");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(d.path().join("outside.yaml"), "services: {x: {image: y}}\n").unwrap();
        let read = |p: &Path| super::super::yaml::read(p);
        let mut services = y("web: {extends: {file: ../outside.yaml, service: x}}\n");
        let e = Extends::new(&read, Some(&root))
            .apply(&root.join("compose.yaml"), &root, &mut services)
            .unwrap_err();
        assert_eq!(e.code(), crate::error::Code::Unsafe);
        assert!(e.to_string().contains("extends.file"), "{e}");
        let mut services = y("web: {extends: {file: ../outside.yaml, service: x}}\n");
        Extends::new(&read, None)
            .apply(&root.join("compose.yaml"), &root, &mut services)
            .unwrap();
        assert_eq!(services["web"]["image"], Value::String("y".into()));
    }
}
