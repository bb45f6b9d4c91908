//! Source mounts: what a container that bind-mounts the preview's worktree
//! needs besides it, so the checkout works inside the container as it does
//! on the host. One rule, kept apart from loading and planning so the
//! compose planner stays runtime-neutral: this one is for an engine that
//! shares the host's file system (the local Docker engine). An engine where
//! the worktree is synced into a volume brings its own rule.
//!
//! - The repository's git directory, read-only at its own absolute path: the
//!   worktree's `.git` file names it that way (`gitdir: /…/repo/.git/worktrees/<name>`),
//!   so `git rev-parse HEAD`, `git describe`, `git log` and `git status` find the
//!   repository in the container. Nothing in it is writable from there:
//!   objects, refs, config, hooks, and the worktree's own index and HEAD.
//!   For an untrusted repo its `config` is replaced by a copy holding only
//!   what git needs to read the repository (format version, extensions), so
//!   credentials in remote URLs or `http.extraHeader` stay out of reach.
//! - `safe.directory=*` through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_0`, unless
//!   the service sets its own: the files belong to the host user, and git
//!   refuses a repository owned by someone else (the container's root).
//! - The main working directory's files that carried links point at, at
//!   their own paths, so the links resolve in the container.
//!
//! See docs/decisions/0012-git-inside-containers.md.

use std::path::{Path, PathBuf};

use super::load::paths;
use super::model::{Mount, Project};

/// What a worktree refers to outside itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceTree {
    /// The worktree (canonical).
    pub worktree: PathBuf,
    /// The repository's git directory, when the worktree has a `.git` link.
    pub git_dir: Option<GitDir>,
    /// Carried links: (path in the worktree, absolute target).
    pub links: Vec<(PathBuf, PathBuf)>,
}

/// The git directory a worktree's `.git` file leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitDir {
    /// The path the worktree's metadata names (the mount's target).
    pub path: PathBuf,
    /// The same directory on the host, symlinks resolved (the mount's source).
    pub host: PathBuf,
    /// A reduced `config` to mount over the repository's (untrusted repos).
    pub config: Option<PathBuf>,
}

/// Reads where `worktree`'s `.git` file leads. For an untrusted repo the
/// reduced config is written to `state_dir/git-config`.
///
/// # Errors
/// The reduced config cannot be written.
pub fn inspect(
    worktree: &Path,
    trusted: bool,
    state_dir: &Path,
    links: Vec<(PathBuf, PathBuf)>,
) -> std::io::Result<SourceTree> {
    let worktree = worktree
        .canonicalize()
        .unwrap_or_else(|_| worktree.to_path_buf());
    let git_dir = match common_dir(&worktree) {
        None => None,
        Some(path) => {
            let host = path.canonicalize().unwrap_or_else(|_| path.clone());
            let config = if trusted {
                None
            } else {
                Some(write_reduced_config(&host.join("config"), state_dir)?)
            };
            Some(GitDir { path, host, config })
        }
    };
    Ok(SourceTree {
        worktree,
        git_dir,
        links,
    })
}

/// The repository's common git directory as `worktree/.git` names it: its
/// `gitdir:` line, then that directory's `commondir` file.
fn common_dir(worktree: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(worktree.join(".git")).ok()?;
    let gitdir = text.strip_prefix("gitdir:")?.trim();
    let gitdir = paths::clean(&worktree.join(gitdir));
    let common = match std::fs::read_to_string(gitdir.join("commondir")) {
        Ok(c) => paths::clean(&gitdir.join(c.trim())),
        Err(_) => gitdir,
    };
    common.is_dir().then_some(common)
}

