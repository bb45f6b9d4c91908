//! Idle upstream connections of one worker thread, kept for the next client
//! that goes to the same upstream: hyper's (see [`crate::own`]) and the fast
//! path's raw ones (see [`crate::fastpath`]) each have a list of their own.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::http::uri::Authority;

/// Idle connections kept per worker thread (nginx's `keepalive 64`).
const IDLE_MAX: usize = 64;
/// An idle connection older than this is closed when next looked at.
const IDLE_FOR: Duration = Duration::from_secs(60);

/// An upstream connection that can wait in an [`IdleList`].
pub trait Reusable {
    /// Where it goes.
    fn authority(&self) -> &Authority;
    /// The upstream closed it (or it can carry no other request).
    fn gone(&self) -> bool;
    /// It can take a request now (not still reading its last answer).
    fn ready(&self) -> bool {
        true
    }
}

/// Idle connections, newest last.
#[derive(Debug)]
pub struct IdleList<T>(Mutex<Vec<(Instant, T)>>);

impl<T> Default for IdleList<T> {
    fn default() -> Self {
        IdleList(Mutex::new(Vec::new()))
    }
}

impl<T: Reusable> IdleList<T> {
    /// Keeps `c` for a later client, unless it is gone; the oldest goes when full.
    pub fn put(&self, c: T) {
        if c.gone() {
            return;
        }
        if let Ok(mut idle) = self.0.lock() {
            prune(&mut idle);
            if idle.len() >= IDLE_MAX {
                idle.remove(0);
            }
            idle.push((Instant::now(), c));
        }
    }

    /// The newest idle connection to `authority` that can take a request now.
    pub fn take(&self, authority: &Authority) -> Option<T> {
        let mut idle = self.0.lock().ok()?;
        prune(&mut idle);
        let i = idle
            .iter()
            .rposition(|(_, c)| c.authority() == authority && c.ready())?;
        // `remove`, not `swap_remove`: the list stays oldest first for `put`.
        Some(idle.remove(i).1)
    }
}

/// Drops connections idle too long or closed by the upstream.
fn prune<T: Reusable>(idle: &mut Vec<(Instant, T)>) {
    idle.retain(|(at, c)| at.elapsed() < IDLE_FOR && !c.gone());
}
