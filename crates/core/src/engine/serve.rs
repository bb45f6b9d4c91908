//! The engine's long-lived duties: live service status from Docker's events,
//! a periodic full resync, branch following, gateway upkeep (routes,
//! certificate renewal), wake on request and auto-suspend. The desktop app
//! runs this while it is open; `branchyard serve` runs it headless.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::up::{blocking, UpOptions};
use super::Engine;
use crate::docker;
use crate::error::Result;
use crate::events::{Event, ServiceStatus};
use crate::git;
use crate::lifecycle::State;
use crate::reconcile;
use crate::watch::{RefChange, RefWatcher};

/// How often everything is re-read from Docker, to heal missed events.
const RESYNC_EVERY: Duration = Duration::from_secs(30);

/// Last status sent per (preview, service), so only changes go out.
type Seen = HashMap<(String, String), ServiceStatus>;

impl Engine {
    /// Runs until `cancel` fires: recovers interrupted runs, makes sure the
    /// gateway serves every preview's routes, then follows Docker and git.
    ///
    /// # Errors
    /// When Docker is unreachable at start.
    pub async fn serve(&self, cancel: CancellationToken) -> Result<()> {
        self.recover_interrupted().await?;
        let started_ms = crate::store::now_ms();
        let (gw_tx, mut gw_rx) = mpsc::unbounded_channel();
        let follow_cancel = cancel.child_token();
        let follower = {
            let engine = self.clone();
            let c = follow_cancel.clone();
            tokio::spawn(async move { engine.follow_gateway(gw_tx, c).await })
        };
        let _stop_follower = follow_cancel.drop_guard();
        let mut activity = super::suspend::Activity::default();
        // Listen before announcing `wake`: a wake sent before we follow the
        // stream would be lost (the gateway sends one per stop).
        if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(15), gw_rx.recv()).await {
            self.on_gateway_event(ev, &mut activity).await;
        }
        // Held while serving: route pushes from any process set `wake` on
        // stopped previews only while some serve is here to wake them.
        let lock = self.hold_serve_lock()?;
        self.heal_gateway().await?;
        self.rearm_wakes().await;
        // Auto-suspend: a timer set to the earliest idle deadline, re-set
        // when the store changes (any process) or traffic arrives (see suspend.rs).
        let mut db_changes = self.db_changes()?;
        let mut candidates = self.idle_candidates();
        let mut deadline = super::suspend::next_deadline(&candidates, &activity, started_ms);
        // Without a deadline the timer is disabled (below), whatever it is set to.
        let idle_timer =
            tokio::time::sleep_until(super::suspend::instant_of(deadline.unwrap_or(i64::MAX)));
        tokio::pin!(idle_timer);
        let (ref_tx, mut ref_rx) = mpsc::unbounded_channel();
        let watcher = RefWatcher::new(ref_tx)?;
        self.watch_repos(&watcher);
        let mut seen = Seen::new();
        self.resync(&mut seen).await;
        self.check_all_branches().await;

