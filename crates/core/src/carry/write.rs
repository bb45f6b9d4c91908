//! Carrying out a [`Plan`]: copies and links written inside the worktree
//! only (never through a symlink, each through a temporary file renamed into
//! place), the manifest updated, and copies the user changed left alone.

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::manifest::{Entry, Manifest, Stamp};
use super::select::{Item, Plan};
use super::{CarriedFile, CarryError, CarryMode};

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Everything the worktree now holds from the main working directory.
    pub files: Vec<CarriedFile>,
    /// Files written (new or refreshed) by this run.
    pub written: usize,
    /// Files kept as they are because they were changed in the worktree (or
    /// were there before Branchyard carried anything).
    pub kept: Vec<String>,
    /// Carried files removed because nothing selects them any more.
    pub removed: usize,
}

impl Report {
    /// A one-line summary for the worktree step, empty when nothing is carried.
    pub fn summary(&self) -> String {
        if self.files.is_empty() {
            return String::new();
        }
        let mut s = format!(
            "{} carried file{}",
            self.files.len(),
            if self.files.len() == 1 { "" } else { "s" }
        );
        if self.written > 0 {
            s.push_str(&format!(", {} written", self.written));
        }
        if !self.kept.is_empty() {
            s.push_str(&format!(", {} kept as changed", self.kept.len()));
        }
        s
    }
}

/// Removes carried files the new commit tracks, when they are exactly what
/// Branchyard wrote, so the checkout can write the branch's own version.
/// Call before moving an existing worktree to the plan's commit.
///
/// # Errors
/// File system failures.
pub fn before_checkout(plan: &Plan, worktree: &Path) -> Result<(), CarryError> {
    if plan.release.is_empty() {
        return Ok(());
    }
    let mut manifest = Manifest::read(&plan.manifest).unwrap_or_default();
    manifest.files.retain(|e| {
        if !plan.release.contains(&e.path) {
            return true;
        }
        let target = worktree.join(&e.path);
        if e.unchanged_at(&target) {
            let _ = remove(&target);
        }
        false
    });
    manifest.write(&plan.manifest)
}

