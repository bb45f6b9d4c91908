//! Reading previews: list, status, logs, exec, and the resolved config.

use std::path::{Path, PathBuf};

use futures_util::Stream;
use serde::Serialize;

use super::up::blocking;
use super::{project_name, Engine, PreviewRef};
use crate::carry::{self, CarriedFile};
use crate::docker::{self, ExecOutcome, LogLine};
use crate::error::{Error, Result};
use crate::events::ServiceStatus;
use crate::git;
use crate::preview_config::{self, ResolveInput, Resolved};
use crate::reconcile;
use crate::store::{PreviewRecord, Transition};

/// A preview with the live status of its services.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewView {
    /// The stored record.
    #[serde(flatten)]
    pub record: PreviewRecord,
    /// Each service's container as Docker reports it now (empty when Docker is down).
    pub services: Vec<ServiceStatus>,
    /// Gitignored files carried into its worktree from the repo's main
    /// working directory, as of the last `up`.
    pub carried: Vec<CarriedFile>,
}

/// Everything `status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewStatus {
    /// The preview and its services.
    #[serde(flatten)]
    pub view: PreviewView,
    /// Its transitions, oldest first.
    pub transitions: Vec<Transition>,
    /// Requests the gateway has seen for it since the gateway started
    /// (`None` when the gateway does not run or has seen none).
    pub traffic: Option<crate::gateway::Traffic>,
}

impl Engine {
    /// All previews with their services' live status.
    ///
    /// # Errors
    /// Store failure (Docker being down only empties `services`).
    pub async fn list(&self) -> Result<Vec<PreviewView>> {
        let records = self.store().previews()?;
        let mut out = Vec::with_capacity(records.len());
        let mut moved = false;
        let judge = !self.serve_running();
        for mut record in records {
            let services = self.observe(&mut record, judge, &mut moved).await;
            let carried = carry::carried(&self.home().carried_manifest(&record.id));
            out.push(PreviewView {
                record,
                services,
                carried,
            });
        }
        if moved {
            // The gateway's pages name the new states before this process exits.
            self.flush_routes().await;
        }
        Ok(out)
    }

    /// One preview with its services and its transitions log.
    ///
    /// # Errors
    /// No such preview.
    pub async fn status(&self, r: &PreviewRef) -> Result<PreviewStatus> {
        let mut record = self.find_preview(r)?;
        let mut moved = false;
        let services = self
            .observe(&mut record, !self.serve_running(), &mut moved)
            .await;
        if moved {
            self.flush_routes().await;
        }
        let transitions = self.store().transitions(&record.id)?;
        let traffic = self.traffic_of(&record.id).await;
        let carried = carry::carried(&self.home().carried_manifest(&record.id));
        Ok(PreviewStatus {
            view: PreviewView {
                record,
                services,
                carried,
            },
            transitions,
            traffic,
        })
    }

    /// The gateway's request counts for one preview (`GET /stats`).
    async fn traffic_of(&self, id: &str) -> Option<crate::gateway::Traffic> {
        let docker = self.docker().await.ok()?;
        let settings = self.gateway_settings().ok()?;
        let g = crate::gateway::attach(docker, self.home().root(), &settings)
            .await
            .ok()??;
        g.stats().await.ok()?.previews.get(id).copied()
    }

    /// The previews as recorded, without asking Docker: what the tray draws.
    ///
    /// # Errors
    /// Store failure.
    pub fn records(&self) -> Result<Vec<PreviewRecord>> {
        Ok(self.store().previews()?)
    }

    /// The preview's services as Docker reports them now and, with `judge`,
    /// the record moved between ready and degraded to match (`moved` set when
    /// it was; nothing is judged when Docker cannot be asked). A running
    /// `serve` judges on every Docker event itself, so then `judge` is off:
    /// the app's own listings and other processes' `ls` only read.
    async fn observe(
        &self,
        rec: &mut PreviewRecord,
        judge: bool,
        moved: &mut bool,
    ) -> Vec<ServiceStatus> {
        let Some(services) = self.read_services(rec).await else {
            return Vec::new();
        };
        if judge {
            *moved |= self.judge(rec, &services, "status").is_some();
        }
        services
    }

    async fn services_of(&self, rec: &PreviewRecord) -> Vec<ServiceStatus> {
        self.read_services(rec).await.unwrap_or_default()
    }

    /// `None` when Docker cannot be asked, which is not "no containers".
    async fn read_services(&self, rec: &PreviewRecord) -> Option<Vec<ServiceStatus>> {
        let docker = self.docker().await.ok()?;
        reconcile::service_statuses(docker, &rec.project).await.ok()
    }

