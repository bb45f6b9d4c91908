//! Host paths as Docker will see them: made absolute, `.`/`..` folded the way
//! Docker cleans a bind source, then symlinks resolved as far as the path
//! exists, so a link pointing out of the worktree is seen for what it is.

use std::path::{Component, Path, PathBuf};

/// `p` against `base` (with `~/` as the home directory), cleaned and canonical
/// as far as it exists.
pub fn absolute(base: &Path, p: &str) -> PathBuf {
    let p = match p.strip_prefix("~/") {
        Some(rest) => dirs::home_dir().unwrap_or_default().join(rest),
        None if p == "~" => dirs::home_dir().unwrap_or_default(),
        None => PathBuf::from(p),
    };
    let abs = if p.is_absolute() { p } else { base.join(p) };
    canonical(&abs)
}

/// `..` and `.` folded without touching the disk, like Go's `filepath.Clean`.
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Cleans `p`, then resolves symlinks in its longest existing prefix; the
/// missing rest is appended as is (it has no `..` left to climb out with).
pub fn canonical(p: &Path) -> PathBuf {
    let cleaned = clean(p);
    let mut existing = cleaned.clone();
    let mut rest = Vec::new();
    // `symlink_metadata` so a dangling link still counts as existing and is resolved below.
    while existing.symlink_metadata().is_err() {
        match (
            existing.file_name().map(|s| s.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = match existing.canonicalize() {
        Ok(c) => c,
        // A dangling symlink: follow it by hand, once, so its target is judged.
        Err(_) => match std::fs::read_link(&existing) {
            Ok(target) => {
                let parent = existing.parent().map(Path::to_path_buf).unwrap_or_default();
                let target = if target.is_absolute() {
                    target
                } else {
                    parent.join(target)
                };
                clean(&target)
            }
            Err(_) => existing,
        },
    };
    for part in rest.into_iter().rev() {
        out.push(part);
    }
    out
}

/// Whether `p`, resolved both after Docker's cleaning and physically (a
/// `link/..` climbs from the link's target), stays under `root`.
pub fn is_inside(p: &Path, root: &Path) -> bool {
    let root = canonical(root);
    let physical = p.canonicalize().unwrap_or_else(|_| canonical(p));
    canonical(p).starts_with(&root) && physical.starts_with(&root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_cleaned_against_the_base() {
        assert_eq!(
            absolute(Path::new("/nonexistent/w"), "./a/../b"),
            PathBuf::from("/nonexistent/w/b")
        );
        assert_eq!(
            absolute(Path::new("/nonexistent/w"), "/abs"),
            PathBuf::from("/abs")
        );
        assert_eq!(clean(Path::new("/a/./b/../../..")), PathBuf::from("/"));
    }

    #[test]
    fn symlinks_are_followed_even_behind_a_missing_directory_and_dotdot() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        assert_eq!(absolute(&root, "./link/x"), PathBuf::from("/etc/x"));
        assert_eq!(
            absolute(&root, "./missing/../link"),
            PathBuf::from("/etc"),
            "docker cleans `missing/..` away"
        );
        assert!(!is_inside(&root.join("missing/../link"), &root));
        assert!(is_inside(&root.join("sub/new"), &root));
        std::os::unix::fs::symlink("/nonexistent-target", root.join("dangling")).unwrap();
        assert_eq!(
            absolute(&root, "dangling"),
            PathBuf::from("/nonexistent-target")
        );
    }
}
