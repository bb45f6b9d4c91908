//! The admin event stream: `hello`, `wake` when a request arrives for a
//! sleeping preview, and `traffic` at most once a second when counts changed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use branchyard_protocol::{GatewayEvent, Stats, Traffic};
use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::routes::RouteTable;

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Fan-out of event lines to every `/events` listener.
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<Bytes>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(1024).0,
        }
    }
}

fn line<T: Serialize>(v: &T) -> Bytes {
    let mut s = serde_json::to_string(v).unwrap_or_default();
    s.push('\n');
    Bytes::from(s)
}

impl Events {
    /// Tells the engine to start `preview` (a request came for `host`).
    pub fn wake(&self, preview: &str, host: &str) {
        tracing::info!(%preview, %host, "waking a stopped preview");
        let _ = self.tx.send(line(&GatewayEvent::Wake {
            preview: preview.to_string(),
            host: host.to_string(),
            at_ms: now_ms() as i64,
        }));
    }

    /// The stream one listener reads: `hello`, then every event from now on.
    /// A listener too slow to keep up skips what it missed.
    pub fn stream(&self) -> impl Stream<Item = Bytes> + Send + 'static {
        let rx = self.tx.subscribe();
        let hello = line(&GatewayEvent::Hello);
        futures_util::stream::unfold((Some(hello), rx), |(first, mut rx)| async move {
            if let Some(h) = first {
                return Some((h, (None, rx)));
            }
            loop {
                match rx.recv().await {
                    Ok(b) => return Some((b, (None, rx))),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    /// Sends `traffic` once a second when the counts changed, until `stop`.
    pub async fn run_traffic(self, table: RouteTable, stop: CancellationToken) {
        let mut last = Stats::default();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = stats(&table);
            if now != last && !now.previews.is_empty() {
                let _ = self.tx.send(line(&GatewayEvent::Traffic {
                    previews: now.previews.clone(),
                }));
                last = now;
            }
        }
    }
}

/// The counts of every preview requested so far (`GET /stats`).
pub fn stats(table: &RouteTable) -> Stats {
    let previews = table
        .traffic()
        .into_iter()
        .filter_map(|(id, t)| {
            let requests = t.requests();
            (requests > 0).then(|| {
                let last_request_ms = t.last_request_ms() as i64;
                (
                    id,
                    Traffic {
                        requests,
                        last_request_ms,
                    },
                )
            })
        })
        .collect();
    Stats { previews }
}
