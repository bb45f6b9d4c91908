//! `include:` (compose ≥ 2.20): other compose projects loaded on their own
//! terms and imported into this one, as compose-go's `loader/include.go` does.
//!
//! Each entry (`path`, or `{path, project_directory, env_file}`) is loaded as
//! a project of its own: its files merged like `-f a -f b`, relative paths
//! against its `project_directory` (the first file's folder by default),
//! interpolated with its own env files (`<project_directory>/.env` by
//! default) under the including project's variables, which win. Its
//! `services`, `networks`, `volumes`, `secrets` and `configs` are then
//! imported, paths made absolute; its `name`, `version` and `x-*` stay
//! behind. A resource the including file (or an earlier include) also
//! defines is merged, the including definition over the included one, as
//! compose v5 does (docs/decisions/0001-include-conflicts-merge.md).
//!
//! Relative paths in an entry resolve against the including project's
//! directory. For untrusted repos every file, project directory and env
//! file must stay inside the worktree after symlinks are resolved; remote
//! includes (`oci://`, git URLs) are refused for all repos, since a preview
//! runs the branch's own files.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_norway::{Mapping, Value};

use super::merge::{list_or_map, merge, scalar};
use super::{display, env_file, extends, paths, Merged, Pass};
use crate::compose::error::ComposeError;

/// The top-level sections an included project gives the including one.
const IMPORTED: &[&str] = &["services", "networks", "volumes", "secrets", "configs"];
/// Keys of an entry's long form.
const ENTRY_KEYS: &[&str] = &["path", "project_directory", "env_file"];

/// One `include:` entry as written.
struct Entry {
    paths: Vec<String>,
    project_directory: Option<String>,
    env_files: Vec<String>,
}

/// One entry resolved: absolute paths, checked.
struct Resolved {
    files: Vec<PathBuf>,
    dir: PathBuf,
    env_files: Vec<PathBuf>,
}

