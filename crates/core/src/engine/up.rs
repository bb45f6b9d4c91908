//! `up`: create a preview, or move it to its branch's current head, as a saga
//! of steps (worktree, plan, resources, build, start, health, route), each
//! undone in reverse when a later one fails.

use std::path::PathBuf;
use std::time::Instant;

use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{preview_id, project_name, Engine, PreviewRef};
use crate::compose::apply::{self, Progress, UpOptions as ApplyOptions};
use crate::docker::PreviewLabels;
use crate::error::{Error, Result};
use crate::events::{Event, ServiceState, Step, StepStatus};
use crate::git;
use crate::lifecycle::State;
use crate::preview_config::{self, ResolveInput, Resolved};
use crate::reconcile;
use crate::saga::{Saga, Undo};
use crate::store::{NewPreview, PreviewRecord, RepoRecord, Urls};

/// Options of [`Engine::up`].
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Compose profiles to enable (besides those in branchyard.toml).
    pub profiles: Vec<String>,
    /// Rebuild images and recreate every container even when nothing changed.
    pub rebuild: bool,
    /// Labels added to everything created (tests mark their objects with it).
    pub extra_labels: IndexMap<String, String>,
    /// Cancels the run; what it created so far is undone.
    pub cancel: CancellationToken,
    /// Overwrite uncommitted changes in the preview's worktree.
    pub force: bool,
}

/// What one run of `up` started from.
struct Start {
    repo: RepoRecord,
    record: PreviewRecord,
    /// The record was inserted by this run (anything of its project is ours to undo).
    new_record: bool,
    sha: String,
}

impl Engine {
    /// Creates the preview of `branch` in `repo`, or updates it to the branch's head.
    /// Returns when every service is running (and healthy where it has a check)
    /// and routed; on failure the preview is `failed` and this run's effects undone.
    ///
    /// # Errors
    /// Missing repo or branch, busy preview, bad compose, unsafe settings, Docker,
    /// build or start failures — each with a message saying what to do.
    pub async fn up(&self, repo: &str, branch: &str, opts: &UpOptions) -> Result<PreviewRecord> {
        let span = tracing::info_span!("up", repo, branch);
        async move {
            // The engine first: one that cannot be used (unreachable, or not the
            // previews' own) stops `up` before a record or a worktree is made.
            self.docker().await?;
            let start = self.prepare_up(repo, branch).await?;
            let id = start.record.id.clone();
            self.take_lease(&id, "up").await?;
            let result = self.run_up(&start, opts).await;
            let _ = self.store().release_lease(&id);
            self.flush_routes().await;
            result
        }
        .instrument(span)
        .await
    }

    /// Finds or creates the preview record and resolves the branch's head.
    async fn prepare_up(&self, repo: &str, branch: &str) -> Result<Start> {
        let repo = self.repo(repo)?;
        let path = PathBuf::from(&repo.path);
        let b = branch.to_string();
        let sha = blocking(move || git::resolve_branch(&path, &b)).await??;
        if let Some(record) = self.store().preview_of(&repo.name, branch)? {
            return Ok(Start {
                repo,
                record,
                new_record: false,
                sha,
            });
        }
        let taken: Vec<String> = self
            .store()
            .previews()?
            .into_iter()
            .filter(|p| p.repo == repo.name)
            .map(|p| p.slug)
            .collect();
        let slug = git::unique_slug(branch, &|s: &str| taken.iter().any(|t| t == s));
        let id = preview_id(&repo.name, &slug);
        let project = project_name(&repo.name, &slug);
        let worktree = self.home().worktree(&repo.name, &slug);
        self.store().insert_preview(
            &NewPreview {
                id: &id,
                repo: &repo.name,
                branch,
                slug: &slug,
                project: &project,
                worktree: &worktree.to_string_lossy(),
            },
            "up",
        )?;
        let record = self.find_preview(&PreviewRef::Id(id))?;
        Ok(Start {
            repo,
            record,
            new_record: true,
            sha,
        })
    }

