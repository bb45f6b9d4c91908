//! The record of what was carried into one worktree: per file, how, from
//! where, and what Branchyard wrote (its hash and the file's stat data), so a
//! later `up` can tell a copy the user changed from one to refresh. Kept in
//! the preview's state directory, outside the worktree, where neither the
//! branch nor its containers can rewrite it.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{CarriedFile, CarryError, CarryMode};

/// Format version of the file.
const VERSION: u32 = 1;

/// What a worktree holds from the main working directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// Carried files, by path.
    pub files: Vec<Entry>,
}

/// One carried file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the worktree.
    pub path: String,
    /// Copy or link.
    pub mode: CarryMode,
    /// The main working directory's file (resolved).
    pub source: PathBuf,
    /// The pattern that selected it.
    pub origin: String,
    /// sha256 of what was written (copies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The copy's stat data right after it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<Stamp>,
    /// The source's stat data when it was copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_stamp: Option<Stamp>,
    /// The user changed the copy: it is kept and not refreshed.
    #[serde(default)]
    pub kept: bool,
}

impl Entry {
    /// As `status` shows it.
    pub fn view(&self) -> CarriedFile {
        CarriedFile {
            path: self.path.clone(),
            mode: self.mode,
            origin: self.origin.clone(),
            kept: self.kept,
        }
    }

    /// Whether the file at `target` is still exactly what was written: same
    /// stat data (cheap), else same content.
    pub fn unchanged_at(&self, target: &Path) -> bool {
        match self.mode {
            CarryMode::Link => std::fs::read_link(target).is_ok_and(|t| t == self.source),
            CarryMode::Copy => {
                let Ok(meta) = std::fs::symlink_metadata(target) else {
                    return false;
                };
                if !meta.is_file() {
                    return false;
                }
                if self.written.as_ref() == Some(&Stamp::of(&meta)) {
                    return true;
                }
                hash_file(target).ok().as_ref() == self.sha256.as_ref()
            }
        }
    }

    /// Whether the source still holds what was copied (stat data, else content).
    pub fn source_unchanged(&self, source_meta: &std::fs::Metadata) -> bool {
        if self.source_stamp.as_ref() == Some(&Stamp::of(source_meta)) {
            return true;
        }
        hash_file(&self.source).ok().as_ref() == self.sha256.as_ref()
    }
}

/// The stat data that changes whenever a file is rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Size in bytes.
    pub len: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Inode (a rename over the file changes it).
    pub ino: u64,
    /// Permission bits.
    pub mode: u32,
}

impl Stamp {
    /// The stamp of `meta`.
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ino: meta.ino(),
            mode: meta.mode() & 0o7777,
        }
    }
}

impl Manifest {
    /// Reads the manifest at `path`; a missing file is an empty manifest.
    ///
    /// # Errors
    /// Unreadable or malformed.
    pub fn read(path: &Path) -> Result<Manifest, CarryError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                CarryError::io(
                    path,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(CarryError::io(path, e)),
        }
    }

    /// Writes it to `path` (through a temporary file, so a crash leaves the old one).
    ///
    /// # Errors
    /// File system failures.
    pub fn write(&self, path: &Path) -> Result<(), CarryError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| CarryError::io(parent, e))?;
        }
        let mut m = self.clone();
        m.version = VERSION;
        m.files.sort_by(|a, b| a.path.cmp(&b.path));
        let text = serde_json::to_vec_pretty(&m).map_err(|e| {
            CarryError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            )
        })?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| CarryError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| CarryError::io(path, e))
    }

    /// The entry for `path`, if any.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.files.iter().find(|e| e.path == path)
    }
}

/// sha256 of a file's content, hex.
///
/// # Errors
/// The file cannot be read.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dir: &Path, content: &str) -> Entry {
        let target = dir.join("t");
        std::fs::write(&target, content).unwrap();
        let source = dir.join("s");
        std::fs::write(&source, content).unwrap();
        Entry {
            path: "t".into(),
            mode: CarryMode::Copy,
            source: source.clone(),
            origin: ".worktreeinclude line 1: t".into(),
            sha256: Some(hash_file(&target).unwrap()),
            written: Some(Stamp::of(&std::fs::metadata(&target).unwrap())),
            source_stamp: Some(Stamp::of(&std::fs::metadata(&source).unwrap())),
            kept: false,
        }
    }

    #[test]
    fn a_copy_is_unchanged_until_its_content_changes() {
        let d = tempfile::tempdir().unwrap();
        let e = entry(d.path(), "A=1\n");
        let target = d.path().join("t");
        assert!(e.unchanged_at(&target));
        // Same content rewritten (new inode and mtime): still what was written.
        std::fs::remove_file(&target).unwrap();
        std::fs::write(&target, "A=1\n").unwrap();
        assert!(
            e.unchanged_at(&target),
            "content decides when stat data differs"
        );
        std::fs::write(&target, "A=2\n").unwrap();
        assert!(!e.unchanged_at(&target), "an edit is a change");
        std::fs::remove_file(&target).unwrap();
        assert!(!e.unchanged_at(&target), "a deleted copy is not unchanged");
    }

    #[test]
    fn a_source_counts_as_changed_only_when_its_content_does() {
        let d = tempfile::tempdir().unwrap();
        let e = entry(d.path(), "A=1\n");
        let source = d.path().join("s");
        assert!(e.source_unchanged(&std::fs::metadata(&source).unwrap()));
        std::fs::write(&source, "A=1\n").unwrap();
        assert!(e.source_unchanged(&std::fs::metadata(&source).unwrap()));
        std::fs::write(&source, "A=2\n").unwrap();
        assert!(!e.source_unchanged(&std::fs::metadata(&source).unwrap()));
    }

    #[test]
    fn a_link_is_unchanged_while_it_points_at_its_source() {
        let d = tempfile::tempdir().unwrap();
        let source = d.path().join("s");
        std::fs::write(&source, "x").unwrap();
        let target = d.path().join("l");
        std::os::unix::fs::symlink(&source, &target).unwrap();
        let e = Entry {
            path: "l".into(),
            mode: CarryMode::Link,
            source: source.clone(),
            origin: "o".into(),
            sha256: None,
            written: None,
            source_stamp: None,
            kept: false,
        };
        assert!(e.unchanged_at(&target));
        std::fs::remove_file(&target).unwrap();
        std::fs::write(&target, "x").unwrap();
        assert!(
            !e.unchanged_at(&target),
            "a file in its place is the user's"
        );
    }

    #[test]
    fn the_manifest_round_trips_and_a_missing_one_is_empty() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("state/carried.json");
        assert_eq!(Manifest::read(&path).unwrap(), Manifest::default());
        let m = Manifest {
            version: 0,
            files: vec![entry(d.path(), "x")],
        };
        m.write(&path).unwrap();
        let back = Manifest::read(&path).unwrap();
        assert_eq!(back.version, VERSION);
        assert_eq!(back.files, m.files);
        assert!(back.get("t").is_some() && back.get("u").is_none());
        std::fs::write(&path, "{not json").unwrap();
        assert!(Manifest::read(&path).is_err());
    }
}
