//! Choosing what to carry: the patterns (the main working directory's and
//! the branch's `.worktreeinclude`, the branch's `[files]`), a walk of the
//! main working directory they steer, and the checks every selected file
//! must pass, all before anything is written.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use git2::{Repository, Tree};

use super::manifest::Manifest;
use super::pattern::{Origin, Pattern, PatternList};
use super::{CarryError, CarryMode, Input, WORKTREEINCLUDE};
use crate::git::GitError;
use crate::preview_config::{self, FilesToml};

/// At most this many files are copied into one worktree.
const MAX_FILES: usize = 10_000;
/// At most this many bytes are copied into one worktree.
const MAX_BYTES: u64 = 1 << 30;

/// What to carry into one worktree, checked; made by [`plan`], carried out by
/// [`super::apply`].
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The manifest of what was carried before.
    pub(super) manifest: PathBuf,
    /// The files (and linked directories) to carry, by path.
    pub(super) items: Vec<Item>,
    /// Carried files the commit now tracks: removed before checkout when unchanged.
    pub(super) release: Vec<String>,
    /// Things the user should know (links made copies, entries selecting nothing).
    pub warnings: Vec<String>,
}

/// One thing to carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Item {
    /// Path relative to both directories.
    pub rel: String,
    /// Copy or link.
    pub mode: CarryMode,
    /// The main working directory's file, symlinks resolved.
    pub source: PathBuf,
    /// The pattern that selected it, for status and messages.
    pub origin: String,
    /// The pattern file and where in it, for errors.
    pub file: String,
    /// `line 2` or `[files] copy`.
    pub key: String,
}

/// One list of patterns and what its selections become.
struct Source {
    list: PatternList,
    mode: CarryMode,
    /// `[files]`: a selected file git does not ignore is an error, not skipped.
    strict: bool,
    /// The pattern file, as messages name it.
    file: String,
    /// `[files] copy`; empty for a pattern file (its line is named instead).
    key: String,
}

impl Source {
    fn key_of(&self, p: &Pattern) -> String {
        if self.key.is_empty() {
            format!("line {}", p.origin.line)
        } else {
            self.key.clone()
        }
    }

    fn origin_of(&self, p: &Pattern) -> String {
        let file = if self.key.is_empty() {
            WORKTREEINCLUDE.to_string()
        } else {
            "branchyard.toml".into()
        };
        format!("{file} {}: {}", self.key_of(p), p.raw)
    }
}