    /// The container of `service` in a preview (the first routed one when `None`).
    async fn container_of(&self, rec: &PreviewRecord, service: Option<&str>) -> Result<String> {
        let services = self.services_of(rec).await;
        let pick = match service {
            Some(s) => services.iter().find(|x| x.service == s),
            None => rec
                .urls
                .first()
                .and_then(|u| services.iter().find(|x| x.service == u.service))
                .or_else(|| services.first()),
        };
        pick.map(|s| s.container.clone()).ok_or_else(|| {
            let names: Vec<_> = services.iter().map(|s| s.service.as_str()).collect();
            Error::NotFound(format!(
                "preview {} has no container for service {}; services: {}",
                rec.id,
                service.unwrap_or("(any)"),
                if names.is_empty() {
                    "none running".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })
    }

    /// A service's logs; `follow` keeps the stream open.
    ///
    /// # Errors
    /// No such preview or service, or Docker is down.
    pub async fn logs(
        &self,
        r: &PreviewRef,
        service: Option<&str>,
        tail: Option<usize>,
        follow: bool,
    ) -> Result<impl Stream<Item = std::result::Result<LogLine, docker::DockerError>> + use<>> {
        let rec = self.find_preview(r)?;
        let container = self.container_of(&rec, service).await?;
        let docker = self.docker().await?.clone();
        Ok(docker::logs(&docker, &container, tail, follow))
    }

    /// Runs a command in a service's container.
    ///
    /// # Errors
    /// No such preview or service, or Docker failed.
    pub async fn exec(
        &self,
        r: &PreviewRef,
        service: &str,
        cmd: Vec<String>,
    ) -> Result<ExecOutcome> {
        let rec = self.find_preview(r)?;
        let container = self.container_of(&rec, Some(service)).await?;
        let docker = self.docker().await?;
        Ok(docker::exec(docker, &container, cmd, false).await?)
    }

    /// The resolved project of `branch` exactly as `up` would run it, read from
    /// the branch's committed tree (the preview's worktree when one exists).
    ///
    /// # Errors
    /// The compose files' errors, or a missing repo or branch.
    pub async fn config(&self, repo: &str, branch: &str) -> Result<Resolved> {
        let repo = self.repo(repo)?;
        let path = PathBuf::from(&repo.path);
        let b = branch.to_string();
        let sha = blocking(move || git::resolve_branch(&path, &b)).await??;
        if let Some(rec) = self.store().preview_of(&repo.name, branch)? {
            if Path::new(&rec.worktree).exists() && rec.commit_sha.as_deref() == Some(&sha) {
                return self.resolve(&repo, &rec, &sha, &[]).await;
            }
        }
        // Check the branch out into a scratch worktree so the user's checkout is untouched.
        let scratch = tempdir_in(&self.home().root().join("tmp"))?;
        let slug = git::slugify(branch);
        let wt = scratch.join(&slug);
        let name = format!("branchyard-config-{}", std::process::id());
        // The scratch worktree gets its carried files too, so what is shown
        // is what `up` would run (the manifest stays in the scratch dir).
        let manifest = scratch.join("carried.json");
        let checked = super::worktree::checkout_and_carry(super::worktree::Checkout {
            repo_path: PathBuf::from(&repo.path),
            worktree: wt.clone(),
            name: name.clone(),
            sha: sha.clone(),
            force: true,
            trusted: repo.trusted,
            manifest: manifest.clone(),
        })
        .await;
        if let Err(e) = checked {
            let rp = PathBuf::from(&repo.path);
            let (w, n) = (wt.clone(), name.clone());
            let _ = blocking(move || git::remove_worktree(&rp, &w, &n, true, &[])).await;
            let _ = std::fs::remove_dir_all(&scratch);
            return Err(e);
        }
        let rec_like = PreviewRecord {
            id: super::preview_id(&repo.name, &slug),
            repo: repo.name.clone(),
            branch: branch.to_string(),
            slug: slug.clone(),
            project: project_name(&repo.name, &slug),
            state: crate::lifecycle::State::Pending,
            desired: "running".into(),
            commit_sha: Some(sha.clone()),
            outdated_sha: None,
            branch_gone: false,
            worktree: wt.to_string_lossy().to_string(),
            urls: Vec::new(),
            error: None,
            created_at: 0,
            updated_at: 0,
            services: Vec::new(),
        };
        let result = self
            .resolve_with(&repo, &rec_like, &sha, &[], manifest)
            .await;
        let rp = PathBuf::from(&repo.path);
        let _ = blocking(move || git::remove_worktree(&rp, &wt, &name, true, &[])).await;
        let _ = std::fs::remove_dir_all(&scratch);
        result
    }

    /// The resolved project in a plain directory (`config --dir`), trusted like a repo would not be.
    ///
    /// # Errors
    /// The compose files' errors.
    pub async fn config_dir(&self, dir: &Path) -> Result<Resolved> {
        let dir = dir
            .canonicalize()
            .map_err(|e| Error::NotFound(format!("cannot open {}: {e}", dir.display())))?;
        let name = git::repo_slug(
            &dir.file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "dir".into()),
        );
        let input = ResolveInput {
            dir: dir.clone(),
            project_name: project_name(&name, "local"),
            repo_slug: name,
            branch: "local".into(),
            branch_slug: "local".into(),
            sha: String::new(),
            trusted: false,
            // Untrusted: no access to the user's environment (see `Engine::resolve`).
            env: indexmap::IndexMap::new(),
            base: self.url_base().await,
            profiles: Vec::new(),
        };
        Ok(blocking(move || preview_config::resolve(&input)).await??)
    }
}

/// A fresh unique directory under `parent`.
fn tempdir_in(parent: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::Internal(format!("cannot create {}: {e}", parent.display())))?;
    let dir = parent.join(format!(
        "config-{}-{}",
        std::process::id(),
        crate::store::now_ms()
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Internal(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}
