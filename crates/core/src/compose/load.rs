//! Loading a compose project natively: each file is read ([`yaml`]),
//! interpolated ([`interpolate`]), its `include`s loaded as projects of their
//! own and imported ([`include`]), its `extends` resolved ([`extends`]) and
//! merged onto the files before it ([`merge`]); then profiles pick the
//! services ([`profiles`]), which are typed one key at a time ([`typed`]),
//! given the dependencies their links imply ([`relations`]), cross-checked
//! ([`references`]) and, for untrusted repos, made safe
//! ([`crate::compose::safety`]).

mod env_file;
mod extends;
mod include;
mod interpolate;
mod merge;
pub(crate) mod paths;
mod profiles;
mod references;
mod relations;
mod top_level;
pub mod typed;
pub mod units;
mod yaml;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_norway::{Mapping, Value};

use super::error::ComposeError;
use super::model::Project;
use interpolate::Lookups;
use merge::scalar;

pub use units::{bytes, duration_ns, shell_words};

/// What to load and how.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Compose project name.
    pub project_name: String,
    /// The project directory: relative paths in every file resolve against
    /// it, as in compose v2 (pass the first file's folder), and `.env` is read from it.
    pub working_dir: PathBuf,
    /// Compose files in merge order (absolute or relative to `working_dir`).
    pub files: Vec<PathBuf>,
    /// The process environment (it wins over `.env`); the caller passes `std::env::vars()`.
    pub env: IndexMap<String, String>,
    /// The `.env` file (default: `working_dir/.env` when it exists).
    pub env_file: Option<PathBuf>,
    /// Active profiles (`*` activates all).
    pub profiles: Vec<String>,
    /// Lift the safety refusals.
    pub trusted: bool,
    /// The worktree: when not trusted, host paths must stay inside it.
    pub confine_to: PathBuf,
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// Reads and interpolates compose files, remembering what each looked up.
#[derive(Default)]
struct Reader {
    lookups: RefCell<Vec<(String, Lookups)>>,
}

impl Reader {
    /// `path`, interpolated with `env`.
    fn read(&self, env: &IndexMap<String, String>, path: &Path) -> Result<Mapping, ComposeError> {
        let file = display(path);
        tracing::debug!(file = %file, "reading compose file");
        let mut v = Value::Mapping(yaml::read(path)?);
        let mut lookups = Lookups::default();
        interpolate::tree(&mut v, "", &file, env, &mut lookups)?;
        self.lookups.borrow_mut().push((file, lookups));
        Ok(match v {
            Value::Mapping(m) => m,
            _ => Mapping::new(),
        })
    }
}

/// One set of files merged into one project model: the main files, or the
/// files of one `include` entry, each with its own directory and variables.
struct Pass<'a> {
    reader: &'a Reader,
    /// Interpolation variables of these files.
    env: &'a IndexMap<String, String>,
    /// Where relative paths (and `extends.file`, nested includes) resolve.
    dir: &'a Path,
    /// For untrusted repos, the worktree every file must stay in.
    confine: Option<&'a Path>,
    /// The files that included these, outermost first (for cycles and messages).
    chain: Vec<PathBuf>,
}

/// The merged model of a pass, and the file that last defined each service.
struct Merged {
    doc: Mapping,
    origin: IndexMap<String, PathBuf>,
}

