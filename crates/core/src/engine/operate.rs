//! Stop (suspend), start (resume), rebuild and down.

use std::path::PathBuf;

use tracing::Instrument;

use super::up::{blocking, worktree_name, UpOptions};
use super::{Engine, PreviewRef};
use crate::compose::apply;
use crate::error::{Error, Result};
use crate::git;
use crate::lifecycle::State;
use crate::store::PreviewRecord;

/// Options of [`Engine::down`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DownOptions {
    /// Remove the project's named volumes too.
    pub volumes: bool,
    /// Keep the worktree on disk.
    pub keep_worktree: bool,
    /// Remove the worktree even with uncommitted changes in it.
    pub force: bool,
}

impl Engine {
    /// Suspends a preview: containers stopped, volumes and worktree kept.
    ///
    /// # Errors
    /// No such preview, busy, or Docker failed.
    pub async fn stop(&self, r: &PreviewRef) -> Result<PreviewRecord> {
        self.stop_as(r, "stop").await
    }

    /// [`Engine::stop`], logged with `trigger` (`auto-suspend` when serve does it).
    pub(super) async fn stop_as(&self, r: &PreviewRef, trigger: &str) -> Result<PreviewRecord> {
        let rec = self.find_preview(r)?;
        let span = tracing::info_span!("stop", preview = %rec.id, trigger);
        async {
            self.take_lease(&rec.id, "stop").await?;
            let res = self.stop_held(&rec, trigger).await;
            let _ = self.store().release_lease(&rec.id);
            self.flush_routes().await;
            res?;
            self.find_preview(&PreviewRef::Id(rec.id.clone()))
        }
        .instrument(span)
        .await
    }

    async fn stop_held(&self, rec: &PreviewRecord, trigger: &str) -> Result<()> {
        let rec = self.find_preview(&PreviewRef::Id(rec.id.clone()))?;
        if rec.state == State::Stopped {
            return Ok(());
        }
        self.transition(&rec.id, State::Stopping, trigger, "")?;
        self.store().set_preview_desired(&rec.id, "stopped")?;
        let docker = self.docker().await?;
        match apply::stop(docker, &rec.project).await {
            Ok(_) => self.transition(&rec.id, State::Stopped, trigger, ""),
            Err(e) => {
                let _ = self.transition(&rec.id, State::Failed, trigger, &e.to_string());
                Err(e.into())
            }
        }
    }

    /// Resumes a stopped preview, restarts what is down in a degraded one, or
    /// retries a failed one, at the commit it had.
    ///
    /// # Errors
    /// No such preview, busy, or a service failed to start.
    pub async fn start(&self, r: &PreviewRef) -> Result<PreviewRecord> {
        let rec = self.find_preview(r)?;
        match rec.state {
            State::Ready => return Ok(rec),
            // Its containers exist: starting them again is all it needs.
            State::Stopped | State::Degraded => {}
            // A failed preview's containers may be gone: run the whole path again.
            _ => return self.up(&rec.repo, &rec.branch, &UpOptions::default()).await,
        }
        let span = tracing::info_span!("start", preview = %rec.id);
        async {
            self.take_lease(&rec.id, "start").await?;
            let res = self.start_held(&rec).await;
            let _ = self.store().release_lease(&rec.id);
            self.flush_routes().await;
            res?;
            self.find_preview(&PreviewRef::Id(rec.id.clone()))
        }
        .instrument(span)
        .await
    }

    async fn start_held(&self, rec: &PreviewRecord) -> Result<()> {
        self.transition(&rec.id, State::Starting, "start", "")?;
        self.store().set_preview_desired(&rec.id, "running")?;
        let result = async {
            let repo = self.repo(&rec.repo)?;
            let sha = rec.commit_sha.clone().unwrap_or_default();
            let resolved = self.resolve(&repo, rec, &sha, &[]).await?;
            let docker = self.docker().await?;
            let progress = |p| self.on_progress(&rec.id, true, p);
            let labels = crate::docker::PreviewLabels {
                preview: rec.id.clone(),
                repo: rec.repo.clone(),
                branch: rec.branch.clone(),
                commit: sha.clone(),
                extra: [(crate::reconcile::HOME.to_string(), self.home_id())]
                    .into_iter()
                    .collect(),
            };
            apply::start(
                docker,
                &resolved.project,
                &labels,
                std::time::Duration::from_secs(resolved.health.timeout_secs),
                &progress,
            )
            .await?;
            self.store()
                .set_preview_services(&rec.id, &super::up::service_names(&resolved.project))?;
            // The gateway may have been recreated while the preview slept.
            let gateway = self.gateway().await?;
            gateway
                .connect_network(docker, &format!("{}_default", rec.project))
                .await?;
            Ok::<_, Error>(())
        }
        .await;
        match result {
            Ok(()) => self.transition(&rec.id, State::Ready, "start", ""),
            Err(e) => {
                self.save_failure_logs(rec).await;
                let _ = self.transition(&rec.id, State::Failed, "start", &e.to_string());
                Err(e)
            }
        }
    }

