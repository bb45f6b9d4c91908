//! A preview's routes follow its life: pushed as soon as planning knows the
//! hosts, again on every state change and step (the gateway shows a status
//! page until `ready`), kept with the reason and last log lines when it fails,
//! kept as `stopped` (with `wake` while `serve` runs) when suspended, and
//! removed by `down`. Each route carries its host's leaf certificate from the
//! local CA; the CA key never leaves this process.
//!
//! State changes happen in sync code (progress callbacks), so pushes go
//! through one ordered queue per engine; operations flush it before returning.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use tokio::sync::{mpsc, oneshot};

use super::{Engine, Inner};
use crate::compose::plan::container_name;
use crate::error::{Error, Result};
use crate::gateway::{Route, RouteTls};
use crate::lifecycle::State;
use crate::preview_config::Resolved;
use crate::store::PreviewRecord;
use crate::tls::{LocalCa, RENEW_WITHIN_DAYS};

/// Log lines a failed route carries at most.
const FAILED_LOG_LINES: usize = 40;

/// One engine's route pushes, in order, plus what a push needs to know.
#[derive(Default)]
pub(super) struct RouteQueue {
    tx: OnceLock<mpsc::UnboundedSender<Job>>,
    /// The step under way per preview (for the status page).
    steps: Mutex<HashMap<String, String>>,
    ca: OnceLock<Arc<LocalCa>>,
}

enum Job {
    Put(Vec<Route>),
    Delete(Vec<String>),
    Flush(oneshot::Sender<()>),
}

impl Engine {
    fn routes_file(&self, id: &str) -> PathBuf {
        self.home().root().join("routes").join(format!("{id}.json"))
    }