impl Pass<'_> {
    /// Reads each file, imports its includes, resolves its `extends` and
    /// merges it onto the files before it, as compose does per file.
    fn merge_files(
        &self,
        files: &[PathBuf],
        warnings: &mut Vec<String>,
    ) -> Result<Merged, ComposeError> {
        let read = |p: &Path| self.reader.read(self.env, p);
        let mut extends = extends::Extends::new(&read, self.confine);
        let mut merged = Mapping::new();
        let mut origin: IndexMap<String, PathBuf> = IndexMap::new();
        for path in files {
            let file = display(path);
            let mut doc = self.reader.read(self.env, path)?;
            let own: Vec<String> = match doc.get("services") {
                Some(Value::Mapping(services)) => services.keys().filter_map(scalar).collect(),
                _ => Vec::new(),
            };
            let imported = include::apply(self, path, &mut doc, warnings)?;
            top_level_keys(&mut doc, &file, warnings)?;
            match doc.get_mut("services") {
                Some(Value::Mapping(services)) => {
                    for (name, svc) in services.iter() {
                        // `!reset`/`!override` may tag a whole service; merging settles them.
                        let tagged_ok = matches!(svc, Value::Tagged(t) if matches!(t.value, Value::Mapping(_) | Value::Null));
                        if !matches!(svc, Value::Mapping(_)) && !tagged_ok {
                            let name = scalar(name).unwrap_or_default();
                            return Err(ComposeError::Invalid {
                                file,
                                where_: format!("service {name:?}"),
                                key: name,
                                message: "a service must be a mapping of its settings".into(),
                            });
                        }
                    }
                    extends.apply(path, self.dir, services)?;
                }
                None | Some(Value::Null) => {}
                Some(_) => {
                    return Err(ComposeError::Invalid {
                        file,
                        where_: "top level".into(),
                        key: "services".into(),
                        message: "expected a mapping of services".into(),
                    })
                }
            }
            origin.extend(imported);
            for name in own {
                origin.insert(name, path.clone());
            }
            let mut doc = Value::Mapping(merge::document(&merged, &doc));
            merge::settle(&mut doc, &mut Vec::new()).map_err(|(at, tag)| {
                ComposeError::Invalid {
                    file: file.clone(),
                    where_: at,
                    key: tag,
                    message: "unknown YAML tag: compose files may use !reset and !override".into(),
                }
            })?;
            merged = match doc {
                Value::Mapping(m) => m,
                _ => Mapping::new(),
            };
        }
        Ok(Merged {
            doc: merged,
            origin,
        })
    }
}

