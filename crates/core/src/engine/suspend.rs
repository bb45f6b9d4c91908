//! Wake on request and auto-suspend, run by `serve`: it follows the gateway's
//! `GET /events` (reconnecting when the gateway restarts), starts a stopped
//! preview when a request asks for it, and suspends a preview whose repo has
//! an idle time once no request has reached it for that long.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{Engine, PreviewRef};
use crate::gateway::{GatewayEvent, Traffic};
use crate::lifecycle::State;

/// How long a gateway may stay unreachable before it is looked for anew
/// (recreated, on other ports): a `docker restart` takes about a second.
const REATTACH_AFTER: Duration = Duration::from_secs(10);

/// What `serve` knows of the gateway's traffic and what it is doing about it.
#[derive(Default)]
pub(super) struct Activity {
    /// Request counts per preview, from the last `traffic` event.
    pub traffic: BTreeMap<String, Traffic>,
    /// Previews being woken or suspended right now.
    busy: Arc<Mutex<HashSet<String>>>,
    /// `hello`s seen (every one after the first is a reconnect).
    hellos: u64,
}

/// Whether a preview idle since `last_ms` is due for suspending at `now_ms`.
pub(super) fn idle_due(now_ms: i64, last_ms: i64, idle_secs: u64) -> bool {
    now_ms - last_ms >= (idle_secs as i64) * 1000
}

/// Marks `id` busy; `false` when it already was.
fn claim(busy: &Arc<Mutex<HashSet<String>>>, id: &str) -> bool {
    busy.lock()
        .map(|mut b| b.insert(id.to_string()))
        .unwrap_or(false)
}

fn release(busy: &Arc<Mutex<HashSet<String>>>, id: &str) {
    if let Ok(mut b) = busy.lock() {
        b.remove(id);
    }
}

impl Engine {
    /// Follows the gateway's events into `tx` until `cancel`, reconnecting
    /// whenever the stream breaks.
    pub(super) async fn follow_gateway(
        &self,
        tx: mpsc::UnboundedSender<GatewayEvent>,
        cancel: CancellationToken,
    ) {
        let mut down_since: Option<std::time::Instant> = None;
        while !cancel.is_cancelled() {
            let gateway = match self.gateway().await {
                Ok(g) => g,
                Err(e) => {
                    tracing::warn!(error = %e, "gateway unavailable; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                r = gateway.follow_events(&tx) => r,
            };
            if tx.is_closed() {
                return;
            }
            match result {
                Ok(()) => return,
                Err(e) => {
                    tracing::info!(error = %e, "gateway events stream broke; reconnecting");
                    let since = *down_since.get_or_insert_with(std::time::Instant::now);
                    if gateway.health().await.is_ok() {
                        down_since = None;
                    } else if since.elapsed() > REATTACH_AFTER {
                        // Gone for good (removed, or recreated elsewhere): find it anew.
                        *self.inner.gateway.lock().await = None;
                        down_since = None;
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
            }
        }
    }

    /// Acts on one gateway event.
    pub(super) async fn on_gateway_event(&self, ev: GatewayEvent, activity: &mut Activity) {
        match ev {
            GatewayEvent::Hello => {
                activity.hellos += 1;
                // A restarted or recreated gateway: make sure it has every route.
                if activity.hellos > 1 {
                    if let Err(e) = self.heal_routes().await {
                        tracing::warn!(error = %e, "could not push routes after a reconnect");
                    }
                    self.rearm_wakes().await;
                }
            }
            GatewayEvent::Wake { preview, .. } => self.wake(&preview, activity),
            GatewayEvent::Traffic { previews } => activity.traffic = previews,
            GatewayEvent::Unknown => {}
        }
    }

    /// Starts a stopped preview a request asked for.
    fn wake(&self, id: &str, activity: &Activity) {
        let Ok(Some(rec)) = self.store().preview(id) else {
            return;
        };
        if rec.state != State::Stopped || !claim(&activity.busy, id) {
            return;
        }
        let (engine, busy, id) = (self.clone(), activity.busy.clone(), id.to_string());
        let span = tracing::info_span!("wake", preview = %id);
        tokio::spawn(
            async move {
                let t = std::time::Instant::now();
                match engine.start(&PreviewRef::Id(id.clone())).await {
                    Ok(_) => tracing::info!(ms = t.elapsed().as_millis() as u64, "woken"),
                    Err(e) => tracing::warn!(error = %e, "wake failed"),
                }
                release(&busy, &id);
            }
            .instrument(span),
        );
    }

    /// Suspends every ready preview that has been idle longer than its
    /// repo's auto-suspend time; `since_ms` is when serve started (requests
    /// before it are not known).
    pub(super) async fn suspend_idle(&self, activity: &Activity, since_ms: i64) {
        let Ok(previews) = self.store().previews() else {
            return;
        };
        let now = crate::store::now_ms();
        for p in previews.into_iter().filter(|p| p.state == State::Ready) {
            let Ok(Some(idle)) = self.auto_suspend(&p.repo) else {
                continue;
            };
            let last_request = activity
                .traffic
                .get(&p.id)
                .map(|t| t.last_request_ms)
                .unwrap_or(0);
            let last = last_request.max(p.updated_at).max(since_ms);
            if !idle_due(now, last, idle) || !claim(&activity.busy, &p.id) {
                continue;
            }
            let (engine, busy, id) = (self.clone(), activity.busy.clone(), p.id.clone());
            let span = tracing::info_span!("auto_suspend", preview = %id, idle);
            tokio::spawn(
                async move {
                    if let Err(e) = engine
                        .stop_as(&PreviewRef::Id(id.clone()), "auto-suspend")
                        .await
                    {
                        tracing::warn!(error = %e, "auto-suspend failed");
                    }
                    release(&busy, &id);
                }
                .instrument(span),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_is_due_only_after_its_whole_idle_time() {
        assert!(!idle_due(10_000, 8_000, 3), "2 s idle of 3: not yet");
        assert!(idle_due(11_000, 8_000, 3), "3 s idle of 3: due");
    }

    #[test]
    fn a_preview_is_woken_or_suspended_by_one_task_at_a_time() {
        let busy = Arc::new(Mutex::new(HashSet::new()));
        assert!(claim(&busy, "main.shop"));
        assert!(
            !claim(&busy, "main.shop"),
            "a second wake waits for the first"
        );
        release(&busy, "main.shop");
        assert!(claim(&busy, "main.shop"));
    }
}