    /// Rebuilds images and recreates every container at the branch's head.
    ///
    /// # Errors
    /// As [`Engine::up`].
    pub async fn rebuild(&self, r: &PreviewRef) -> Result<PreviewRecord> {
        let rec = self.find_preview(r)?;
        self.up(
            &rec.repo,
            &rec.branch,
            &UpOptions {
                rebuild: true,
                ..UpOptions::default()
            },
        )
        .await
    }

    /// Tears a preview down: containers, networks, routes, the worktree (unless
    /// kept) and, with `volumes`, its named volumes. Refuses to delete a worktree
    /// with uncommitted changes unless `force`.
    ///
    /// # Errors
    /// No such preview, busy, dirty worktree, or Docker failed.
    pub async fn down(&self, r: &PreviewRef, opts: DownOptions) -> Result<()> {
        let rec = self.find_preview(r)?;
        let span = tracing::info_span!("down", preview = %rec.id);
        async {
            self.take_lease(&rec.id, "down").await?;
            let res = self.down_held(&rec, opts).await;
            let _ = self.store().release_lease(&rec.id);
            self.flush_routes().await;
            res
        }
        .instrument(span)
        .await
    }

    async fn down_held(&self, rec: &PreviewRecord, opts: DownOptions) -> Result<()> {
        let repo = self.repo(&rec.repo)?;
        let worktree = PathBuf::from(&rec.worktree);
        // Check before touching anything, so a refusal loses nothing; Docker
        // is connected meanwhile (a failure to connect shows when it is used).
        let dirty = async {
            if !opts.keep_worktree && !opts.force && worktree.exists() {
                let wt = worktree.clone();
                let carried = crate::carry::carried_paths(&self.home().carried_manifest(&rec.id));
                return Ok::<_, Error>(blocking(move || git::is_dirty(&wt, &carried)).await??);
            }
            Ok(false)
        };
        let (dirty, _) = tokio::join!(dirty, self.docker());
        if dirty? {
            return Err(Error::Dirty(format!(
                "the worktree {} has uncommitted changes: commit or copy them, pass --keep-worktree to keep it, or --force to delete them",
                worktree.display()
            )));
        }
        self.transition(&rec.id, State::Removing, "down", "")?;
        let result = async {
            let docker = self.docker().await?;
            // The gateway leaves the network while the containers stop, so the
            // network can go as soon as the last container has stopped.
            let detach = async {
                let g = match self.inner.gateway.lock().await.clone() {
                    Some(g) => Some(g),
                    None => {
                        crate::gateway::attach(
                            docker,
                            self.home().root(),
                            &self.gateway_settings()?,
                        )
                        .await?
                    }
                };
                if let Some(g) = g {
                    for u in &rec.urls {
                        g.remove_route(&u.host).await?;
                    }
                    g.disconnect_network(docker, &format!("{}_default", rec.project))
                        .await?;
                }
                Ok::<_, Error>(())
            };
            let (detached, stopped) = tokio::join!(detach, apply::stop_all(docker, &rec.project));
            detached?;
            let containers = stopped?;
            // Nothing runs from the worktree any more: it goes while Docker
            // removes the containers and the network.
            let worktree = async {
                if !opts.keep_worktree {
                    let (rp, wt, name, force) = (
                        PathBuf::from(&repo.path),
                        worktree.clone(),
                        worktree_name(rec),
                        opts.force,
                    );
                    let carried =
                        crate::carry::carried_paths(&self.home().carried_manifest(&rec.id));
                    blocking(move || git::remove_worktree(&rp, &wt, &name, force, &carried))
                        .await??;
                }
                Ok::<_, Error>(())
            };
            let (removed, worktree) = tokio::join!(
                apply::remove_stopped(docker, &rec.project, &containers, opts.volumes),
                worktree
            );
            removed?;
            worktree?;
            let _ = std::fs::remove_dir_all(self.home().preview_state_dir(&rec.id));
            Ok::<_, Error>(())
        }
        .await;
        match result {
            Ok(()) => {
                self.transition(&rec.id, State::Gone, "down", "")?;
                self.store().delete_preview(&rec.id)?;
                Ok(())
            }
            Err(e) => {
                let _ = self.transition(&rec.id, State::Failed, "down", &e.to_string());
                Err(e)
            }
        }
    }
}
