//! Logs and build output go to the window through a Tauri [`Channel`] per
//! subscriber, in batches, with a rate cap: a chatty service costs the window
//! at most [`MAX_PER_SECOND`] lines a second (the rest are counted, not sent),
//! and each subscription stops when the UI unsubscribes or the window is gone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use branchyard_core::engine::PreviewRef;
use branchyard_core::events::Event;
use branchyard_core::Engine;
use futures_util::StreamExt;
use serde::Serialize;
use tauri::ipc::Channel;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Lines sent to one subscriber per second at most; the rest are dropped and counted.
pub const MAX_PER_SECOND: usize = 2000;
/// Batches go out this often (one IPC message, one repaint).
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// One line of a service's logs or build output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// The compose service it comes from.
    pub service: String,
    /// `stdout`, `stderr` or `build`.
    pub stream: String,
    /// The text, without its newline.
    pub text: String,
}

/// What one channel message carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Batch {
    /// New lines, oldest first.
    pub lines: Vec<Line>,
    /// Lines left out since the last batch because of the rate cap.
    pub dropped: u64,
    /// The source ended (container gone, or not following).
    pub ended: bool,
}

/// Open subscriptions, by the id the UI got back; cheap to clone.
#[derive(Clone, Default)]
pub struct Streams(Arc<Subs>);

#[derive(Default)]
struct Subs {
    next: AtomicU32,
    open: Mutex<HashMap<u32, CancellationToken>>,
}

impl Streams {
    fn open(&self) -> (u32, CancellationToken) {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
        let token = CancellationToken::new();
        self.lock().insert(id, token.clone());
        (id, token)
    }

