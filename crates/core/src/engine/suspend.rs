//! Wake on request and auto-suspend, run by `serve`: it follows the gateway's
//! `GET /events` (reconnecting when the gateway restarts), starts a stopped
//! preview when a request asks for it, and suspends a preview whose repo has
//! an idle time once no request has reached it for that long.
//!
//! Auto-suspend is a timer, not a poll. `serve` keeps the [`Candidate`]s
//! (ready or degraded previews whose repo has an idle time, with when each
//! last changed), read from the store only when the store changes (a file
//! watch on the database wakes it for every commit, by this process or
//! another: state changes and setting changes alike), and sleeps until the
//! earliest idle deadline ([`next_deadline`]). A `traffic` event from the
//! gateway only moves deadlines later, from memory, with no store read. So
//! an idle machine does nothing at all until something happens or a preview
//! falls due; the old 1 Hz tick read the store every second for nothing.
//! A suspend that did not take (the preview busy with another operation) is
//! tried again after [`RETRY_AFTER`], so a stuck preview never spins the timer.

use std::collections::{BTreeMap, HashMap, HashSet};
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

/// How long after an auto-suspend attempt the same preview is tried again,
/// when it is still due (another operation held it).
pub(super) const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What `serve` knows of the gateway's traffic and what it is doing about it.
#[derive(Default)]
pub(super) struct Activity {
    /// Request counts per preview, from the last `traffic` event.
    pub traffic: BTreeMap<String, Traffic>,
    /// Previews being woken or suspended right now.
    busy: Arc<Mutex<HashSet<String>>>,
    /// When each preview was last sent to auto-suspend (ms since epoch).
    attempts: HashMap<String, i64>,
    /// `hello`s seen (every one after the first is a reconnect).
    hellos: u64,
}

impl Activity {
    /// Forgets attempts on previews that are no longer candidates (stopped,
    /// removed): a preview woken later starts with a clean slate.
    pub(super) fn keep_attempts_of(&mut self, candidates: &[Candidate]) {
        self.attempts
            .retain(|id, _| candidates.iter().any(|c| &c.id == id));
    }
}

/// A preview auto-suspend may stop: ready (or degraded) in a repo with an idle time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Candidate {
    /// Preview id.
    pub id: String,
    /// Its repo's auto-suspend time.
    pub idle_secs: u64,
    /// When its record last changed (ms since epoch): becoming ready counts as activity.
    pub changed_ms: i64,
}

/// When `c` falls due: its idle time after the latest of its last request,
/// its last change, `since_ms` (serve's start: earlier requests are unknown)
/// and, after an attempt, [`RETRY_AFTER`] past that attempt.
pub(super) fn deadline_of(c: &Candidate, activity: &Activity, since_ms: i64) -> i64 {
    let last_request = activity
        .traffic
        .get(&c.id)
        .map(|t| t.last_request_ms)
        .unwrap_or(0);
    let last = last_request.max(c.changed_ms).max(since_ms);
    let due = last + (c.idle_secs as i64) * 1000;
    match activity.attempts.get(&c.id) {
        Some(at) => due.max(at + RETRY_AFTER.as_millis() as i64),
        None => due,
    }
}

/// The earliest deadline among `candidates` (ms since epoch), if any.
pub(super) fn next_deadline(
    candidates: &[Candidate],
    activity: &Activity,
    since_ms: i64,
) -> Option<i64> {
    candidates
        .iter()
        .map(|c| deadline_of(c, activity, since_ms))
        .min()
}