        let docker = self.docker().await?.clone();
        let mut events = Box::pin(docker::container_events(&docker));
        let mut tick = tokio::time::interval(RESYNC_EVERY);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some(ev) = events.next() => {
                    if let Some(preview) = ev.preview() {
                        self.refresh_preview(preview, &mut seen).await;
                    }
                }
                Some(RefChange { repo }) = ref_rx.recv() => {
                    self.on_refs_changed(&repo).await;
                }
                Some(ev) = gw_rx.recv() => {
                    self.on_gateway_event(ev, &mut activity).await;
                }
                Ok(()) = db_changes.changed() => {
                    candidates = self.idle_candidates();
                    activity.keep_attempts_of(&candidates);
                }
                () = &mut idle_timer, if deadline.is_some() => {
                    self.suspend_due(&candidates, &mut activity, started_ms);
                    // An elapsed timer must be set again, or it fires on every turn.
                    deadline = None;
                }
                _ = tick.tick() => {
                    self.resync(&mut seen).await;
                    self.watch_repos(&watcher);
                    self.check_all_branches().await;
                    self.renew_leaves().await;
                }
            }
            // Whatever woke us may have moved the earliest deadline: from memory, no store read.
            let next = super::suspend::next_deadline(&candidates, &activity, started_ms);
            if next != deadline {
                deadline = next;
                if let Some(d) = deadline {
                    idle_timer.as_mut().reset(super::suspend::instant_of(d));
                }
            }
        }
        follower.abort();
        drop(lock);
        // Nobody wakes stopped previews now: their routes say so.
        if let Ok(previews) = self.store().previews() {
            for p in previews.iter().filter(|p| p.state == State::Stopped) {
                self.routes_changed(&p.id);
            }
        }
        self.flush_routes().await;
        Ok(())
    }

    /// Takes the serve lock, shared: several serves (the app and the CLI)
    /// may run at once; route pushes only ask whether any does.
    fn hold_serve_lock(&self) -> Result<std::fs::File> {
        let path = self.serve_lock_path();
        let err =
            |e: std::io::Error| crate::error::Error::Internal(format!("{}: {e}", path.display()));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(err)?;
        // Blocks only while another process's probe holds it for an instant.
        f.lock_shared().map_err(err)?;
        Ok(f)
    }

    /// Follows Docker's events for previews only (what `status --follow` needs
    /// in a process that does not run `serve`).
    pub async fn follow_services(&self, cancel: CancellationToken) -> Result<()> {
        let docker = self.docker().await?.clone();
        let mut events = Box::pin(docker::container_events(&docker));
        let mut seen = Seen::new();
        self.resync(&mut seen).await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                Some(ev) = events.next() => {
                    if let Some(preview) = ev.preview() {
                        self.refresh_preview(preview, &mut seen).await;
                    }
                }
            }
        }
    }

    /// Starts the gateway if needed and pushes every preview's routes to it
    /// (with `wake` now that serve runs, and certificates renewed as due).
    async fn heal_gateway(&self) -> Result<()> {
        let gateway = self.gateway().await?;
        let docker = self.docker().await?;
        for p in self.store().previews()? {
            if p.urls.is_empty() {
                continue;
            }
            let _ = gateway
                .connect_network(docker, &format!("{}_default", p.project))
                .await;
        }
        self.heal_routes().await
    }

    /// Re-reads one preview's containers, publishes what changed, and moves
    /// it between ready and degraded as they say.
    async fn refresh_preview(&self, preview: &str, seen: &mut Seen) {
        let Ok(Some(mut rec)) = self.store().preview(preview) else {
            return;
        };
        let Ok(docker) = self.docker().await else {
            return;
        };
        let Ok(statuses) = reconcile::service_statuses(docker, &rec.project).await else {
            return;
        };
        let mut present = Vec::new();
        let mut judged = statuses.clone();
        for st in statuses {
            present.push(st.service.clone());
            let key = (rec.id.clone(), st.service.clone());
            if seen.get(&key) != Some(&st) {
                seen.insert(key, st.clone());
                self.emit(Event::Service {
                    preview: rec.id.clone(),
                    status: st,
                });
            }
        }
        // Containers that disappeared.
        let gone: Vec<_> = seen
            .keys()
            .filter(|(p, s)| p == &rec.id && !present.contains(s))
            .cloned()
            .collect();
        for key in gone {
            if let Some(mut st) = seen.remove(&key) {
                st.state = crate::events::ServiceState::Removed;
                judged.push(st.clone());
                self.emit(Event::Service {
                    preview: rec.id.clone(),
                    status: st,
                });
            }
        }
        self.judge(&mut rec, &judged, "docker");
    }

    async fn resync(&self, seen: &mut Seen) {
        let Ok(previews) = self.store().previews() else {
            return;
        };
        for p in previews {
            self.refresh_preview(&p.id, seen).await;
        }
    }

    fn watch_repos(&self, watcher: &RefWatcher) {
        let Ok(previews) = self.store().previews() else {
            return;
        };
        let Ok(repos) = self.repos() else { return };
        for r in repos {
            if previews.iter().any(|p| p.repo == r.name) {
                if let Err(e) = watcher.watch_repo(Path::new(&r.path)) {
                    tracing::warn!(repo = %r.name, error = %e, "cannot watch refs");
                }
            }
        }
    }

    async fn check_all_branches(&self) {
        let Ok(repos) = self.repos() else { return };
        for r in repos {
            self.on_refs_changed(Path::new(&r.path)).await;
        }
    }

    /// A repo's refs moved: flag outdated or deleted branches, and update
    /// previews of repos with auto-update on.
    async fn on_refs_changed(&self, repo_path: &Path) {
        let Ok(repos) = self.repos() else { return };
        let Some(repo) = repos
            .into_iter()
            .find(|r| same_path(Path::new(&r.path), repo_path))
        else {
            return;
        };
        let Ok(previews) = self.store().previews() else {
            return;
        };
        for p in previews.into_iter().filter(|p| p.repo == repo.name) {
            let (rp, b) = (PathBuf::from(&repo.path), p.branch.clone());
            let head = blocking(move || git::resolve_branch(&rp, &b)).await;
            match head {
                Ok(Err(e)) if e.code() == crate::error::Code::NotFound && !p.branch_gone => {
                    let _ = self.store().set_preview_branch_gone(&p.id, true);
                    self.emit(Event::BranchGone {
                        preview: p.id.clone(),
                    });
                }
                Ok(Ok(sha)) => {
                    if p.branch_gone {
                        let _ = self.store().set_preview_branch_gone(&p.id, false);
                    }
                    let moved = p.commit_sha.as_deref().is_some_and(|c| c != sha);
                    if moved && p.outdated_sha.as_deref() != Some(&sha) {
                        let _ = self.store().set_preview_outdated(&p.id, Some(&sha));
                        self.emit(Event::Outdated {
                            preview: p.id.clone(),
                            head: sha.clone(),
                        });
                    }
                    if moved
                        && repo.auto_update
                        && matches!(p.state, State::Ready | State::Degraded)
                    {
                        let engine = self.clone();
                        let (r, b) = (repo.name.clone(), p.branch.clone());
                        tokio::spawn(async move {
                            if let Err(e) = engine.up(&r, &b, &UpOptions::default()).await {
                                tracing::warn!(repo = %r, branch = %b, error = %e, "auto-update failed");
                            }
                        });
                    }
                }
                _ => {}
            }
        }
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    let ca = a.canonicalize().unwrap_or_else(|_| a.to_path_buf());
    let cb = b.canonicalize().unwrap_or_else(|_| b.to_path_buf());
    ca == cb || cb.starts_with(&ca)
}