/// The interpolation environment: `.env`, then the process environment over it.
fn environment(opts: &LoadOptions) -> Result<IndexMap<String, String>, ComposeError> {
    let mut env = IndexMap::new();
    let dot_env = match &opts.env_file {
        Some(f) if f.is_absolute() => Some(f.clone()),
        Some(f) => Some(opts.working_dir.join(f)),
        None => Some(opts.working_dir.join(".env")).filter(|f| f.exists()),
    };
    if let Some(f) = dot_env {
        if !opts.trusted && !paths::is_inside(&f, &opts.confine_to) {
            return Err(ComposeError::Unsafe {
                file: display(&f),
                service: String::new(),
                key: ".env".into(),
                reason: format!(
                    "it resolves to {}, outside the preview's worktree",
                    paths::canonical(&f).display()
                ),
            });
        }
        let vars = env_file::read(&f, &opts.env).map_err(|message| ComposeError::Io {
            file: display(&f),
            message,
        })?;
        env.extend(vars.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    }
    env.extend(opts.env.clone());
    Ok(env)
}

/// Checks a file's top-level keys and drops the ones compose ignores, with a warning.
fn top_level_keys(
    doc: &mut Mapping,
    file: &str,
    warnings: &mut Vec<String>,
) -> Result<(), ComposeError> {
    for key in doc.keys().filter_map(scalar) {
        if key.starts_with("x-") || top_level::KEYS.contains(&key.as_str()) {
            continue;
        }
        return Err(ComposeError::UnsupportedKey {
            file: file.into(),
            where_: "top level".into(),
            key,
            hint: format!(" (supported: {}, include, x-*)", top_level::KEYS.join(", ")),
        });
    }
    for ignored in ["version", "name"] {
        if doc.shift_remove(ignored).is_some() {
            warnings.push(format!("{file}: top-level `{ignored}` is ignored (Branchyard names each preview's project itself)"));
        }
    }
    Ok(())
}

/// Loads, checks and (unless trusted) safety-checks a compose project.
///
/// # Errors
/// Unreadable or malformed files (with line and column), unsupported keys
/// (naming file, service and key), bad values, required variables unset,
/// undeclared references, dependency cycles, or, for untrusted repos,
/// [`ComposeError::Unsafe`] refusals.
pub fn load(opts: &LoadOptions) -> Result<Project, ComposeError> {
    let _span =
        tracing::info_span!("compose_load", project = %opts.project_name, files = opts.files.len())
            .entered();
    let env = environment(opts)?;
    let files: Vec<PathBuf> = opts
        .files
        .iter()
        .map(|f| {
            if f.is_absolute() {
                f.clone()
            } else {
                opts.working_dir.join(f)
            }
        })
        .collect();
    let first = files
        .first()
        .map(|f| display(f))
        .ok_or_else(|| ComposeError::NothingToRun {
            dir: display(&opts.working_dir),
            looked_for: "(no compose file was given)".into(),
        })?;
    let reader = Reader::default();
    let pass = Pass {
        reader: &reader,
        env: &env,
        dir: &opts.working_dir,
        confine: (!opts.trusted).then_some(opts.confine_to.as_path()),
        chain: Vec::new(),
    };
    let mut warnings = Vec::new();
    let Merged {
        doc: merged,
        origin,
    } = pass.merge_files(&files, &mut warnings)?;
    variable_warnings(&reader.lookups.borrow(), opts, &mut warnings);

    let mut project = Project {
        config_files: files.clone(),
        ..Project::empty(&opts.project_name, &opts.working_dir)
    };
    top_level::read(&merged, &first, &opts.working_dir, &env, &mut project)?;
    let services = match merged.get("services") {
        Some(Value::Mapping(s)) if !s.is_empty() => s,
        _ => {
            return Err(ComposeError::Invalid {
                file: first,
                where_: "top level".into(),
                key: "services".into(),
                message: "no services are defined".into(),
            })
        }
    };
    let (enabled, disabled) = profiles::split(services, &opts.profiles);
    if enabled.is_empty() {
        let all: Vec<String> = disabled.values().flatten().cloned().collect();
        return Err(ComposeError::Invalid {
            file: first,
            where_: "top level".into(),
            key: "profiles".into(),
            message: format!(
                "every service is behind a profile and none is active: activate one of {}",
                all.join(", ")
            ),
        });
    }
    for name in enabled {
        let file = origin
            .get(&name)
            .map(|f| display(f))
            .unwrap_or_else(|| first.clone());
        let Some(Value::Mapping(m)) = services.get(name.as_str()) else {
            continue;
        };
        let confine = (!opts.trusted).then_some(opts.confine_to.as_path());
        let ctx = typed::Ctx {
            file: &file,
            service: &name,
            dir: &opts.working_dir,
            env: &env,
            confine,
        };
        let mut svc = typed::service(&ctx, m, &mut warnings)?;
        if svc.networks.is_empty() && svc.privileged_settings.network_mode.is_none() {
            svc.networks.insert("default".into(), Default::default());
        }
        if svc.image.is_none() && svc.build.is_none() {
            return Err(ctx.invalid("image", "a service needs `image:` or `build:`"));
        }
        project.services.insert(name, svc);
    }
    relations::apply(&mut project, &disabled)?;
    profiles::check_dependencies(&mut project, &disabled, &mut warnings)?;
    references::check(&project)?;
    project.warnings = warnings;
    if !opts.trusted {
        super::safety::check(&project, &opts.confine_to)?;
    }
    tracing::debug!(services = project.services.len(), "compose project loaded");
    Ok(project)
}

/// Unset variables (once each, with where), and, for untrusted repos, which
/// variables of the user's own environment the files read.
fn variable_warnings(
    lookups: &[(String, Lookups)],
    opts: &LoadOptions,
    warnings: &mut Vec<String>,
) {
    let mut from_process: Vec<&str> = Vec::new();
    for (file, l) in lookups {
        let mut seen: Vec<&str> = Vec::new();
        for (var, at) in &l.unset {
            if !seen.contains(&var.as_str()) {
                seen.push(var);
                warnings.push(format!(
                    "{file}: {at}: variable {var} is not set; it is replaced by an empty string"
                ));
            }
        }
        for var in &l.used {
            if opts.env.contains_key(var) && !from_process.contains(&var.as_str()) {
                from_process.push(var);
            }
        }
    }
    if !opts.trusted && !from_process.is_empty() {
        warnings.push(format!(
            "the compose files of this untrusted repo read these variables from your environment: {}",
            from_process.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests;