    /// The routes planning found, without state (empty when none or unknown).
    fn planned_routes(&self, id: &str) -> Vec<Route> {
        std::fs::read_to_string(self.routes_file(id))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Records the hosts and upstreams planning found and pushes them with
    /// the preview's current state.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub(super) fn plan_routes(&self, rec: &PreviewRecord, resolved: &Resolved) -> Result<()> {
        let routes: Vec<Route> = resolved
            .routes
            .iter()
            .map(|r| {
                // Every replica of the service, balanced by the gateway.
                let replicas = resolved
                    .project
                    .services
                    .get(&r.service)
                    .map_or(1, |s| s.replicas());
                let upstreams = (1..=replicas)
                    .map(|n| format!("{}:{}", container_name(&rec.project, &r.service, n), r.port))
                    .collect();
                Route {
                    host: r.host.clone(),
                    preview: rec.id.clone(),
                    repo: rec.repo.clone(),
                    branch: rec.branch.clone(),
                    ..Route::to(upstreams)
                }
            })
            .collect();
        // Hosts the last plan had and this one does not are removed.
        let gone: Vec<String> = self
            .planned_routes(&rec.id)
            .into_iter()
            .map(|r| r.host)
            .filter(|h| !routes.iter().any(|r| &r.host == h))
            .collect();
        let path = self.routes_file(&rec.id);
        let write = |text: String| {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, text)
        };
        write(serde_json::to_string(&routes).map_err(|e| Error::Internal(e.to_string()))?)
            .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
        if !gone.is_empty() {
            self.enqueue(Job::Delete(gone));
        }
        self.routes_changed(&rec.id);
        Ok(())
    }

    /// Remembers the step under way and pushes it to the status page.
    pub(super) fn note_step(&self, id: &str, step: &str) {
        if let Ok(mut steps) = self.inner.routes.steps.lock() {
            steps.insert(id.to_string(), step.to_string());
        }
        self.routes_changed(id);
    }

    /// Queues a push of the preview's routes as the store has it now.
    pub(super) fn routes_changed(&self, id: &str) {
        if let Some(job) = self.snapshot(id) {
            self.enqueue(job);
        }
    }

    /// The preview's routes with its state now, or their removal once gone.
    fn snapshot(&self, id: &str) -> Option<Job> {
        let planned = self.planned_routes(id);
        if planned.is_empty() {
            return None;
        }
        let rec = self.store().preview(id).ok().flatten();
        let Some(rec) = rec.filter(|r| r.state != State::Gone) else {
            let _ = std::fs::remove_file(self.routes_file(id));
            return Some(Job::Delete(planned.into_iter().map(|r| r.host).collect()));
        };
        Some(Job::Put(self.with_state(planned, &rec)))
    }

    /// Fills in state, step, reason, logs and wake from the record.
    fn with_state(&self, planned: Vec<Route>, rec: &PreviewRecord) -> Vec<Route> {
        let step = if rec.state.is_transient() {
            self.inner
                .routes
                .steps
                .lock()
                .ok()
                .and_then(|s| s.get(&rec.id).cloned())
        } else {
            None
        };
        let (reason, logs) = match rec.state {
            State::Failed => (rec.error.clone(), self.failure_lines(&rec.id)),
            // Still routed: the reason goes on the page if the routed service is the one down.
            State::Degraded => (rec.error.clone(), Vec::new()),
            _ => (None, Vec::new()),
        };
        let wake = rec.state == State::Stopped && self.serve_running();
        planned
            .into_iter()
            .map(|r| Route {
                state: Some(rec.state.as_str().to_string()),
                step: step.clone(),
                reason: reason.clone(),
                logs: logs.clone(),
                wake,
                ..r
            })
            .collect()
    }

    /// The last lines saved for the preview's most recent failure.
    fn failure_lines(&self, id: &str) -> Vec<String> {
        let Ok(log) = self.store().transitions(id) else {
            return Vec::new();
        };
        // Notes since the run that failed began.
        let since = log
            .iter()
            .rposition(|t| {
                t.from != Some(t.to)
                    && matches!(t.to, State::Preparing | State::Starting | State::Updating)
            })
            .unwrap_or(0);
        let mut lines: Vec<String> = log[since..]
            .iter()
            .filter(|t| t.trigger == "logs")
            .flat_map(|t| t.detail.lines().map(str::to_string).collect::<Vec<_>>())
            .collect();
        let skip = lines.len().saturating_sub(FAILED_LOG_LINES);
        lines.drain(..skip);
        lines
    }

    /// Whether a `serve` (this process's or another's) follows the gateway's
    /// events, so a request may wake a stopped preview.
    pub(super) fn serve_running(&self) -> bool {
        let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.serve_lock_path())
        else {
            return false;
        };
        // flock: a second open file description conflicts even in the same process.
        matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }

    /// The file `serve` holds locked while it runs.
    pub(super) fn serve_lock_path(&self) -> PathBuf {
        self.home().root().join("serve.lock")
    }

    fn enqueue(&self, job: Job) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let tx = self.inner.routes.tx.get_or_init(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            // A weak handle: the queue must not keep its engine alive.
            let weak: Weak<Inner> = Arc::downgrade(&self.inner);
            rt.spawn(async move {
                while let Some(job) = rx.recv().await {
                    let Some(inner) = weak.upgrade() else { break };
                    Engine { inner }.run_job(job).await;
                }
            });
            tx
        });
        let _ = tx.send(job);
    }

    /// Waits until every push queued so far has reached the gateway.
    pub(super) async fn flush_routes(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.routes.tx.get().is_none() {
            return;
        }
        self.enqueue(Job::Flush(tx));
        let _ = rx.await;
    }

    async fn run_job(&self, job: Job) {
        match job {
            Job::Flush(done) => {
                let _ = done.send(());
            }
            Job::Put(routes) => {
                if let Err(e) = self.put_routes(routes).await {
                    tracing::warn!(error = %e, "could not push routes to the gateway");
                }
            }
            Job::Delete(hosts) => {
                let gateway = self.inner.gateway.lock().await.clone();
                let gateway = match gateway {
                    Some(g) => Some(g),
                    None => match (self.docker().await, self.gateway_settings()) {
                        (Ok(d), Ok(s)) => crate::gateway::attach(d, self.home().root(), &s)
                            .await
                            .ok()
                            .flatten(),
                        _ => None,
                    },
                };
                for h in hosts {
                    if let Some(g) = &gateway {
                        if let Err(e) = g.remove_route(&h).await {
                            tracing::warn!(host = %h, error = %e, "could not remove a route");
                        }
                    }
                    if let Some(ca) = self.inner.routes.ca.get() {
                        ca.forget_leaf(&h);
                    }
                }
            }
        }
    }

    /// Pushes routes now, each with its certificate when HTTPS is on.
    async fn put_routes(&self, routes: Vec<Route>) -> Result<()> {
        let gateway = self.gateway().await?;
        for r in self.with_tls(routes)? {
            gateway.put_route(&r).await?;
        }
        Ok(())
    }

    /// Pushes the preview's routes now (the queue flushed first, so nothing
    /// older lands after them).
    ///
    /// # Errors
    /// When the gateway refuses them.
    pub(super) async fn push_routes_now(&self, id: &str) -> Result<()> {
        self.flush_routes().await;
        match self.snapshot(id) {
            Some(Job::Put(routes)) => self.put_routes(routes).await,
            _ => Ok(()),
        }
    }

    fn local_ca(&self) -> Result<Arc<LocalCa>> {
        if let Some(ca) = self.inner.routes.ca.get() {
            return Ok(ca.clone());
        }
        let ca = Arc::new(self.ca()?);
        Ok(self.inner.routes.ca.get_or_init(|| ca).clone())
    }

    /// Adds each host's leaf (issued or renewed as needed) when HTTPS is on.
    fn with_tls(&self, routes: Vec<Route>) -> Result<Vec<Route>> {
        if self.gateway_settings()?.https_port.is_none() {
            return Ok(routes);
        }
        let ca = self.local_ca()?;
        routes
            .into_iter()
            .map(|r| {
                let (leaf, _) = ca.leaf(&r.host, time::Duration::days(RENEW_WITHIN_DAYS))?;
                Ok(Route {
                    tls: Some(RouteTls {
                        cert_pem: leaf.chain_pem,
                        key_pem: leaf.key_pem,
                    }),
                    ..r
                })
            })
            .collect()
    }

    /// Replaces the gateway's whole table with every preview's routes as the
    /// store has them (routes of previews from before planned routes were
    /// kept are taken over from the gateway as they are).
    ///
    /// # Errors
    /// When the gateway cannot be reached.
    pub(super) async fn heal_routes(&self) -> Result<()> {
        self.flush_routes().await;
        let gateway = self.gateway().await?;
        let current = gateway.routes().await?;
        let mut table = Vec::new();
        for p in self.store().previews()? {
            let planned = self.planned_routes(&p.id);
            if planned.is_empty() {
                let hosts: Vec<_> = p.urls.iter().map(|u| u.host.as_str()).collect();
                table.extend(
                    current
                        .iter()
                        .filter(|r| hosts.contains(&r.host.as_str()))
                        .cloned(),
                );
            } else {
                table.extend(self.with_tls(self.with_state(planned, &p))?);
            }
        }
        gateway.replace_routes(&table).await?;
        Ok(())
    }

    /// Re-arms the wake of every stopped preview: the gateway sends one wake
    /// per stop, and one sent while no serve listened is lost. A push without
    /// `wake` clears the gateway's mark; the push with it arms it again.
    pub(super) async fn rearm_wakes(&self) {
        let Ok(previews) = self.store().previews() else {
            return;
        };
        for p in previews.iter().filter(|p| p.state == State::Stopped) {
            let Some(Job::Put(routes)) = self.snapshot(&p.id) else {
                continue;
            };
            if !routes.iter().any(|r| r.wake) {
                continue;
            }
            let asleep: Vec<Route> = routes
                .iter()
                .cloned()
                .map(|r| Route { wake: false, ..r })
                .collect();
            if let Err(e) = async {
                self.put_routes(asleep).await?;
                self.put_routes(routes).await
            }
            .await
            {
                tracing::warn!(preview = %p.id, error = %e, "could not re-arm its wake");
            }
        }
    }

    /// Re-pushes the routes of previews whose leaf is due for renewal (called
    /// by `serve`'s periodic tick); how many previews were renewed.
    pub(super) async fn renew_leaves(&self) -> usize {
        let Ok(settings) = self.gateway_settings() else {
            return 0;
        };
        if settings.https_port.is_none() {
            return 0;
        }
        let Ok(ca) = self.local_ca() else { return 0 };
        let Ok(previews) = self.store().previews() else {
            return 0;
        };
        let mut renewed = 0;
        for p in previews {
            let due = self.planned_routes(&p.id).iter().any(|r| {
                ca.leaf(&r.host, time::Duration::days(RENEW_WITHIN_DAYS))
                    .is_ok_and(|(_, issued)| issued)
            });
            if due {
                tracing::info!(preview = %p.id, "renewed its certificates");
                self.routes_changed(&p.id);
                renewed += 1;
            }
        }
        renewed
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::NewPreview;

    fn engine() -> (tempfile::TempDir, Engine) {
        let home = tempfile::tempdir().unwrap();
        let e = Engine::open(crate::paths::Home::at(home.path()).unwrap()).unwrap();
        e.store()
            .insert_repo("shop", home.path().to_str().unwrap(), false)
            .unwrap();
        e.store()
            .insert_preview(&NewPreview::main_shop(), "up")
            .unwrap();
        let routes = vec![Route {
            host: "main.shop.localhost".into(),
            upstream: "shop--main-web-1:8080".into(),
            preview: "main.shop".into(),
            repo: "shop".into(),
            branch: "main".into(),
            ..Route::default()
        }];
        let path = e.routes_file("main.shop");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string(&routes).unwrap()).unwrap();
        (home, e)
    }

    fn put(job: Option<Job>) -> Vec<Route> {
        match job {
            Some(Job::Put(r)) => r,
            Some(Job::Delete(h)) => panic!("expected a push, got a removal of {h:?}"),
            _ => panic!("expected a push"),
        }
    }

    #[test]
    fn a_route_carries_the_state_and_the_step_under_way() {
        let (_h, e) = engine();
        e.store()
            .transition("main.shop", State::Preparing, "up", "")
            .unwrap();
        e.store()
            .transition("main.shop", State::Building, "up", "")
            .unwrap();
        if let Ok(mut s) = e.inner.routes.steps.lock() {
            s.insert("main.shop".into(), "build".into());
        }
        let r = put(e.snapshot("main.shop"));
        assert_eq!(r[0].state.as_deref(), Some("building"));
        assert_eq!(r[0].step.as_deref(), Some("build"));
        assert!(!r[0].wake && r[0].reason.is_none());
    }

    #[test]
    fn a_failed_route_keeps_the_reason_and_the_last_lines_of_this_run() {
        let (_h, e) = engine();
        let s = e.store();
        s.transition("main.shop", State::Preparing, "up", "")
            .unwrap();
        s.log_note("main.shop", State::Preparing, "logs", "old run\nline")
            .unwrap();
        s.transition("main.shop", State::Failed, "up", "first")
            .unwrap();
        s.transition("main.shop", State::Preparing, "up", "")
            .unwrap();
        s.log_note(
            "main.shop",
            State::Preparing,
            "logs",
            "last lines of web (Exited, exit 1):\nboom",
        )
        .unwrap();
        s.transition("main.shop", State::Failed, "up", "web exited with code 1")
            .unwrap();
        let r = put(e.snapshot("main.shop"));
        assert_eq!(r[0].state.as_deref(), Some("failed"));
        assert_eq!(r[0].reason.as_deref(), Some("web exited with code 1"));
        assert_eq!(
            r[0].logs,
            vec!["last lines of web (Exited, exit 1):", "boom"],
            "only this run's lines, not the earlier failure's"
        );
        assert!(r[0].step.is_none(), "no step once failed");
    }

    #[test]
    fn a_stopped_route_wakes_only_while_serve_runs_and_a_gone_one_is_removed() {
        let (_h, e) = engine();
        let s = e.store();
        for (to, t) in [
            (State::Preparing, "up"),
            (State::Starting, "up"),
            (State::Ready, "up"),
            (State::Stopping, "stop"),
            (State::Stopped, "stop"),
        ] {
            s.transition("main.shop", to, t, "").unwrap();
        }
        let r = put(e.snapshot("main.shop"));
        assert_eq!(r[0].state.as_deref(), Some("stopped"));
        assert!(!r[0].wake, "nobody follows wake events: no wake");
        let lock = std::fs::File::create(e.serve_lock_path()).unwrap();
        lock.lock_shared().unwrap();
        assert!(put(e.snapshot("main.shop"))[0].wake, "serve runs: wake");
        drop(lock);
        s.transition("main.shop", State::Removing, "down", "")
            .unwrap();
        s.transition("main.shop", State::Gone, "down", "").unwrap();
        match e.snapshot("main.shop") {
            Some(Job::Delete(h)) => assert_eq!(h, vec!["main.shop.localhost"]),
            _ => panic!("a gone preview's routes are removed"),
        }
        assert!(e.snapshot("main.shop").is_none(), "and forgotten");
    }

    #[test]
    fn routes_carry_a_leaf_for_their_host_when_https_is_on() {
        let (_h, e) = engine();
        let r = e.with_tls(e.planned_routes("main.shop")).unwrap();
        let tls = r[0].tls.as_ref().unwrap();
        assert!(
            tls.cert_pem.ends_with(e.ca().unwrap().cert_pem()),
            "leaf then CA"
        );
        assert!(tls.key_pem.contains("BEGIN PRIVATE KEY"), "PKCS#8");
        e.set_setting("gateway.https", "off").unwrap();
        let r = e.with_tls(e.planned_routes("main.shop")).unwrap();
        assert!(r[0].tls.is_none(), "HTTPS off: no certificate");
    }
}