/// Writes the part of a repository config git needs to read the repository
/// (`core.repositoryformatversion`, `extensions.*`) to `state_dir/git-config`.
fn write_reduced_config(config: &Path, state_dir: &Path) -> std::io::Result<PathBuf> {
    let mut core = Vec::new();
    let mut extensions = Vec::new();
    if let Ok(cfg) = git2::Config::open(config) {
        if let Ok(v) = cfg.get_i32("core.repositoryformatversion") {
            core.push(format!("\trepositoryformatversion = {v}\n"));
        }
        if let Ok(mut entries) = cfg.entries(Some("extensions\\..*")) {
            while let Some(Ok(e)) = entries.next() {
                if let (Ok(name), Ok(value)) = (e.name(), e.value()) {
                    let key = name.trim_start_matches("extensions.");
                    // A value with a newline would add sections of its own.
                    if !value.contains(['\n', '\r']) {
                        extensions.push(format!("\t{key} = {value}\n"));
                    }
                }
            }
        }
    }
    let mut text = String::from("# What git in a preview's containers sees of the repository's config (Branchyard).\n[core]\n");
    text.extend(core);
    text.push_str("\tbare = false\n");
    if !extensions.is_empty() {
        text.push_str("[extensions]\n");
        text.extend(extensions);
    }
    std::fs::create_dir_all(state_dir)?;
    let path = state_dir.join("git-config");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&path, text)?;
    }
    Ok(path)
}

/// Env entries that let git use a repository owned by another user.
const SAFE_DIRECTORY: [(&str, &str); 3] = [
    ("GIT_CONFIG_COUNT", "1"),
    ("GIT_CONFIG_KEY_0", "safe.directory"),
    ("GIT_CONFIG_VALUE_0", "*"),
];

/// Adds the source mounts to every service that bind-mounts the worktree
/// (its root, where `.git` is, or a directory above it), and the carried
/// links' targets to every service that mounts where a link is.
pub fn apply(project: &mut Project, tree: &SourceTree) {
    for svc in project.services.values_mut() {
        let binds: Vec<(PathBuf, bool)> = svc
            .volumes
            .iter()
            .filter_map(|m| match m {
                Mount::Bind {
                    source, read_only, ..
                } => Some((source.clone(), *read_only)),
                _ => None,
            })
            .collect();
        let covering = |p: &Path| binds.iter().find(|(s, _)| p.starts_with(s)).map(|b| b.1);
        let mut extra = Vec::new();
        if let (Some(g), Some(_)) = (&tree.git_dir, covering(&tree.worktree)) {
            extra.push(bind(&g.host, &g.path, true));
            if let Some(c) = &g.config {
                extra.push(bind(c, &g.path.join("config"), true));
            }
            if !svc.environment.contains_key("GIT_CONFIG_COUNT") {
                for (k, v) in SAFE_DIRECTORY {
                    svc.environment.insert(k.into(), Some(v.into()));
                }
            }
        }
        for (at, target) in &tree.links {
            if let Some(read_only) = covering(&tree.worktree.join(at)) {
                extra.push(bind(target, target, read_only));
            }
        }
        for m in extra {
            let taken = svc.volumes.iter().any(|v| target_of(v) == target_of(&m));
            if !taken {
                svc.volumes.push(m);
            }
        }
    }
}

fn bind(source: &Path, target: &Path, read_only: bool) -> Mount {
    Mount::Bind {
        source: source.to_path_buf(),
        target: target.display().to_string(),
        read_only,
    }
}

