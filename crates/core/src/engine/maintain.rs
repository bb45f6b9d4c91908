//! Upkeep a user asks for: `gc` (orphans) and `doctor` (is everything healthy).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::up::blocking;
use super::{Engine, PreviewRef};
use crate::error::Result;
use crate::git;
use crate::reconcile;

/// Something Branchyard made that nothing owns any more.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Orphan {
    /// `container`, `network`, `volume`, `worktree`, `route` or `preview`.
    pub kind: String,
    /// Its name (or path, or host).
    pub name: String,
    /// Why it is an orphan.
    pub reason: String,
}

/// What `doctor` found.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// Branchyard's home.
    pub home: String,
    /// Docker's version and where it is, or why it cannot be used.
    pub docker: std::result::Result<String, String>,
    /// How the engine is reached and who chose it (`None`: that failed).
    pub endpoint: Option<crate::docker::endpoint::Located>,
    /// What the engine says about itself (`None`: it did not answer).
    pub engine: Option<crate::docker::endpoint::EngineInfo>,
    /// Gateway health and where it listens, or why not.
    pub gateway: std::result::Result<String, String>,
    /// Bytes used by all worktrees.
    pub worktrees_bytes: u64,
    /// Number of previews.
    pub previews: usize,
}

impl DoctorReport {
    /// Whether everything checked is fine.
    pub fn ok(&self) -> bool {
        self.docker.is_ok() && self.gateway.is_ok()
    }
}

impl Engine {
    /// Lists orphans; with `apply`, removes them. Previews whose branch is gone
    /// are listed too and, with `apply`, torn down (their volumes kept).
    ///
    /// # Errors
    /// Store or Docker failure.
    pub async fn gc(&self, apply: bool) -> Result<Vec<Orphan>> {
        let previews = self.store().previews()?;
        let ids: HashSet<String> = previews.iter().map(|p| p.id.clone()).collect();
        let projects: HashSet<String> = previews.iter().map(|p| p.project.clone()).collect();
        let mut out = Vec::new();

        let docker = self.docker().await?;
        for o in reconcile::orphaned_objects(docker, &projects, &self.home_id()).await? {
            out.push(Orphan {
                kind: o.kind.to_string(),
                name: o.name.clone(),
                reason: format!("belongs to project {} which no preview owns", o.project),
            });
            if apply {
                reconcile::remove_orphan(docker, &o).await?;
            }
        }

        // Worktrees on disk with no preview.
        let known: HashSet<PathBuf> = previews
            .iter()
            .map(|p| PathBuf::from(&p.worktree))
            .collect();
        for dir in worktree_dirs(&self.home().worktrees_dir()) {
            if known.contains(&dir) {
                continue;
            }
            out.push(Orphan {
                kind: "worktree".into(),
                name: dir.display().to_string(),
                reason: "no preview uses it".into(),
            });
            if apply {
                let dirty = {
                    let d = dir.clone();
                    blocking(move || git::is_dirty(&d, &[]))
                        .await?
                        .unwrap_or(false)
                };
                if dirty {
                    tracing::warn!(path = %dir.display(), "kept: it has uncommitted changes");
                    continue;
                }
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        // Git's records of our worktrees in registered repos.
        for repo in self.repos()? {
            let rp = PathBuf::from(&repo.path);
            let listed = blocking(move || git::list_worktrees(&rp))
                .await?
                .unwrap_or_default();
            for (name, path) in listed {
                if !name.starts_with("branchyard-") || known.contains(&path) {
                    continue;
                }
                if path.exists() && !apply {
                    continue; // reported above as a worktree dir
                }
                out.push(Orphan {
                    kind: "worktree".into(),
                    name: format!("{}:{name}", repo.name),
                    reason: "git's record of a preview worktree no preview uses".into(),
                });
                if apply {
                    let (rp, p, n) = (PathBuf::from(&repo.path), path.clone(), name.clone());
                    let _ = blocking(move || git::remove_worktree(&rp, &p, &n, false, &[])).await?;
                }
            }
        }
        // Gateway routes with no preview.
        if let Some(g) =
            crate::gateway::attach(docker, self.home().root(), &self.gateway_settings()?).await?
        {
            // A gateway that is restarting right now is not an error for gc: its
            // routes are looked at on the next run.
            let routes = match g.routes().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "gc: the gateway did not answer; routes not checked");
                    Vec::new()
                }
            };
            for r in routes {
                if !ids.contains(&r.preview) {
                    out.push(Orphan {
                        kind: "route".into(),
                        name: r.host.clone(),
                        reason: format!("preview {} does not exist", r.preview),
                    });
                    if apply {
                        g.remove_route(&r.host).await?;
                    }
                }
            }
        }
        // Previews whose branch was deleted.
        for p in previews.iter().filter(|p| p.branch_gone) {
            out.push(Orphan {
                kind: "preview".into(),
                name: p.id.clone(),
                reason: format!("branch {} was deleted from {}", p.branch, p.repo),
            });
            if apply {
                self.down(
                    &PreviewRef::Id(p.id.clone()),
                    super::operate::DownOptions::default(),
                )
                .await?;
            }
        }
        Ok(out)
    }

    /// Checks Docker (which engine, reached how, and what it says about
    /// itself), the gateway and disk use.
    ///
    /// # Errors
    /// Store failure only: every other problem is reported in the result.
    pub async fn doctor(&self) -> Result<DoctorReport> {
        let report = self.engine_report().await;
        let docker = match (&report.engine, &report.error, &report.endpoint) {
            (_, Some(e), _) => Err(e.message.clone()),
            (Some(i), None, Some(l)) => Ok(format!(
                "{} {} (API {}) at {}, chosen by {}",
                i.product.as_deref().unwrap_or("Docker"),
                i.server_version,
                i.api_version,
                l.endpoint.host,
                l.endpoint.source
            )),
            _ => Err("the engine did not answer".into()),
        };
        let gateway = match self.docker().await {
            Err(_) => Err("not checked: Docker cannot be used (above)".into()),
            Ok(d) => match crate::gateway::attach(d, self.home().root(), &self.gateway_settings()?)
                .await
            {
                Ok(Some(g)) => match g.health().await {
                    Ok(h) => {
                        let ip = if g.lan() { "0.0.0.0" } else { "127.0.0.1" };
                        let https = g
                            .https_port()
                            .map(|p| format!(", HTTPS on {ip}:{p}"))
                            .unwrap_or_default();
                        Ok(format!(
                            "healthy, HTTP on {ip}:{}{https} ({} routes)",
                            g.http_port(),
                            h.routes
                        ))
                    }
                    Err(e) => Err(format!("not answering: {e}")),
                },
                Ok(None) => Err(
                    "not running (it starts with the first `branchyard up` or `branchyard serve`)"
                        .into(),
                ),
                Err(e) => Err(e.to_string()),
            },
        };
        let root = self.home().worktrees_dir();
        let worktrees_bytes = blocking(move || dir_size(&root)).await?;
        Ok(DoctorReport {
            home: self.home().root().display().to_string(),
            docker,
            endpoint: report.endpoint,
            engine: report.engine,
            gateway,
            worktrees_bytes,
            previews: self.store().previews()?.len(),
        })
    }
}

/// `worktrees/<repo>/<slug>` directories.
fn worktree_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(repos) = std::fs::read_dir(root) else {
        return out;
    };
    for repo in repos.flatten() {
        if let Ok(slugs) = std::fs::read_dir(repo.path()) {
            out.extend(slugs.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
    }
    out
}

/// Total size of regular files below `dir` (symlinks not followed).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    total
}