    /// Ends subscription `id`; whether it was open.
    pub fn close(&self, id: u32) -> bool {
        match self.lock().remove(&id) {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }

    /// How many subscriptions are open.
    pub fn open_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, CancellationToken>> {
        self.0.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows the logs of `services` of preview `id` (the last `tail` lines
    /// first) into `channel`; the subscription's id.
    pub fn logs(
        &self,
        engine: Engine,
        id: String,
        services: Vec<String>,
        tail: usize,
        channel: Channel<Batch>,
    ) -> u32 {
        let (sub, cancel) = self.open();
        let (tx, rx) = mpsc::channel::<Line>(1024);
        for service in services {
            let (engine, id, tx, cancel) = (engine.clone(), id.clone(), tx.clone(), cancel.clone());
            tauri::async_runtime::spawn(async move {
                let r = PreviewRef::Id(id);
                let stream = match engine.logs(&r, Some(&service), Some(tail), true).await {
                    Ok(s) => s,
                    Err(e) => {
                        let text = format!("cannot read the logs of {service}: {e}");
                        let _ = tx.send(line(&service, "stderr", &text)).await;
                        return;
                    }
                };
                let mut stream = Box::pin(stream);
                loop {
                    let item = tokio::select! {
                        _ = cancel.cancelled() => return,
                        item = stream.next() => item,
                    };
                    let Some(item) = item else { return };
                    let chunk = match item {
                        Ok(l) => (l.stream, l.text),
                        Err(e) => ("stderr", format!("log stream broke: {e}")),
                    };
                    for text in chunk.1.lines() {
                        if tx.send(line(&service, chunk.0, text)).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
        drop(tx);
        tauri::async_runtime::spawn(pump(rx, channel, cancel, self.clone(), sub));
        sub
    }

    /// Follows build and start output (of `preview`, or of every preview) into `channel`.
    pub fn output(&self, engine: &Engine, preview: Option<String>, channel: Channel<Batch>) -> u32 {
        let (sub, cancel) = self.open();
        let (tx, rx) = mpsc::channel::<Line>(1024);
        let mut events = engine.subscribe();
        let stop = cancel.clone();
        tauri::async_runtime::spawn(async move {
            loop {
                let ev = tokio::select! {
                    _ = stop.cancelled() => return,
                    ev = events.recv() => ev,
                };
                match ev {
                    Ok(Event::Output {
                        preview: p,
                        service,
                        line: text,
                    }) if preview.as_ref().is_none_or(|want| *want == p) => {
                        // The preview rides in `stream` so one channel can carry every preview.
                        let l = Line {
                            service,
                            stream: format!("build:{p}"),
                            text,
                        };
                        if tx.send(l).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        tauri::async_runtime::spawn(pump(rx, channel, cancel, self.clone(), sub));
        sub
    }
}

fn line(service: &str, stream: &str, text: &str) -> Line {
    Line {
        service: service.to_string(),
        stream: stream.to_string(),
        text: text.to_string(),
    }
}

/// Moves lines from `rx` to `channel` in batches under the rate cap until
/// the source ends, the subscription is closed, or the channel fails.
async fn pump(
    mut rx: mpsc::Receiver<Line>,
    channel: Channel<Batch>,
    cancel: CancellationToken,
    streams: Streams,
    sub: u32,
) {
    let mut rate = RateCap::default();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    let mut ended = false;
    while !ended {
        tokio::select! {
            _ = cancel.cancelled() => break,
            l = rx.recv() => match l {
                Some(l) => rate.offer(l),
                None => ended = true,
            },
            _ = tick.tick() => rate.next_tick(),
        }
        if (rate.due() || ended) && channel.send(rate.take(ended)).is_err() {
            break;
        }
    }
    streams.close(sub);
}

/// Batching under a per-second cap; pure, so it is tested without a window.
#[derive(Default)]
struct RateCap {
    buf: Vec<Line>,
    dropped: u64,
    sent_this_second: usize,
    ticks: u32,
    flush: bool,
}

impl RateCap {
    fn offer(&mut self, l: Line) {
        if self.sent_this_second < MAX_PER_SECOND {
            self.sent_this_second += 1;
            self.buf.push(l);
        } else {
            self.dropped += 1;
        }
    }

    fn next_tick(&mut self) {
        self.ticks += 1;
        if self.ticks * FLUSH_EVERY.as_millis() as u32 >= 1000 {
            self.ticks = 0;
            self.sent_this_second = 0;
        }
        self.flush = true;
    }

    fn due(&self) -> bool {
        self.flush && (!self.buf.is_empty() || self.dropped > 0)
    }

    fn take(&mut self, ended: bool) -> Batch {
        self.flush = false;
        Batch {
            lines: std::mem::take(&mut self.buf),
            dropped: std::mem::take(&mut self.dropped),
            ended,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_capped_per_second_and_the_rest_counted() {
        let mut r = RateCap::default();
        for i in 0..(MAX_PER_SECOND + 500) {
            r.offer(line("web", "stdout", &i.to_string()));
        }
        assert!(!r.due(), "nothing goes out before the tick");
        r.next_tick();
        let b = r.take(false);
        assert_eq!(b.lines.len(), MAX_PER_SECOND);
        assert_eq!(b.dropped, 500);
        assert_eq!(b.lines[0].text, "0");
        // The budget comes back after a second's worth of ticks.
        for _ in 0..10 {
            r.next_tick();
        }
        r.offer(line("web", "stdout", "again"));
        assert!(r.due());
        assert_eq!(r.take(true).lines.len(), 1);
    }

    #[tokio::test]
    async fn the_pump_batches_into_the_channel_and_stops_when_closed() {
        let streams = Streams::default();
        let got = std::sync::Arc::new(Mutex::new(Vec::<serde_json::Value>::new()));
        let sink = got.clone();
        let channel: Channel<Batch> = Channel::new(move |body| {
            if let tauri::ipc::InvokeResponseBody::Json(j) = body {
                sink.lock().unwrap().push(serde_json::from_str(&j).unwrap());
            }
            Ok(())
        });
        let (sub, cancel) = streams.open();
        let (tx, rx) = mpsc::channel(16);
        let task = tokio::spawn(pump(rx, channel, cancel, streams.clone(), sub));
        tx.send(line("web", "stdout", "hello")).await.unwrap();
        tx.send(line("web", "stderr", "oops")).await.unwrap();
        tokio::time::sleep(FLUSH_EVERY * 3).await;
        assert_eq!(streams.open_count(), 1);
        assert!(streams.close(sub));
        task.await.unwrap();
        assert_eq!(streams.open_count(), 0);
        let got = got.lock().unwrap().clone();
        let texts: Vec<_> = got
            .iter()
            .flat_map(|b| b["lines"].as_array().unwrap().clone())
            .map(|l| l["text"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(texts, ["hello", "oops"]);
        // Closed: later lines go nowhere.
        assert!(tx.send(line("web", "stdout", "late")).await.is_err());
    }
}
