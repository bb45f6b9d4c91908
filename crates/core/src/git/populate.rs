//! Filling a new, empty worktree with a commit's tree, on several threads, and
//! writing the index that records what was written.
//!
//! A fresh preview of a big repo is almost all file creation, which the kernel
//! can do on several cores at once, while libgit2's checkout (and `git worktree
//! add`) write one file after another. This fast path covers plain trees only:
//! regular files, executables and symlinks, on Linux, with no attributes or
//! `core.autocrlf` that would ask for a filter, and only names git itself would
//! check out. Anything else goes through libgit2's checkout.

use std::ffi::OsStr;
use std::fs::{Metadata, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use git2::{Index, IndexEntry, IndexTime, Oid, Repository, Tree};

use super::GitError;

/// Below this many files threads cost more than they save.
const PARALLEL_FROM: usize = 512;
/// Beyond this, threads only queue on the same disk and directory locks.
const MAX_THREADS: usize = 4;
/// Files a thread takes at a time.
const BATCH: usize = 64;

const MODE_FILE: i32 = 0o100644;
const MODE_EXEC: i32 = 0o100755;
const MODE_LINK: i32 = 0o120000;
const MODE_TREE: i32 = 0o040000;

/// One blob to write: its path (git's `/`-separated bytes), object and mode.
struct Blob {
    path: Vec<u8>,
    id: Oid,
    mode: i32,
}

/// What a plain tree holds, in index order.
pub(super) struct Plan {
    dirs: Vec<Vec<u8>>,
    blobs: Vec<Blob>,
}

impl Plan {
    /// Number of files the plan writes.
    pub(super) fn len(&self) -> usize {
        self.blobs.len()
    }
}

/// The tree as a plan for the fast path, or `None` when it needs libgit2's
/// checkout (filters, submodules, odd names, another OS).
///
/// # Errors
/// libgit2 could not read the tree or the configuration.
pub(super) fn plan(repo: &Repository, tree: &Tree<'_>) -> Result<Option<Plan>, GitError> {
    if !cfg!(target_os = "linux") || needs_filters(repo)? {
        return Ok(None);
    }
    let mut plan = Plan {
        dirs: Vec::new(),
        blobs: Vec::new(),
    };
    let g = |e| GitError::git(repo.path(), e);
    // Depth first, in tree order: parents are made before their children.
    let mut stack: Vec<(Vec<u8>, Oid)> = vec![(Vec::new(), tree.id())];
    while let Some((prefix, id)) = stack.pop() {
        let tree = repo.find_tree(id).map_err(g)?;
        let mut subtrees = Vec::new();
        for entry in tree.iter() {
            let name = entry.name_bytes();
            if !plain_name(name) {
                return Ok(None);
            }
            let mut path = prefix.clone();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name);
            match entry.filemode() {
                MODE_TREE => subtrees.push((path, entry.id())),
                mode @ (MODE_FILE | MODE_EXEC | MODE_LINK) => plan.blobs.push(Blob {
                    path,
                    id: entry.id(),
                    mode,
                }),
                // Submodules (gitlinks) and anything unknown.
                _ => return Ok(None),
            }
        }
        for (path, id) in subtrees.into_iter().rev() {
            plan.dirs.push(path.clone());
            stack.push((path, id));
        }
    }
    // The index is sorted by path bytes; adding in that order keeps inserts cheap.
    plan.blobs.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    Ok(Some(plan))
}

/// Whether checkout must run filters: any `.gitattributes` source, or
/// `core.autocrlf = true`. (`.gitattributes` inside the tree is checked by
/// [`plan`] through [`plain_name`].)
fn needs_filters(repo: &Repository) -> Result<bool, GitError> {
    let config = repo.config().map_err(|e| GitError::git(repo.path(), e))?;
    if config.get_bool("core.autocrlf").unwrap_or(false)
        || config
            .get_bool("core.symlinks")
            .map(|s| !s)
            .unwrap_or(false)
        || config.get_path("core.attributesFile").is_ok()
    {
        return Ok(true);
    }
    if repo.commondir().join("info/attributes").is_file() {
        return Ok(true);
    }
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".config")));
    Ok(xdg.is_some_and(|d| d.join("git/attributes").is_file()))
}

/// A name git would check out as is, on any file system: not empty, `.`, `..`,
/// `.git` in any case, nor `.gitattributes` (which may ask for filters).
fn plain_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name != b"."
        && name != b".."
        && !name.eq_ignore_ascii_case(b".git")
        && !name.eq_ignore_ascii_case(b".gitattributes")
        && !name.contains(&b'/')
        && !name.contains(&b'\\')
        && !name.contains(&0)
}