fn target_of(m: &Mount) -> &str {
    match m {
        Mount::Volume { target, .. }
        | Mount::Anonymous { target }
        | Mount::Bind { target, .. }
        | Mount::Tmpfs { target, .. } => target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::Service;
    use crate::git::fixture::{git, repo_with_commit};

    fn project(services: Vec<(&str, Vec<Mount>)>) -> Project {
        Project {
            name: "p".into(),
            working_dir: PathBuf::from("/w"),
            config_files: Vec::new(),
            services: services
                .into_iter()
                .map(|(n, volumes)| {
                    (
                        n.to_string(),
                        Service {
                            volumes,
                            ..Service::default()
                        },
                    )
                })
                .collect(),
            networks: Default::default(),
            volumes: Default::default(),
            secrets: Default::default(),
            configs: Default::default(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_worktrees_git_link_leads_to_the_repositorys_git_directory() {
        let (d, repo) = repo_with_commit();
        git(
            &repo,
            "config remote.origin.url https://user:token@example.com/r.git",
        );
        let wt = d.path().join("wt");
        let sha = git(&repo, "rev-parse HEAD");
        crate::git::checkout(&repo, &wt, "w", &sha, false).unwrap();
        let state = d.path().join("state");
        let tree = inspect(&wt, false, &state, Vec::new()).unwrap();
        let g = tree.git_dir.clone().unwrap();
        assert_eq!(g.host, repo.join(".git").canonicalize().unwrap());
        let config = std::fs::read_to_string(g.config.unwrap()).unwrap();
        assert!(config.contains("repositoryformatversion = 0"), "{config}");
        assert!(
            !config.contains("token"),
            "no credential reaches the container: {config}"
        );
        let trusted = inspect(&wt, true, &state, Vec::new()).unwrap();
        assert!(
            trusted.git_dir.unwrap().config.is_none(),
            "a trusted repo's config is as it is"
        );
        assert!(inspect(d.path(), true, &state, Vec::new())
            .unwrap()
            .git_dir
            .is_none());
    }

    #[test]
    fn services_that_mount_the_worktree_get_the_git_directory_read_only() {
        let tree = SourceTree {
            worktree: PathBuf::from("/h/worktrees/shop/main"),
            git_dir: Some(GitDir {
                path: PathBuf::from("/src/shop/.git"),
                host: PathBuf::from("/src/shop/.git"),
                config: Some(PathBuf::from("/h/state/git-config")),
            }),
            links: vec![(
                PathBuf::from("config/db.yml"),
                PathBuf::from("/src/shop/config/db.yml"),
            )],
        };
        let wt = |sub: &str, ro: bool| Mount::Bind {
            source: PathBuf::from("/h/worktrees/shop/main").join(sub),
            target: "/app".into(),
            read_only: ro,
        };
        let mut p = project(vec![
            ("web", vec![wt("", false)]),
            ("docs", vec![wt("docs", true)]),
            ("conf", vec![wt("config", true)]),
            ("db", vec![]),
        ]);
        p.services["web"]
            .environment
            .insert("OTHER".into(), Some("1".into()));
        apply(&mut p, &tree);
        let web = &p.services["web"];
        assert!(web.volumes.contains(&Mount::Bind {
            source: "/src/shop/.git".into(),
            target: "/src/shop/.git".into(),
            read_only: true
        }));
        assert!(web.volumes.contains(&Mount::Bind {
            source: "/h/state/git-config".into(),
            target: "/src/shop/.git/config".into(),
            read_only: true
        }));
        assert!(
            web.volumes.contains(&Mount::Bind {
                source: "/src/shop/config/db.yml".into(),
                target: "/src/shop/config/db.yml".into(),
                read_only: false
            }),
            "the link resolves in the container"
        );
        assert_eq!(web.environment["GIT_CONFIG_VALUE_0"].as_deref(), Some("*"));
        assert_eq!(
            p.services["docs"].volumes.len(),
            1,
            "a subdirectory has no .git to follow"
        );
        assert_eq!(
            p.services["conf"].volumes.len(),
            2,
            "only the link under it, read-only like its mount"
        );
        assert!(p.services["db"].volumes.is_empty());
        let before = p.clone();
        apply(&mut p, &tree);
        assert_eq!(p, before, "applying twice adds nothing");
    }

    #[test]
    fn a_services_own_git_config_variables_are_left_alone() {
        let tree = SourceTree {
            worktree: PathBuf::from("/wt"),
            git_dir: Some(GitDir {
                path: PathBuf::from("/r/.git"),
                host: PathBuf::from("/r/.git"),
                config: None,
            }),
            links: Vec::new(),
        };
        let mut p = project(vec![(
            "web",
            vec![Mount::Bind {
                source: "/wt".into(),
                target: "/app".into(),
                read_only: false,
            }],
        )]);
        p.services["web"]
            .environment
            .insert("GIT_CONFIG_COUNT".into(), Some("2".into()));
        apply(&mut p, &tree);
        assert_eq!(p.services["web"].environment.len(), 1);
        assert_eq!(p.services["web"].volumes.len(), 2);
    }
}