/// Takes `include:` out of `doc` (read from `file` in `pass`) and imports
/// every entry's resources into it; returns the file that defined each
/// imported service.
///
/// # Errors
/// [`ComposeError::Include`] for a malformed entry, a missing file or env
/// file, a cycle or a remote path; [`ComposeError::Unsafe`] for a path out
/// of the worktree of an untrusted repo; any error of the included files.
pub(super) fn apply(
    pass: &Pass<'_>,
    file: &Path,
    doc: &mut Mapping,
    warnings: &mut Vec<String>,
) -> Result<IndexMap<String, PathBuf>, ComposeError> {
    let mut origin = IndexMap::new();
    let items = match doc.shift_remove("include") {
        None | Some(Value::Null) => return Ok(origin),
        Some(Value::Sequence(items)) => items,
        Some(_) => {
            return Err(failure(
                pass,
                file,
                &[],
                "expected a list of files or {path, project_directory, env_file} entries".into(),
            ))
        }
    };
    for (i, item) in items.iter().enumerate() {
        let entry = parse(pass, file, i, item)?;
        let r = resolve(pass, file, &entry)?;
        let span = tracing::debug_span!("include", file = %r.files[0].display());
        let _entered = span.enter();
        let mut env = IndexMap::new();
        for f in &r.env_files {
            let vars = env_file::read(f, pass.env).map_err(|message| ComposeError::Io {
                file: display(f),
                message,
            })?;
            env.extend(vars.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
        }
        // The including project's variables win over the include's env files.
        env.extend(pass.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut chain = pass.chain.clone();
        chain.push(file.to_path_buf());
        let nested = Pass {
            reader: pass.reader,
            env: &env,
            dir: &r.dir,
            confine: pass.confine,
            chain,
        };
        let Merged {
            doc: mut imported,
            origin: defined,
        } = nested.merge_files(&r.files, warnings)?;
        absolutize(&mut imported, &r.dir, &env);
        import(doc, imported);
        origin.extend(defined);
    }
    Ok(origin)
}

/// The error for `file`'s include of `names` (empty: the section itself).
fn failure(pass: &Pass<'_>, file: &Path, names: &[PathBuf], message: String) -> ComposeError {
    let chain: Vec<String> = pass
        .chain
        .iter()
        .map(|p| p.as_path())
        .chain([file])
        .chain(names.iter().map(PathBuf::as_path))
        .map(display)
        .collect();
    ComposeError::Include {
        file: display(file),
        chain: chain.join(" → "),
        message,
    }
}

/// A string, or a list of strings, at `key` of entry `i`.
fn strings(pass: &Pass<'_>, file: &Path, at: &str, v: &Value) -> Result<Vec<String>, ComposeError> {
    let bad = || {
        failure(
            pass,
            file,
            &[],
            format!("{at}: expected a path or a list of paths"),
        )
    };
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => items.iter().map(|i| scalar(i).ok_or_else(bad)).collect(),
        other => Ok(vec![scalar(other).ok_or_else(bad)?]),
    }
}

/// Entry `i`: a path, or the long form.
fn parse(pass: &Pass<'_>, file: &Path, i: usize, item: &Value) -> Result<Entry, ComposeError> {
    let at = format!("include[{i}]");
    let m = match item {
        Value::String(p) => {
            return Ok(Entry {
                paths: vec![p.clone()],
                project_directory: None,
                env_files: Vec::new(),
            })
        }
        Value::Mapping(m) => m,
        _ => {
            return Err(failure(
                pass,
                file,
                &[],
                format!("{at}: expected a path or {{path, project_directory, env_file}}"),
            ))
        }
    };
    for k in m.keys().filter_map(scalar) {
        if !ENTRY_KEYS.contains(&k.as_str()) && !k.starts_with("x-") {
            return Err(ComposeError::UnsupportedKey {
                file: display(file),
                where_: "top level".into(),
                key: format!("{at}.{k}"),
                hint: format!(" (supported: {})", ENTRY_KEYS.join(", ")),
            });
        }
    }
    let paths = match m.get("path") {
        Some(p) => strings(pass, file, &format!("{at}.path"), p)?,
        None => Vec::new(),
    };
    if paths.is_empty() {
        return Err(failure(
            pass,
            file,
            &[],
            format!("{at}: an entry needs `path:`"),
        ));
    }
    let project_directory = match m.get("project_directory") {
        None | Some(Value::Null) => None,
        Some(v) => Some(scalar(v).ok_or_else(|| {
            failure(
                pass,
                file,
                &[],
                format!("{at}.project_directory: expected a path"),
            )
        })?),
    };
    let env_files = match m.get("env_file") {
        Some(v) => strings(pass, file, &format!("{at}.env_file"), v)?,
        None => Vec::new(),
    };
    Ok(Entry {
        paths,
        project_directory,
        env_files,
    })
}

/// Whether `p` names something to fetch rather than a file of the branch.
fn remote(p: &str) -> bool {
    p.contains("://") || p.starts_with("git@") || p.starts_with("oci:")
}

/// The entry's files, project directory and env files, absolute and checked.
fn resolve(pass: &Pass<'_>, file: &Path, e: &Entry) -> Result<Resolved, ComposeError> {
    if let Some(p) = e.paths.iter().find(|p| remote(p)) {
        return Err(failure(
            pass,
            file,
            &[],
            format!("{p:?} is a remote include; previews run the branch's own files, so commit the file to the branch and include it by path"),
        ));
    }
    let files: Vec<PathBuf> = e
        .paths
        .iter()
        .map(|p| paths::absolute(pass.dir, p))
        .collect();
    let dir = match &e.project_directory {
        Some(d) => paths::absolute(pass.dir, d),
        None => files[0]
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| pass.dir.to_path_buf()),
    };
    let mut env_files = Vec::new();
    for f in e.env_files.iter().filter(|f| *f != "/dev/null") {
        env_files.push(paths::absolute(pass.dir, f));
    }
    let explicit_env = !env_files.is_empty();
    if e.env_files.is_empty() {
        let dot_env = dir.join(".env");
        if dot_env.is_file() {
            env_files.push(dot_env);
        }
    }
    if let Some(root) = pass.confine {
        let checked = files
            .iter()
            .map(|f| ("file", f))
            .chain([("project_directory", &dir)])
            .chain(env_files.iter().map(|f| ("env_file", f)));
        for (what, p) in checked {
            if !paths::is_inside(p, root) {
                return Err(ComposeError::Unsafe {
                    file: display(file),
                    service: String::new(),
                    key: "include".into(),
                    reason: format!(
                        "the included {what} {} resolves to {}, outside the preview's worktree {} (include chain: {})",
                        p.display(),
                        paths::canonical(p).display(),
                        root.display(),
                        chain_to(pass, file, p)
                    ),
                });
            }
        }
    }
    for f in &files {
        if pass.chain.iter().any(|c| c == f) || f == file {
            return Err(failure(
                pass,
                file,
                std::slice::from_ref(f),
                format!("{} is already being included: the files include each other in a cycle; remove one of these includes", f.display()),
            ));
        }
        if !f.is_file() {
            return Err(failure(
                pass,
                file,
                std::slice::from_ref(f),
                format!("{} does not exist (or is not a file)", f.display()),
            ));
        }
    }
    if explicit_env {
        if let Some(f) = env_files.iter().find(|f| !f.is_file()) {
            return Err(failure(
                pass,
                file,
                &[],
                format!("env_file {} does not exist (or is not a file)", f.display()),
            ));
        }
    }
    Ok(Resolved {
        files,
        dir,
        env_files,
    })
}

