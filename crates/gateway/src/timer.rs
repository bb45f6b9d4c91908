//! A coarse timer for hyper's connection deadlines (header read, h2 ping).
//!
//! hyper re-arms the header-read deadline for every request on a kept-alive
//! connection. With tokio's timer each re-arm goes through the runtime's
//! timer wheel, and about one in eight also woke the runtime's own driver
//! with an eventfd write (`reregister` → `unpark`): an extra syscall and an
//! extra turn of the event loop while serving (`perf record -e
//! syscalls:sys_enter_write` under `scripts/bench-gateway.sh` load showed
//! them; 4.34 syscalls per proxied request before, 4.25 after). These
//! deadlines guard against slow clients and are seconds long, so they need
//! no precision: here a deadline is an `Instant` in a slab, re-armed by
//! writing a field, and one ticker task per worker wakes the expired ones
//! every [`TICK`] while any are armed (none runs on an idle gateway). A
//! sleep ends at most `TICK` late.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};
use slab::Slab;

/// How late a sleep may end.
pub const TICK: Duration = Duration::from_millis(100);

/// Deadlines of one worker's connections; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CoarseTimer {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    armed: Mutex<Armed>,
}

#[derive(Debug, Default)]
struct Armed {
    sleeps: Slab<Entry>,
    /// A ticker task runs (it ends when nothing is armed).
    ticking: bool,
}

#[derive(Debug)]
struct Entry {
    deadline: Instant,
    waker: Waker,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Armed> {
        // A panic while holding it leaves plain data behind: keep using it.
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Timer for CoarseTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(CoarseSleep {
            inner: self.inner.clone(),
            deadline,
            key: None,
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<CoarseSleep>() {
            Some(mut s) => s.as_mut().rearm(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// One deadline; armed in the slab only once polled.
#[derive(Debug)]
struct CoarseSleep {
    inner: Arc<Inner>,
    deadline: Instant,
    key: Option<usize>,
}

impl CoarseSleep {
    fn rearm(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.deadline = deadline;
        if let Some(k) = this.key {
            if let Some(e) = this.inner.lock().sleeps.get_mut(k) {
                e.deadline = deadline;
            }
        }
    }
}

impl Sleep for CoarseSleep {}

impl Future for CoarseSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
            // Disarmed: the ticker need not wake it again (a reset re-arms it).
            if let Some(k) = this.key.take() {
                this.inner.lock().sleeps.try_remove(k);
            }
            return Poll::Ready(());
        }
        let mut armed = this.inner.lock();
        match this.key.and_then(|k| armed.sleeps.get_mut(k)) {
            Some(e) => {
                if !e.waker.will_wake(cx.waker()) {
                    e.waker = cx.waker().clone();
                }
            }
            None => {
                this.key = Some(armed.sleeps.insert(Entry {
                    deadline: this.deadline,
                    waker: cx.waker().clone(),
                }));
                if !armed.ticking {
                    if let Ok(rt) = tokio::runtime::Handle::try_current() {
                        armed.ticking = true;
                        rt.spawn(tick(this.inner.clone()));
                    }
                }
            }
        }
        Poll::Pending
    }
}

impl Drop for CoarseSleep {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.inner.lock().sleeps.try_remove(k);
        }
    }
}

/// Wakes the expired sleeps every [`TICK`] until none is armed.
async fn tick(inner: Arc<Inner>) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        let now = Instant::now();
        let expired: Vec<Waker> = {
            let mut armed = inner.lock();
            if armed.sleeps.is_empty() {
                armed.ticking = false;
                return;
            }
            armed
                .sleeps
                .iter()
                .filter(|(_, e)| e.deadline <= now)
                .map(|(_, e)| e.waker.clone())
                .collect()
        };
        // Woken outside the lock: a woken sleep's poll takes it.
        for w in expired {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sleep_ends_after_its_deadline_and_within_a_tick() {
        let t = CoarseTimer::default();
        let started = Instant::now();
        t.sleep(Duration::from_millis(150)).await;
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(150), "ended early: {took:?}");
        assert!(
            took < Duration::from_millis(150) + TICK * 3,
            "ended late: {took:?}"
        );
    }

    #[tokio::test]
    async fn a_reset_moves_the_deadline_and_a_dropped_sleep_is_disarmed() {
        let t = CoarseTimer::default();
        let mut s = t.sleep(Duration::from_secs(3600));
        // Polled once, so it is armed.
        assert!(futures_util::poll!(s.as_mut()).is_pending());
        assert_eq!(t.inner.lock().sleeps.len(), 1);
        let started = Instant::now();
        t.reset(&mut s, Instant::now() + Duration::from_millis(50));
        s.as_mut().await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the reset was ignored"
        );
        drop(s);
        assert!(
            t.inner.lock().sleeps.is_empty(),
            "a dropped sleep stays armed"
        );
    }

    #[tokio::test]
    async fn the_ticker_stops_when_nothing_is_armed() {
        let t = CoarseTimer::default();
        t.sleep(Duration::from_millis(10)).await;
        tokio::time::sleep(TICK * 3).await;
        assert!(
            !t.inner.lock().ticking,
            "a ticker still runs with nothing armed"
        );
    }
}