/// Copies or links every item of `plan` into `worktree`: a missing one is
/// written; a copy Branchyard wrote is refreshed when its source changed,
/// and kept when the user changed it; a file already there that Branchyard
/// did not write is kept unless it is identical. Carried files nothing
/// selects any more are removed when unchanged.
///
/// # Errors
/// A directory on the way is a symlink or a file, or file system failures.
pub fn apply(plan: &Plan, worktree: &Path) -> Result<Report, CarryError> {
    let old = Manifest::read(&plan.manifest).unwrap_or_default();
    let mut new = Manifest::default();
    let mut report = Report::default();
    // First what nothing selects any more (a linked directory may be in the
    // way of copies into it); a carried file the user changed is theirs now:
    // left, and forgotten.
    for e in &old.files {
        if !plan.items.iter().any(|i| i.rel == e.path) {
            let target = worktree.join(&e.path);
            if e.unchanged_at(&target) && remove(&target).is_ok() {
                report.removed += 1;
            }
        }
    }
    for item in &plan.items {
        let target = safe_target(worktree, item)?;
        let prev = old.get(&item.rel).filter(|p| p.source == item.source);
        let entry = carry_one(item, &target, prev, &mut report)?;
        new.files.push(entry);
    }
    if !new.files.is_empty() || plan.manifest.exists() {
        new.write(&plan.manifest)?;
    }
    report.files = new.files.iter().map(Entry::view).collect();
    report.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

/// Carries one item to `target` and returns its manifest entry.
fn carry_one(
    item: &Item,
    target: &Path,
    prev: Option<&Entry>,
    report: &mut Report,
) -> Result<Entry, CarryError> {
    let exists = target.symlink_metadata();
    let ours = prev.is_some_and(|p| p.unchanged_at(target));
    let kept = |report: &mut Report| {
        report.kept.push(item.rel.clone());
        Entry {
            path: item.rel.clone(),
            mode: item.mode,
            source: item.source.clone(),
            origin: item.origin.clone(),
            sha256: prev.and_then(|p| p.sha256.clone()),
            written: prev.and_then(|p| p.written.clone()),
            source_stamp: prev.and_then(|p| p.source_stamp.clone()),
            kept: true,
        }
    };
    match item.mode {
        CarryMode::Copy => {
            let source_meta =
                std::fs::metadata(&item.source).map_err(|e| CarryError::io(&item.source, e))?;
            if let (Some(p), true) = (prev, ours) {
                if p.mode == CarryMode::Copy && p.source_unchanged(&source_meta) {
                    return Ok(Entry {
                        origin: item.origin.clone(),
                        kept: false,
                        ..p.clone()
                    });
                }
            } else if let Ok(meta) = &exists {
                // Not written by Branchyard (or changed since): adopted only
                // when identical, else kept.
                let same = meta.is_file()
                    && super::manifest::hash_file(target).ok()
                        == super::manifest::hash_file(&item.source).ok();
                if !same {
                    return Ok(kept(report));
                }
            }
            let (sha256, written, source_stamp) = write_copy(&item.source, target)?;
            report.written += 1;
            Ok(Entry {
                path: item.rel.clone(),
                mode: CarryMode::Copy,
                source: item.source.clone(),
                origin: item.origin.clone(),
                sha256: Some(sha256),
                written: Some(written),
                source_stamp: Some(source_stamp),
                kept: false,
            })
        }
        CarryMode::Link => {
            let linked = std::fs::read_link(target).is_ok_and(|t| t == item.source);
            if !linked {
                if exists.is_ok() && !ours {
                    return Ok(kept(report));
                }
                write_link(&item.source, target)?;
                report.written += 1;
            }
            Ok(Entry {
                path: item.rel.clone(),
                mode: CarryMode::Link,
                source: item.source.clone(),
                origin: item.origin.clone(),
                sha256: None,
                written: None,
                source_stamp: None,
                kept: false,
            })
        }
    }
}

/// `worktree/rel`, with every directory on the way made (as a real
/// directory) or checked to be one: a symlink committed in the branch must
/// not lead a write out of the worktree.
fn safe_target(worktree: &Path, item: &Item) -> Result<PathBuf, CarryError> {
    let mut at = worktree.to_path_buf();
    let parts: Vec<&str> = item.rel.split('/').collect();
    let (name, dirs) = parts.split_last().unwrap_or((&"", &[]));
    for d in dirs {
        at.push(d);
        match at.symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                let pattern = item.origin.rsplit(": ").next().unwrap_or_default();
                return Err(CarryError::Outside {
                    file: item.file.clone(),
                    key: item.key.clone(),
                    pattern: pattern.to_string(),
                    path: item.rel.clone(),
                    problem: format!(
                        "{} in the worktree is a symlink or a file, not a directory, and Branchyard never writes through one",
                        at.display()
                    ),
                });
            }
            Err(_) => std::fs::create_dir(&at).map_err(|e| CarryError::io(&at, e))?,
        }
    }
    Ok(at.join(name))
}

/// The temporary file a write goes through, beside `target`.
fn temp_for(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.branchyard-tmp"))
}

/// Copies `source` to `target` with its permission bits (set-id bits
/// dropped); returns the content's sha256 and both files' stamps.
fn write_copy(source: &Path, target: &Path) -> Result<(String, Stamp, Stamp), CarryError> {
    let mut from = std::fs::File::open(source).map_err(|e| CarryError::io(source, e))?;
    let source_meta = from.metadata().map_err(|e| CarryError::io(source, e))?;
    let tmp = temp_for(target);
    let _ = std::fs::remove_file(&tmp);
    // Created private; the source's mode is applied once the content is in.
    let mut to = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| CarryError::io(&tmp, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let copied = (|| -> std::io::Result<()> {
        loop {
            let n = from.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            to.write_all(&buf[..n])?;
        }
        to.flush()?;
        let mode = source_meta.permissions().mode() & 0o777;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&tmp, target)
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(CarryError::io(target, e));
    }
    let written = std::fs::symlink_metadata(target).map_err(|e| CarryError::io(target, e))?;
    Ok((
        hex::encode(h.finalize()),
        Stamp::of(&written),
        Stamp::of(&source_meta),
    ))
}

/// Makes `target` a symlink to `source` (replacing what is there).
fn write_link(source: &Path, target: &Path) -> Result<(), CarryError> {
    let tmp = temp_for(target);
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(source, &tmp).map_err(|e| CarryError::io(&tmp, e))?;
    std::fs::rename(&tmp, target).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CarryError::io(target, e)
    })
}

/// Removes a carried file or link (never what a link points at).
fn remove(target: &Path) -> std::io::Result<()> {
    std::fs::remove_file(target)
}

#[cfg(test)]
mod tests;
