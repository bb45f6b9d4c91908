//! The admin event stream: `hello`, `wake` when a request arrives for a
//! sleeping preview, and `traffic` at most once a second when counts changed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::Stream;
use serde_json::{json, Value};
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

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

impl Events {
    /// Tells the engine to start `preview` (a request came for `host`).
    pub fn wake(&self, preview: &str, host: &str) {
        tracing::info!(%preview, %host, "waking a stopped preview");
        let _ = self.tx.send(line(&json!({
            "type": "wake", "preview": preview, "host": host, "at_ms": now_ms()
        })));
    }

    /// The stream one listener reads: `hello`, then every event from now on.
    /// A listener too slow to keep up skips what it missed.
    pub fn stream(&self) -> impl Stream<Item = Bytes> + Send + 'static {
        let rx = self.tx.subscribe();
        let hello = line(&json!({"type": "hello"}));
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
        let mut last = Value::Null;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = stats(&table);
            if now != last && !now["previews"].as_object().is_some_and(|m| m.is_empty()) {
                let mut ev = now.clone();
                ev["type"] = json!("traffic");
                let _ = self.tx.send(line(&ev));
                last = now;
            }
        }
    }
}

/// `{"previews": {id: {requests, last_request_ms}}}` for every preview requested so far.
pub fn stats(table: &RouteTable) -> Value {
    let mut previews = BTreeMap::new();
    for (id, t) in table.traffic() {
        let requests = t.requests();
        if requests > 0 {
            previews.insert(
                id,
                json!({
                    "requests": requests,
                    "last_request_ms": t.last_request_ms()
                }),
            );
        }
    }
    json!({ "previews": previews })
}
