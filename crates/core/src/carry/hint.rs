//! Explaining a file the branch lacks: an `env_file` (or a bind mount's
//! source) missing from the worktree that the repo's main working directory
//! has, untracked or ignored, gets the line to add to `.worktreeinclude`.

use std::path::Path;

use super::{GUIDE, WORKTREEINCLUDE};
use crate::compose::model::{Mount, Project};
use crate::compose::{ComposeError, MissingFile};

/// How the main working directory holds a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Local {
    /// Ignored by git.
    Ignored,
    /// Untracked and not ignored.
    Untracked,
    /// Tracked on the branch checked out there.
    Tracked,
}

/// The main working directory's copy of `rel`, if it has one: `(state, is_dir)`.
fn local(main: &Path, rel: &str) -> Option<(Local, bool)> {
    let meta = std::fs::metadata(main.join(rel)).ok()?;
    let repo = git2::Repository::open(main).ok()?;
    let tracked = repo
        .index()
        .ok()
        .is_some_and(|i| i.get_path(Path::new(rel), 0).is_some());
    let probe = if meta.is_dir() {
        format!("{rel}/")
    } else {
        rel.to_string()
    };
    let state = if tracked {
        Local::Tracked
    } else if repo.is_path_ignored(&probe).unwrap_or(false) {
        Local::Ignored
    } else {
        Local::Untracked
    };
    Some((state, meta.is_dir()))
}

/// The hint for `rel`, missing from the worktree; empty when the main
/// working directory has nothing to offer.
fn hint_for(main: &Path, rel: &str) -> Option<String> {
    let (state, is_dir) = local(main, rel)?;
    let line = if is_dir {
        format!("/{rel}/")
    } else {
        format!("/{rel}")
    };
    let include = main.join(WORKTREEINCLUDE);
    Some(match state {
        Local::Ignored => format!(
            "; your main working directory {} has it, but git ignores it there, so a preview's worktree does not get it: add the line `{line}` to {} and run `up` again (see {GUIDE})",
            main.display(),
            include.display()
        ),
        Local::Untracked => format!(
            "; your main working directory {} has it, untracked: add `{line}` to .gitignore (so it is never committed) and to {}, then run `up` again (see {GUIDE})",
            main.display(),
            include.display()
        ),
        Local::Tracked => format!(
            "; your main working directory {} has it committed on the branch checked out there, but this branch does not: commit it on this branch too",
            main.display()
        ),
    })
}

/// `e` with a hint added when it is a file missing from `worktree` that
/// `main` has; other errors unchanged.
pub fn explain_missing(e: ComposeError, worktree: &Path, main: &Path) -> ComposeError {
    match e {
        ComposeError::MissingFile(mut m) if m.hint.is_empty() => {
            let rel = Path::new(&m.path)
                .strip_prefix(worktree)
                .ok()
                .and_then(|r| r.to_str())
                .map(str::to_string);
            m.hint = match rel.as_deref().and_then(|r| hint_for(main, r)) {
                Some(h) => h,
                None if m.key == "env_file" => format!(
                    "; if it is a local file (kept out of git), put it in your main working directory and name it in {WORKTREEINCLUDE} (see {GUIDE}), or mark the entry `required: false`"
                ),
                None => String::new(),
            };
            ComposeError::MissingFile(m)
        }
        other => other,
    }
}