/// Reads the patterns for the commit `input.sha` and checks every file they
/// select in the main working directory: ignored by git (`[files]` entries
/// must be), not tracked by the branch, inside the main working directory.
/// Nothing is written.
///
/// # Errors
/// A pattern naming `.git` or climbing with `..`, an absolute `[files]`
/// entry, a selected file the branch tracks or (for `[files]`) git does not
/// ignore, a symlink leading out of the main working directory in an
/// untrusted repo, too much to copy, a malformed branchyard.toml on the
/// branch, or git failures.
pub fn plan(input: &Input) -> Result<Plan, CarryError> {
    let repo = crate::git::open_repo(&input.repo)?;
    let Some(workdir) = repo.workdir() else {
        return Ok(Plan::default());
    };
    let main = workdir
        .canonicalize()
        .map_err(|e| CarryError::io(workdir, e))?;
    let git = |e: git2::Error| CarryError::Git(GitError::git(&input.repo, e));
    let oid = git2::Oid::from_str(&input.sha).map_err(git)?;
    let tree = repo.find_commit(oid).and_then(|c| c.tree()).map_err(git)?;
    let short: String = input.sha.chars().take(10).collect();

    let mut warnings = Vec::new();
    let sources = sources(&repo, &tree, &main, &short, input.trusted, &mut warnings)?;
    let manifest = Manifest::read(&input.manifest).unwrap_or_default();
    let release = manifest
        .files
        .iter()
        .filter(|e| tree.get_path(Path::new(&e.path)).is_ok())
        .map(|e| e.path.clone())
        .collect();
    let mut plan = Plan {
        manifest: input.manifest.clone(),
        items: Vec::new(),
        release,
        warnings,
    };
    if sources.is_empty() {
        return Ok(plan);
    }
    let mut found = Vec::new();
    walk(&main, "", &sources, &vec![None; sources.len()], &mut found)?;
    let index = repo.index().map_err(git)?;
    let mut used: HashSet<(usize, usize)> = HashSet::new();
    let (mut files, mut bytes) = (0usize, 0u64);
    for f in found {
        let s = &sources[f.source];
        let p = &s.list.patterns()[f.pattern];
        let Some(item) = check(&repo, &index, &tree, &main, input.trusted, s, p, &f)? else {
            continue;
        };
        used.insert((f.source, f.pattern));
        if item.mode == CarryMode::Copy {
            files += 1;
            bytes += std::fs::metadata(&item.source)
                .map(|m| m.len())
                .unwrap_or(0);
        }
        plan.items.push(item);
    }
    if files > MAX_FILES {
        return Err(CarryError::TooMuch {
            what: format!("{files} files to copy"),
            limit: format!("{MAX_FILES} files"),
        });
    }
    if bytes > MAX_BYTES {
        return Err(CarryError::TooMuch {
            what: format!("{} MB to copy", bytes >> 20),
            limit: format!("{} MB", MAX_BYTES >> 20),
        });
    }
    for (i, s) in sources.iter().enumerate().filter(|(_, s)| s.strict) {
        for (j, p) in s.list.patterns().iter().enumerate() {
            if !used.contains(&(i, j)) {
                plan.warnings.push(format!(
                    "branchyard.toml {}: {:?} selects no ignored file in {}",
                    s.key,
                    p.raw,
                    main.display()
                ));
            }
        }
    }
    Ok(plan)
}