/// Writes `plan` into the empty directory `root` (the worktree whose git
/// files are in place) and, at `index_path`, the index describing it.
/// Returns the files written.
///
/// # Errors
/// File system failures, or libgit2 could not read a blob or write the index.
pub(super) fn write(root: &Path, index_path: &Path, plan: Plan) -> Result<usize, GitError> {
    for dir in &plan.dirs {
        let p = root.join(OsStr::from_bytes(dir));
        std::fs::create_dir(&p).map_err(|e| GitError::io(&p, e))?;
    }
    let threads = if plan.blobs.len() < PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, MAX_THREADS)
    };
    // Threads take small batches in turn rather than fixed shares, so one that
    // gets less CPU (a busy machine) does not hold the others up; a batch of
    // neighbouring paths mostly stays in one directory.
    let next = AtomicUsize::new(0);
    let blobs = &plan.blobs;
    let written: Vec<Result<Vec<(usize, IndexEntry)>, GitError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    write_blobs(root, blobs, &next).inspect_err(|_| {
                        // Nothing more to take: the other threads stop too.
                        next.store(blobs.len(), Ordering::Relaxed);
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(GitError::io(
                        root,
                        std::io::Error::other("a checkout thread panicked"),
                    ))
                })
            })
            .collect()
    });
    let mut entries = Vec::with_capacity(blobs.len());
    for part in written {
        entries.extend(part?);
    }
    entries.sort_unstable_by_key(|(i, _)| *i);
    // An index of no repository: libgit2 then trusts the ids (it would look
    // each blob up in the object database again, though we just read them).
    let g = |e| GitError::git(index_path, e);
    let mut index = Index::open(index_path).map_err(g)?;
    for (_, entry) in &entries {
        index.add(entry).map_err(g)?;
    }
    index.write().map_err(g)?;
    Ok(entries.len())
}

/// Writes batches of `blobs` taken from `next` until none are left, with its
/// own repository handle (`Repository` is not `Sync`); returns their index
/// entries with their positions in `blobs`.
fn write_blobs(
    root: &Path,
    blobs: &[Blob],
    next: &AtomicUsize,
) -> Result<Vec<(usize, IndexEntry)>, GitError> {
    let repo = Repository::open(root).map_err(|e| GitError::git(root, e))?;
    let odb = repo.odb().map_err(|e| GitError::git(root, e))?;
    let mut out = Vec::new();
    loop {
        let start = next.fetch_add(BATCH, Ordering::Relaxed);
        if start >= blobs.len() {
            return Ok(out);
        }
        let end = (start + BATCH).min(blobs.len());
        for (i, blob) in blobs[start..end].iter().enumerate() {
            let path = root.join(OsStr::from_bytes(&blob.path));
            let object = odb.read(blob.id).map_err(|e| GitError::git(&path, e))?;
            let io = |e| GitError::io(&path, e);
            let meta = if blob.mode == MODE_LINK {
                std::os::unix::fs::symlink(OsStr::from_bytes(object.data()), &path).map_err(io)?;
                std::fs::symlink_metadata(&path).map_err(io)?
            } else {
                // create_new: never follow or reuse anything already there.
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(if blob.mode == MODE_EXEC { 0o777 } else { 0o666 })
                    .open(&path)
                    .map_err(io)?;
                file.write_all(object.data()).map_err(io)?;
                file.metadata().map_err(io)?
            };
            out.push((start + i, entry(blob, &meta)));
        }
    }
}

/// The index entry git would write for a file it just checked out. The
/// index stores 32-bit fields: truncation is what git does too.
#[allow(clippy::cast_possible_truncation)]
fn entry(blob: &Blob, meta: &Metadata) -> IndexEntry {
    let time = |s: i64, ns: i64| IndexTime::new(s as i32, ns as u32);
    IndexEntry {
        ctime: time(meta.ctime(), meta.ctime_nsec()),
        mtime: time(meta.mtime(), meta.mtime_nsec()),
        dev: meta.dev() as u32,
        ino: meta.ino() as u32,
        mode: blob.mode as u32,
        uid: meta.uid(),
        gid: meta.gid(),
        file_size: meta.size() as u32,
        id: blob.id,
        flags: 0,
        flags_extended: 0,
        path: blob.path.clone(),
    }
}