    /// Moves the preview to `to`, publishing the transition.
    pub(super) fn transition(
        &self,
        id: &str,
        to: State,
        trigger: &str,
        detail: &str,
    ) -> Result<()> {
        let t = self.store().transition(id, to, trigger, detail)?;
        tracing::info!(preview = id, from = ?t.from, to = %t.to, trigger, "transition");
        self.publish(t);
        Ok(())
    }

    /// Tells subscribers and the gateway of a transition the store logged.
    pub(super) fn publish(&self, t: crate::store::Transition) {
        let id = t.preview.clone();
        self.emit(t.into());
        self.routes_changed(&id);
    }

    fn step(&self, id: &str, step: Step, status: StepStatus, detail: impl Into<String>) {
        if status == StepStatus::Started {
            self.note_step(id, step.as_str());
        }
        self.emit(Event::Step {
            preview: id.to_string(),
            step,
            status,
            detail: detail.into(),
        });
    }

    async fn run_up(&self, s: &Start, opts: &UpOptions) -> Result<PreviewRecord> {
        let id = s.record.id.as_str();
        // A degraded preview's containers exist: converge them like an update.
        let updating = matches!(s.record.state, State::Ready | State::Degraded);
        let first = if updating {
            State::Updating
        } else {
            State::Preparing
        };
        self.transition(id, first, "up", &format!("to {}", short(&s.sha)))?;
        let mut saga = Saga::new(self.store(), id);
        match self.up_steps(s, opts, &mut saga, updating).await {
            Ok(rec) => {
                saga.commit()?;
                Ok(rec)
            }
            Err(e) => {
                self.save_failure_logs(&s.record).await;
                let failures = saga.rollback(self).await;
                let mut detail = e.to_string();
                if !failures.is_empty() {
                    detail.push_str(&format!(
                        "\n(could not undo: {}; `branchyard gc` will offer to remove the rest)",
                        failures.join("; ")
                    ));
                }
                let _ = self.transition(id, State::Failed, "up", &detail);
                Err(e)
            }
        }
    }