/// The pattern lists, in priority order: `[files] link`, `[files] copy`,
/// then `.worktreeinclude` (the main working directory's, then the branch's
/// when it differs).
fn sources(
    repo: &Repository,
    tree: &Tree<'_>,
    main: &Path,
    short: &str,
    trusted: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<Source>, CarryError> {
    let toml_label = format!("{} (commit {short})", preview_config::TOML_FILE);
    let files = match blob_text(repo, tree, preview_config::TOML_FILE) {
        Some(text) => {
            preview_config::parse_toml(Path::new(&toml_label), &text)
                .map_err(CarryError::config)?
                .files
        }
        None => FilesToml::default(),
    };
    let mut out = Vec::new();
    if !files.link.is_empty() && !trusted {
        warnings.push(format!("{toml_label}: [files] link makes copies in this untrusted repo (a link would let the preview's containers write your file); run `branchyard repo trust` on the repo to get links"));
    }
    for (key, entries, mode) in [
        ("[files] link", &files.link, CarryMode::Link),
        ("[files] copy", &files.copy, CarryMode::Copy),
    ] {
        if entries.is_empty() {
            continue;
        }
        let mode = if trusted { mode } else { CarryMode::Copy };
        out.push(Source {
            list: toml_list(&toml_label, key, entries)?,
            mode,
            strict: true,
            file: toml_label.clone(),
            key: key.into(),
        });
    }
    let main_file = main.join(WORKTREEINCLUDE);
    let main_text = std::fs::read_to_string(&main_file).ok();
    let branch_text = blob_text(repo, tree, WORKTREEINCLUDE);
    let mut include = Vec::new();
    if let Some(t) = &main_text {
        include.push((main_file.display().to_string(), t.clone()));
    }
    if let Some(t) = branch_text.filter(|t| Some(t) != main_text.as_ref()) {
        include.push((format!("{WORKTREEINCLUDE} (commit {short})"), t));
    }
    for (file, text) in include {
        let list = PatternList::parse(&text, &file);
        for p in list.patterns() {
            refuse_bad(&file, &format!("line {}", p.origin.line), p)?;
        }
        out.push(Source {
            list,
            mode: CarryMode::Copy,
            strict: false,
            file,
            key: String::new(),
        });
    }
    Ok(out)
}

/// A `[files]` list as root-anchored patterns.
fn toml_list(file: &str, key: &str, entries: &[String]) -> Result<PatternList, CarryError> {
    let mut list = PatternList::default();
    for (i, e) in entries.iter().enumerate() {
        let bad = |problem: &str| CarryError::Pattern {
            file: file.into(),
            key: key.into(),
            pattern: e.clone(),
            problem: problem.into(),
        };
        if e.trim().is_empty() {
            return Err(bad("is empty: give a path relative to the repo root, like \".env\" or \"config/*.local.yml\""));
        }
        if e.starts_with('/') || e.starts_with('~') {
            return Err(bad("is an absolute path: entries are relative to the repo root, and only files of the repo's main working directory are carried"));
        }
        if e.starts_with('!') {
            return Err(bad(
                "is a negation: [files] lists what to carry; exclude files with `!` lines in .worktreeinclude instead",
            ));
        }
        let origin = Origin {
            file: file.into(),
            line: i + 1,
        };
        let Some(mut p) = Pattern::parse(&format!("/{e}"), origin) else {
            return Err(bad("is not a usable path"));
        };
        p.raw = e.clone();
        refuse_bad(file, key, &p)?;
        list.push(p);
    }
    Ok(list)
}

/// Refuses a positive pattern that names `.git` or climbs with `..`.
fn refuse_bad(file: &str, key: &str, p: &Pattern) -> Result<(), CarryError> {
    let bad = |problem: &str| CarryError::Pattern {
        file: file.into(),
        key: key.into(),
        pattern: p.raw.clone(),
        problem: problem.into(),
    };
    if p.is_negative() {
        return Ok(());
    }
    if p.climbs() {
        return Err(bad("climbs with `..`: patterns are relative to the repo root and can only select files inside the repo's main working directory"));
    }
    if p.literal_components().iter().any(|c| c == ".git") {
        return Err(bad("names .git: git's own data is never carried into a worktree (the worktree has its own link to the repository)"));
    }
    Ok(())
}

/// A file of the commit's tree as text, if it is there.
fn blob_text(repo: &Repository, tree: &Tree<'_>, path: &str) -> Option<String> {
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = entry.to_object(repo).ok()?.into_blob().ok()?;
    String::from_utf8(blob.content().to_vec()).ok()
}

/// A path a pattern selected during the walk.
struct Found {
    rel: String,
    /// A directory selected as a whole (only by a link pattern).
    is_dir: bool,
    source: usize,
    pattern: usize,
}

/// Walks `dir` (relative to `main`) without following symlinks, skipping
/// `.git` and nested repositories, descending only where a pattern may
/// still select something, and collects what the sources select.
/// `inherited` holds, per source, the pattern that selected a parent
/// directory (everything below it is selected, as in git).
fn walk(
    main: &Path,
    dir: &str,
    sources: &[Source],
    inherited: &[Option<usize>],
    found: &mut Vec<Found>,
) -> Result<(), CarryError> {
    let abs = if dir.is_empty() {
        main.to_path_buf()
    } else {
        main.join(dir)
    };
    let rd = std::fs::read_dir(&abs).map_err(|e| CarryError::io(&abs, e))?;
    // Names that are not UTF-8 are never carried; sorted so runs repeat.
    let mut entries: Vec<(String, std::fs::FileType)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.file_type().ok()?)))
        .filter(|(name, _)| name != ".git")
        .collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut selected = vec![None; sources.len()];
    for (name, ft) in entries {
        let is_dir = ft.is_dir();
        if is_dir && abs.join(&name).join(".git").symlink_metadata().is_ok() {
            continue; // a nested repository: its files are not this repo's
        }
        let rel = if dir.is_empty() {
            name
        } else {
            format!("{dir}/{name}")
        };
        let mut first = None;
        for (i, (s, up)) in sources.iter().zip(inherited).enumerate() {
            selected[i] = up.or_else(|| s.list.selects_itself(&rel, is_dir));
            if first.is_none() {
                first = selected[i].map(|p| (i, p));
            }
        }
        if is_dir {
            if let Some((i, j)) = first.filter(|(i, _)| sources[*i].mode == CarryMode::Link) {
                found.push(Found {
                    rel,
                    is_dir: true,
                    source: i,
                    pattern: j,
                });
                continue;
            }
            if first.is_some() || sources.iter().any(|s| s.list.may_select_below(&rel)) {
                let below = selected.clone();
                walk(main, &rel, sources, &below, found)?;
            }
        } else if let Some((i, j)) = first {
            found.push(Found {
                rel,
                is_dir: false,
                source: i,
                pattern: j,
            });
        }
    }
    Ok(())
}