/// The tokio instant of a wall-clock deadline (ms since epoch); one in the
/// past is now, one beyond a minute is a minute (then looked at again: a
/// timer that fires early suspends nothing), so the instant never overflows.
pub(super) fn instant_of(deadline_ms: i64) -> tokio::time::Instant {
    // At most a minute: the monotonic clock stands still while the machine
    // sleeps, so a longer wait would end late by however long it slept.
    let wait = (deadline_ms - crate::store::now_ms()).clamp(0, 60_000) as u64;
    tokio::time::Instant::now() + Duration::from_millis(wait)
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

    /// The previews auto-suspend may stop, as the store has them now.
    pub(super) fn idle_candidates(&self) -> Vec<Candidate> {
        let Ok(previews) = self.store().previews() else {
            return Vec::new();
        };
        // Read on every commit of any process: one settings query per repo, not per preview.
        let mut per_repo: std::collections::HashMap<String, Option<u64>> = Default::default();
        previews
            .into_iter()
            .filter(|p| matches!(p.state, State::Ready | State::Degraded))
            .filter_map(|p| {
                let idle_secs = *per_repo
                    .entry(p.repo.clone())
                    .or_insert_with(|| self.auto_suspend(&p.repo).ok().flatten());
                let idle_secs = idle_secs?;
                Some(Candidate {
                    id: p.id,
                    idle_secs,
                    changed_ms: p.updated_at,
                })
            })
            .collect()
    }

    /// Suspends every candidate whose deadline has passed; `since_ms` is
    /// when serve started (requests before it are not known).
    pub(super) fn suspend_due(
        &self,
        candidates: &[Candidate],
        activity: &mut Activity,
        since_ms: i64,
    ) {
        let now = crate::store::now_ms();
        for c in candidates {
            if deadline_of(c, activity, since_ms) > now {
                continue;
            }
            // Recorded even when busy (being woken): the next try waits, so the timer never spins.
            activity.attempts.insert(c.id.clone(), now);
            if !claim(&activity.busy, &c.id) {
                continue;
            }
            let (engine, busy, id, idle) = (
                self.clone(),
                activity.busy.clone(),
                c.id.clone(),
                c.idle_secs,
            );
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

    fn candidate(id: &str, idle_secs: u64, changed_ms: i64) -> Candidate {
        Candidate {
            id: id.into(),
            idle_secs,
            changed_ms,
        }
    }

    fn traffic(last_request_ms: i64) -> Traffic {
        Traffic {
            requests: 1,
            last_request_ms,
        }
    }

    #[test]
    fn a_deadline_is_the_idle_time_after_the_latest_activity() {
        let mut a = Activity::default();
        let c = candidate("main.shop", 3, 8_000);
        assert_eq!(deadline_of(&c, &a, 0), 11_000, "3 s after it changed");
        assert_eq!(
            deadline_of(&c, &a, 9_000),
            12_000,
            "nothing is known before serve started"
        );
        a.traffic.insert("main.shop".into(), traffic(10_500));
        assert_eq!(deadline_of(&c, &a, 0), 13_500, "a request moves it later");
    }

    #[test]
    fn the_timer_sleeps_until_the_earliest_deadline_and_not_at_all_without_candidates() {
        let mut a = Activity::default();
        assert_eq!(next_deadline(&[], &a, 0), None, "nothing to wait for");
        let cs = [
            candidate("a.shop", 60, 1_000),
            candidate("b.shop", 5, 2_000),
            candidate("c.shop", 10, 0),
        ];
        assert_eq!(next_deadline(&cs, &a, 0), Some(7_000), "b falls due first");
        a.traffic.insert("b.shop".into(), traffic(9_000));
        assert_eq!(
            next_deadline(&cs, &a, 0),
            Some(10_000),
            "traffic on b makes c the first"
        );
    }

    #[tokio::test]
    async fn past_and_far_deadlines_give_instants_that_do_not_overflow() {
        let now = tokio::time::Instant::now();
        assert!(instant_of(0) <= now + Duration::from_millis(5), "past: now");
        let far = instant_of(i64::MAX);
        assert!(far > now + Duration::from_secs(59) && far <= now + Duration::from_secs(61));
    }

    #[test]
    fn a_suspend_that_did_not_take_is_retried_later_not_at_once() {
        let mut a = Activity::default();
        let c = candidate("main.shop", 3, 0);
        a.attempts.insert("main.shop".into(), 4_000);
        assert_eq!(
            deadline_of(&c, &a, 0),
            4_000 + RETRY_AFTER.as_millis() as i64,
            "a due preview still ready after an attempt waits out the retry delay"
        );
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