/// Refuses a bind mount whose source file is missing from `worktree` while
/// `main` has it (Docker would make an empty directory in its place); a
/// missing directory the main working directory has only gets a warning,
/// since Docker makes it empty and that often is what a preview wants.
///
/// # Errors
/// [`ComposeError::MissingFile`] with the `.worktreeinclude` line to add.
pub fn check_bind_sources(
    project: &Project,
    worktree: &Path,
    main: &Path,
    warnings: &mut Vec<String>,
) -> Result<(), ComposeError> {
    let worktree = worktree
        .canonicalize()
        .unwrap_or_else(|_| worktree.to_path_buf());
    for (name, s) in &project.services {
        for m in &s.volumes {
            let Mount::Bind { source, .. } = m else {
                continue;
            };
            if source.symlink_metadata().is_ok() {
                continue;
            }
            let Some(rel) = source.strip_prefix(&worktree).ok().and_then(|r| r.to_str()) else {
                continue;
            };
            let Some(hint) = hint_for(main, rel) else {
                continue;
            };
            let is_dir = main.join(rel).is_dir();
            if is_dir {
                warnings.push(format!(
                    "{}: service {name:?}: volumes: {} does not exist in the preview's worktree, so Docker mounts an empty directory{hint}",
                    s.source_file.display(),
                    source.display()
                ));
            } else {
                return Err(ComposeError::MissingFile(Box::new(MissingFile {
                    file: s.source_file.display().to_string(),
                    service: name.clone(),
                    key: "volumes".into(),
                    path: source.display().to_string(),
                    hint,
                })));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::fixture::git;

    fn repo_with_ignored_env() -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let main = d.path().join("main");
        std::fs::create_dir(&main).unwrap();
        git(&main, "init -q -b main");
        std::fs::write(main.join(".gitignore"), ".env\ndata/\n").unwrap();
        std::fs::write(main.join("tracked.txt"), "t").unwrap();
        git(&main, "add -A");
        git(&main, "commit -q -m first");
        std::fs::write(main.join(".env"), "A=1\n").unwrap();
        std::fs::write(main.join("notes.env"), "B=1\n").unwrap();
        std::fs::create_dir(main.join("data")).unwrap();
        (d, main)
    }

    fn missing(wt: &Path, rel: &str, key: &str) -> ComposeError {
        ComposeError::MissingFile(Box::new(MissingFile {
            file: wt.join("compose.yaml").display().to_string(),
            service: "web".into(),
            key: key.into(),
            path: wt.join(rel).display().to_string(),
            hint: String::new(),
        }))
    }

    #[test]
    fn an_ignored_file_of_the_main_checkout_gets_the_line_to_add() {
        let (d, main) = repo_with_ignored_env();
        let wt = d.path().join("wt");
        let e = explain_missing(missing(&wt, ".env", "env_file"), &wt, &main).to_string();
        assert!(
            e.contains("compose.yaml")
                && e.contains("\"web\"")
                && e.contains("env_file")
                && e.contains("git ignores it")
                && e.contains("`/.env`")
                && e.contains(".worktreeinclude")
                && e.contains(GUIDE),
            "{e}"
        );
        let e = explain_missing(missing(&wt, "notes.env", "env_file"), &wt, &main).to_string();
        assert!(
            e.contains("untracked") && e.contains(".gitignore") && e.contains("`/notes.env`"),
            "{e}"
        );
        let e = explain_missing(missing(&wt, "tracked.txt", "env_file"), &wt, &main).to_string();
        assert!(e.contains("commit it on this branch"), "{e}");
        let e = explain_missing(missing(&wt, "nowhere.env", "env_file"), &wt, &main).to_string();
        assert!(
            e.contains("required: false") && e.contains(".worktreeinclude"),
            "a file nobody has still gets the way out: {e}"
        );
    }

    #[test]
    fn a_missing_bind_file_is_refused_and_a_missing_directory_warned_about() {
        let (d, main) = repo_with_ignored_env();
        let wt = d.path().join("wt");
        std::fs::create_dir(&wt).unwrap();
        let wt = wt.canonicalize().unwrap();
        let svc = |source: &str| crate::compose::model::Service {
            source_file: wt.join("compose.yaml"),
            volumes: vec![Mount::Bind {
                source: wt.join(source),
                target: "/x".into(),
                read_only: false,
            }],
            ..Default::default()
        };
        let project = |s| Project {
            name: "p".into(),
            working_dir: wt.clone(),
            config_files: Vec::new(),
            services: [("web".to_string(), s)].into_iter().collect(),
            networks: Default::default(),
            volumes: Default::default(),
            secrets: Default::default(),
            configs: Default::default(),
            warnings: Vec::new(),
        };
        let mut warnings = Vec::new();
        let e = check_bind_sources(&project(svc(".env")), &wt, &main, &mut warnings)
            .unwrap_err()
            .to_string();
        assert!(e.contains("volumes") && e.contains("`/.env`"), "{e}");
        check_bind_sources(&project(svc("data")), &wt, &main, &mut warnings).unwrap();
        assert!(
            warnings.len() == 1 && warnings[0].contains("`/data/`"),
            "{warnings:?}"
        );
        check_bind_sources(&project(svc("elsewhere")), &wt, &main, &mut warnings).unwrap();
        assert_eq!(warnings.len(), 1, "nothing to say about a path nobody has");
    }
}