/// Checks one selected path; `None` when it is simply not carried (a
/// `.worktreeinclude` match git does not ignore, or not a regular file).
#[allow(clippy::too_many_arguments)]
fn check(
    repo: &Repository,
    index: &git2::Index,
    tree: &Tree<'_>,
    main: &Path,
    trusted: bool,
    s: &Source,
    p: &Pattern,
    f: &Found,
) -> Result<Option<Item>, CarryError> {
    let key = s.key_of(p);
    let rel = &f.rel;
    let tracked_here = if f.is_dir {
        let prefix = format!("{rel}/");
        index.iter().any(|e| e.path.starts_with(prefix.as_bytes()))
    } else {
        index.get_path(Path::new(rel), 0).is_some()
    };
    let probe = if f.is_dir {
        format!("{rel}/")
    } else {
        rel.clone()
    };
    let ignored = !tracked_here
        && repo
            .is_path_ignored(&probe)
            .map_err(|e| CarryError::Git(GitError::git(main, e)))?;
    if !ignored {
        if s.strict {
            return Err(CarryError::NotIgnored {
                file: s.file.clone(),
                key,
                pattern: p.raw.clone(),
                path: rel.clone(),
                main: main.display().to_string(),
            });
        }
        return Ok(None);
    }
    if let Some(tracked) = tracked_by_branch(tree, rel) {
        return Err(CarryError::Tracked {
            file: s.file.clone(),
            key,
            pattern: p.raw.clone(),
            path: tracked,
        });
    }
    let at = main.join(rel);
    let source = match at.canonicalize() {
        Ok(s) => s,
        Err(_) => return Ok(None), // a dangling symlink: nothing to carry
    };
    if !trusted && !source.starts_with(main) {
        return Err(CarryError::Outside {
            file: s.file.clone(),
            key,
            pattern: p.raw.clone(),
            path: rel.clone(),
            problem: format!(
                "it is a symlink to {}, outside the repo's main working directory {} (allowed only in a trusted repo)",
                source.display(),
                main.display()
            ),
        });
    }
    let meta = std::fs::metadata(&source).map_err(|e| CarryError::io(&source, e))?;
    let fits = if f.is_dir {
        meta.is_dir()
    } else {
        meta.is_file()
    };
    if !fits {
        return Ok(None);
    }
    Ok(Some(Item {
        rel: rel.clone(),
        mode: s.mode,
        source,
        origin: s.origin_of(p),
        file: s.file.clone(),
        key,
    }))
}

/// The path the branch tracks at `rel` or at one of its parents (a file
/// where the carried file needs a directory), if any.
fn tracked_by_branch(tree: &Tree<'_>, rel: &str) -> Option<String> {
    let mut prefix = String::new();
    for part in rel.split('/') {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        if let Ok(e) = tree.get_path(Path::new(&prefix)) {
            let is_tree = e.kind() == Some(git2::ObjectType::Tree);
            if prefix.len() == rel.len() || !is_tree {
                return Some(prefix);
            }
        } else {
            return None;
        }
    }
    None
}

#[cfg(test)]
pub(super) mod tests;