    async fn up_steps(
        &self,
        s: &Start,
        opts: &UpOptions,
        saga: &mut Saga<'_>,
        updating: bool,
    ) -> Result<PreviewRecord> {
        let rec = &s.record;
        let id = rec.id.as_str();
        let worktree = PathBuf::from(&rec.worktree);

        // Worktree.
        let t = Instant::now();
        self.step(id, Step::Worktree, StepStatus::Started, short(&s.sha));
        if !worktree.exists() {
            saga.record(Undo::RemoveWorktree {
                repo_path: s.repo.path.clone(),
                path: rec.worktree.clone(),
                name: worktree_name(rec),
            })?;
        }
        let checked = super::worktree::checkout_and_carry(super::worktree::Checkout {
            repo_path: PathBuf::from(&s.repo.path),
            worktree: worktree.clone(),
            name: worktree_name(rec),
            sha: s.sha.clone(),
            force: opts.force,
            trusted: s.repo.trusted,
            manifest: self.home().carried_manifest(id),
        })
        .instrument(tracing::info_span!("worktree"))
        .await?;
        let out = &checked.checkout;
        let carried = checked.carried.summary();
        self.step(
            id,
            Step::Worktree,
            StepStatus::Done,
            format!(
                "{} ({} files changed, {} ms){}",
                if out.created { "created" } else { "updated" },
                out.files_changed,
                t.elapsed().as_millis(),
                if carried.is_empty() {
                    String::new()
                } else {
                    format!("; {carried}")
                }
            ),
        );
        for w in checked.warnings {
            self.emit(Event::Warning {
                preview: Some(id.to_string()),
                message: w,
            });
        }
        if git::uses_lfs(&worktree) {
            self.emit(Event::Warning {
                preview: Some(id.to_string()),
                message: "this repo uses Git LFS: Branchyard's checkout (libgit2) leaves LFS files as pointers and runs no hooks".into(),
            });
        }

        // Plan.
        self.step(id, Step::Plan, StepStatus::Started, "");
        let resolved = self.resolve(&s.repo, rec, &s.sha, &opts.profiles).await?;
        for w in resolved.warnings.iter().chain(&resolved.project.warnings) {
            self.emit(Event::Warning {
                preview: Some(id.to_string()),
                message: w.clone(),
            });
        }
        self.step(
            id,
            Step::Plan,
            StepStatus::Done,
            format!("{} services", resolved.project.services.len()),
        );
        // The hosts are known: the gateway shows the status page from now on.
        self.plan_routes(rec, &resolved)?;

        // Resources, build, start, health: compose apply.
        let docker = self.docker().await?;
        let before = reconcile::project_volumes(docker, &rec.project).await?;
        let fresh = s.new_record
            || reconcile::service_statuses(docker, &rec.project)
                .await?
                .is_empty();
        if fresh {
            saga.record(Undo::DownProject {
                project: rec.project.clone(),
                volumes_before: before,
            })?;
        }
        let labels = PreviewLabels {
            preview: id.to_string(),
            repo: s.repo.name.clone(),
            branch: rec.branch.clone(),
            commit: s.sha.clone(),
            extra: {
                let mut extra = opts.extra_labels.clone();
                extra.insert(reconcile::HOME.to_string(), self.home_id());
                extra
            },
        };
        let apply_opts = ApplyOptions {
            state_dir: self.home().preview_state_dir(id),
            health_timeout: std::time::Duration::from_secs(resolved.health.timeout_secs),
            force_recreate: opts.rebuild,
            ..ApplyOptions::default()
        };
        let progress = |p: Progress| self.on_progress(id, updating, p);
        apply::up(
            docker,
            &resolved.project,
            &labels,
            &apply_opts,
            &progress,
            opts.cancel.clone(),
        )
        .instrument(tracing::info_span!("apply", project = %rec.project))
        .await?;
        if !updating {
            let now = self.store().preview(id)?.map(|p| p.state);
            if now == Some(State::Preparing) || now == Some(State::Building) {
                self.transition(id, State::Starting, "up", "")?;
            }
        }

        // Route.
        self.step(id, Step::Route, StepStatus::Started, "");
        let urls = self.route(rec, &resolved, saga).await?;
        self.step(
            id,
            Step::Route,
            StepStatus::Done,
            urls.iter()
                .map(|u| u.url.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        );
        if let Some(path) = &resolved.health.path {
            self.wait_http_health(id, &rec.project, &resolved, path)
                .await?;
        }
        self.store().set_preview_urls(id, &urls)?;
        self.store()
            .set_preview_services(id, &service_names(&resolved.project))?;
        self.store().set_preview_commit(id, &s.sha)?;
        self.store().set_preview_desired(id, "running")?;
        self.transition(id, State::Ready, "up", &short(&s.sha))?;
        self.find_preview(&PreviewRef::Id(id.to_string()))
    }

    /// Loads the preview's compose project as it would run.
    pub(super) async fn resolve(
        &self,
        repo: &RepoRecord,
        rec: &PreviewRecord,
        sha: &str,
        profiles: &[String],
    ) -> Result<Resolved> {
        let manifest = self.home().carried_manifest(&rec.id);
        self.resolve_with(repo, rec, sha, profiles, manifest).await
    }

    /// [`Engine::resolve`] with the carried files recorded in `manifest`.
    pub(super) async fn resolve_with(
        &self,
        repo: &RepoRecord,
        rec: &PreviewRecord,
        sha: &str,
        profiles: &[String],
        manifest: PathBuf,
    ) -> Result<Resolved> {
        let base = self.url_base().await;
        let input = ResolveInput {
            dir: PathBuf::from(&rec.worktree),
            project_name: rec.project.clone(),
            repo_slug: repo.name.clone(),
            branch: rec.branch.clone(),
            branch_slug: rec.slug.clone(),
            sha: sha.to_string(),
            trusted: repo.trusted,
            // An untrusted branch must not read the user's environment (tokens,
            // keys) through `${VAR}`: it gets only its own `.env`.
            env: if repo.trusted {
                std::env::vars().collect()
            } else {
                IndexMap::new()
            },
            base,
            profiles: profiles.to_vec(),
        };
        let around = super::worktree::Around {
            repo: repo.name.clone(),
            worktree: PathBuf::from(&rec.worktree),
            main: PathBuf::from(&repo.path),
            trusted: repo.trusted,
            repo_state: self.home().repo_state_dir(&repo.name),
            manifest,
        };
        blocking(move || super::worktree::around(preview_config::resolve(&input), &around)).await?
    }

    /// How URLs look: `http://host[:port]` with the gateway's HTTP port, or
    /// `https://host[:port]` when URLs are https.
    pub(super) async fn url_base(&self) -> preview_config::UrlBase {
        let Ok(s) = self.gateway_settings() else {
            return preview_config::UrlBase {
                scheme: "http".into(),
                port: None,
            };
        };
        let g = self.inner.gateway.lock().await;
        let https = match g.as_ref() {
            Some(g) => g.https_port().filter(|_| g.https_urls()),
            None => s.https_port.filter(|_| s.https_urls),
        };
        let (scheme, port, default) = match https {
            Some(p) => ("https", p, 443),
            None => (
                "http",
                g.as_ref().map(|g| g.http_port()).unwrap_or(s.http_port),
                80,
            ),
        };
        preview_config::UrlBase {
            scheme: scheme.into(),
            port: (port != default).then_some(port),
        }
    }

    pub(super) fn on_progress(&self, id: &str, updating: bool, p: Progress) {
        match p {
            Progress::StepStarted(step) => {
                if step == Step::Build && !updating {
                    let _ = self.transition(id, State::Building, "up", "");
                }
                if step == Step::Start && !updating {
                    if let Ok(Some(rec)) = self.store().preview(id) {
                        if rec.state != State::Starting {
                            let _ = self.transition(id, State::Starting, "up", "");
                        }
                    }
                }
                self.step(id, step, StepStatus::Started, "");
            }
            Progress::StepDone(step, detail) => self.step(id, step, StepStatus::Done, detail),
            Progress::Line { service, line } => self.emit(Event::Output {
                preview: id.to_string(),
                service,
                line,
            }),
            Progress::Service(status) => self.emit(Event::Service {
                preview: id.to_string(),
                status,
            }),
        }
    }

    /// Joins the gateway to the project's network and pushes its routes.
    async fn route(
        &self,
        rec: &PreviewRecord,
        resolved: &Resolved,
        saga: &mut Saga<'_>,
    ) -> Result<Vec<Urls>> {
        if resolved.routes.is_empty() {
            // Nothing to route (a worker-only project): no need for the gateway.
            return Ok(Vec::new());
        }
        let gateway = self.gateway().await?;
        let docker = self.docker().await?;
        let network = format!("{}_default", rec.project);
        saga.record(Undo::DisconnectGateway {
            network: network.clone(),
        })?;
        gateway.connect_network(docker, &network).await?;
        let hosts: Vec<String> = resolved.routes.iter().map(|r| r.host.clone()).collect();
        saga.record(Undo::RemoveRoutes { hosts })?;
        self.push_routes_now(&rec.id).await?;
        let mut urls = Vec::new();
        for r in &resolved.routes {
            urls.push(Urls {
                service: r.service.clone(),
                host: r.host.clone(),
                url: gateway.url_for(&r.host),
            });
        }
        Ok(urls)
    }

    /// Saves the last log lines of the preview's unhealthy or exited services
    /// into the transitions log, before anything is undone.
    pub(super) async fn save_failure_logs(&self, rec: &PreviewRecord) {
        let Ok(docker) = self.docker().await else {
            return;
        };
        let Ok(containers) = reconcile::service_statuses(docker, &rec.project).await else {
            return;
        };
        for c in containers {
            if matches!(c.state, ServiceState::Running | ServiceState::Healthy) {
                continue;
            }
            let logs = crate::docker::last_lines(docker, &c.container, 40)
                .await
                .unwrap_or_default();
            if logs.trim().is_empty() {
                continue;
            }
            let state = self
                .store()
                .preview(&rec.id)
                .ok()
                .flatten()
                .map(|p| p.state)
                .unwrap_or(State::Failed);
            let _ = self.store().log_note(
                &rec.id,
                state,
                "logs",
                &format!(
                    "last lines of {} ({:?}{}):\n{}",
                    c.service,
                    c.state,
                    c.exit_code
                        .map(|x| format!(", exit {x}"))
                        .unwrap_or_default(),
                    logs
                ),
            );
        }
    }

    /// Waits until `GET <path>` on the first routed service answers below
    /// 500, asked of the container directly: the gateway shows the starting
    /// page, not the app, until the preview is ready.
    async fn wait_http_health(
        &self,
        id: &str,
        project: &str,
        resolved: &Resolved,
        path: &str,
    ) -> Result<()> {
        let Some(first) = resolved.routes.first() else {
            return Ok(());
        };
        let timeout_secs = resolved.health.timeout_secs;
        self.step(id, Step::Health, StepStatus::Started, format!("GET {path}"));
        let docker = self.docker().await?;
        let container = format!("{project}-{}-1", first.service);
        let network = format!("{project}_default");
        let deadline = Instant::now() + std::time::Duration::from_secs(timeout_secs);
        loop {
            match super::health::probe(docker, &container, &network, first.port, path).await {
                Ok(status) if status < 500 => {
                    self.step(
                        id,
                        Step::Health,
                        StepStatus::Done,
                        format!("{path} → {status}"),
                    );
                    return Ok(());
                }
                other => {
                    if Instant::now() > deadline {
                        let why = match other {
                            Ok(s) => format!("answered {s}"),
                            Err(e) => e,
                        };
                        return Err(Error::Start {
                            message: format!(
                                "{} did not become healthy within {timeout_secs} s: GET {path} {why}",
                                first.host
                            ),
                            logs: String::new(),
                        });
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// Takes the preview's lease, first undoing whatever a dead process left.
    pub(super) async fn take_lease(&self, id: &str, op: &str) -> Result<()> {
        match self.store().acquire_lease(id, op)? {
            Err(holder) => Err(Error::Busy(format!(
                "preview {id} is busy: process {} is running `{}` on it; wait for it or stop that process",
                holder.pid, holder.op
            ))),
            Ok(None) => Ok(()),
            Ok(Some(stale)) => {
                self.recover(&stale).await;
                Ok(())
            }
        }
    }
}

/// Git's worktree name for a preview (no `/` allowed).
pub(super) fn worktree_name(rec: &PreviewRecord) -> String {
    format!("branchyard-{}-{}", rec.repo, rec.slug)
}

/// The services of an applied project as recorded on its preview: each
/// once per replica it runs (none at `replicas: 0`), so a missing replica is seen.
pub(super) fn service_names(project: &crate::compose::model::Project) -> Vec<String> {
    project
        .services
        .iter()
        .flat_map(|(name, s)| std::iter::repeat_n(name.clone(), s.replicas() as usize))
        .collect()
}

/// A short sha for messages.
pub(super) fn short(sha: &str) -> String {
    sha.chars().take(10).collect()
}

/// Runs blocking work (git2, file IO) off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("background task failed: {e}")))
}