/// `a → b → p` for a message.
fn chain_to(pass: &Pass<'_>, file: &Path, p: &Path) -> String {
    pass.chain
        .iter()
        .map(|c| c.as_path())
        .chain([file, p])
        .map(display)
        .collect::<Vec<_>>()
        .join(" → ")
}

/// Makes an included project's relative paths absolute against `dir`, and
/// gives bare `environment`/`build.args` names the include's values, which
/// the including project cannot see later.
fn absolutize(doc: &mut Mapping, dir: &Path, env: &IndexMap<String, String>) {
    if let Some(Value::Mapping(services)) = doc.get_mut("services") {
        for (_, svc) in services.iter_mut() {
            let Value::Mapping(svc) = svc else { continue };
            extends::rebase(svc, dir);
            rebase_more(svc, dir);
            fill_bare(svc, "environment", env);
            if let Some(Value::Mapping(b)) = svc.get_mut("build") {
                fill_bare(b, "args", env);
            }
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(Value::Mapping(objs)) = doc.get_mut(section) {
            for (_, obj) in objs.iter_mut() {
                if let Value::Mapping(o) = obj {
                    set_path(o, "file", dir);
                }
            }
        }
    }
    if let Some(Value::Mapping(vols)) = doc.get_mut("volumes") {
        for (_, vol) in vols.iter_mut() {
            let Value::Mapping(vol) = vol else { continue };
            let local = vol
                .get("driver")
                .and_then(scalar)
                .is_none_or(|d| d == "local");
            if let (true, Some(Value::Mapping(opts))) = (local, vol.get_mut("driver_opts")) {
                if opts.get("o").and_then(scalar).as_deref() == Some("bind") {
                    set_path(opts, "device", dir);
                }
            }
        }
    }
}

/// Paths `extends::rebase` leaves alone: `label_file` and `develop.watch[].path`.
fn rebase_more(svc: &mut Mapping, dir: &Path) {
    match svc.get_mut("label_file") {
        Some(Value::String(f)) => *f = extends::absolute(dir, f),
        Some(Value::Sequence(items)) => {
            for it in items {
                if let Value::String(f) = it {
                    *f = extends::absolute(dir, f);
                }
            }
        }
        _ => {}
    }
    if let Some(Value::Sequence(watch)) = svc.get_mut("develop").and_then(|d| d.get_mut("watch")) {
        for w in watch {
            if let Value::Mapping(w) = w {
                set_path(w, "path", dir);
            }
        }
    }
}

/// `m[key]`, a relative path, made absolute against `dir`.
fn set_path(m: &mut Mapping, key: &str, dir: &Path) {
    if let Some(p) = m.get(key).and_then(scalar) {
        m.insert(
            Value::String(key.into()),
            Value::String(extends::absolute(dir, &p)),
        );
    }
}

/// Bare `NAME` entries of `m[key]` (list or mapping) that `env` defines get its value.
fn fill_bare(m: &mut Mapping, key: &str, env: &IndexMap<String, String>) {
    let Some(v) = m.get(key) else { return };
    if !matches!(v, Value::Sequence(_) | Value::Mapping(_)) {
        return;
    }
    let mut out = Mapping::new();
    for (k, val) in list_or_map(v, '=') {
        let name = scalar(&k).unwrap_or_default();
        let val = match val {
            Value::Null => env
                .get(&name)
                .cloned()
                .map(Value::String)
                .unwrap_or(Value::Null),
            other => other,
        };
        out.insert(k, val);
    }
    m.insert(Value::String(key.into()), Value::Mapping(out));
}

/// Adds `imported`'s resources to `doc`; one `doc` already has is merged,
/// `doc`'s definition over the imported one.
fn import(doc: &mut Mapping, imported: Mapping) {
    for section in IMPORTED {
        let Some(Value::Mapping(from)) = imported.get(*section) else {
            continue;
        };
        let key = Value::String((*section).into());
        let mut to = match doc.shift_remove(&key) {
            Some(Value::Mapping(m)) => m,
            _ => Mapping::new(),
        };
        for (name, def) in from {
            let path = [section.to_string(), scalar(name).unwrap_or_default()];
            let merged = match to.get(name) {
                Some(own) => merge(def, own, &path),
                None => def.clone(),
            };
            to.insert(name.clone(), merged);
        }
        doc.insert(key, Value::Mapping(to));
    }
}

#[cfg(test)]
#[path = "include_tests.rs"]
mod tests;
