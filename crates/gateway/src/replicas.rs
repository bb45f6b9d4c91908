//! A route's upstreams (one per replica of the routed service), balanced
//! round-robin per new upstream connection, never per request: a client
//! connection keeps its upstream connection (see [`crate::own`] and
//! [`crate::fastpath`]), so the per-request path only checks that the one
//! it holds is still one of the route's and not marked down.
//!
//! An upstream whose connect fails (its container died: the name no longer
//! resolves, or nothing listens) is marked down for [`DOWN_FOR`] and the next
//! one is tried at once, so a request is not lost to a dead replica while
//! another is up. Marked upstreams are tried last, not never: when every one
//! is down they are all tried again, in turn.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hyper::http::uri::Authority;

use crate::events::now_ms;
use crate::routes::Route;

/// How long an upstream whose connect failed is passed over.
pub const DOWN_FOR_MS: u64 = 2_000;

/// The same, as a duration, for docs and tests.
pub const DOWN_FOR: std::time::Duration = std::time::Duration::from_millis(DOWN_FOR_MS);

/// One upstream and until when it is passed over.
#[derive(Debug)]
struct Replica {
    authority: Authority,
    /// Unix ms until which a new connection goes elsewhere first (0: never marked).
    down_until: AtomicU64,
}

/// A route's upstreams, parsed once per table change.
#[derive(Debug, Default)]
pub struct Replicas {
    list: Vec<Replica>,
    /// The next upstream in turn for a new connection.
    next: AtomicUsize,
}

impl Replicas {
    /// The route's upstreams (`upstreams`, or `upstream` from older engines);
    /// one that is not a `host:port` is left out (none left: answered 502).
    pub fn of(route: &Route) -> Replicas {
        let list = route
            .all_upstreams()
            .into_iter()
            .filter_map(|u| u.parse::<Authority>().ok())
            .map(|authority| Replica {
                authority,
                down_until: AtomicU64::new(0),
            })
            .collect();
        Replicas {
            list,
            next: AtomicUsize::new(0),
        }
    }

    /// Whether there is no upstream at all.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// How many upstreams.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether a connection to `a` may carry this route's next request: `a`
    /// is one of its upstreams and not marked down. The per-request check.
    pub fn keeps(&self, a: &Authority) -> bool {
        match self.list.as_slice() {
            // The common case: one upstream, no clock read.
            [only] => only.authority == *a && only.down_until.load(Ordering::Relaxed) == 0,
            list => list.iter().any(|r| {
                r.authority == *a && {
                    let until = r.down_until.load(Ordering::Relaxed);
                    until == 0 || until <= now_ms()
                }
            }),
        }
    }

    /// The upstreams in the order a new connection tries them: from the next
    /// in turn (which advances), those not marked down first.
    pub fn order(&self) -> Vec<&Authority> {
        let n = self.list.len();
        if n <= 1 {
            return self.list.iter().map(|r| &r.authority).collect();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let now = now_ms();
        let turn = (0..n).map(|i| &self.list[(start + i) % n]);
        let (up, down): (Vec<&Replica>, Vec<&Replica>) =
            turn.partition(|r| r.down_until.load(Ordering::Relaxed) <= now);
        up.into_iter().chain(down).map(|r| &r.authority).collect()
    }

    /// A connect to `a` failed: pass it over for [`DOWN_FOR`].
    pub fn failed(&self, a: &Authority) {
        if let Some(r) = self.list.iter().find(|r| r.authority == *a) {
            r.down_until
                .store(now_ms() + DOWN_FOR_MS, Ordering::Relaxed);
            tracing::info!(upstream = %a, "upstream unreachable; passed over for a while");
        }
    }

    /// A connect to `a` succeeded: no longer passed over.
    pub fn answered(&self, a: &Authority) {
        if let Some(r) = self.list.iter().find(|r| r.authority == *a) {
            if r.down_until.load(Ordering::Relaxed) != 0 {
                r.down_until.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Connects with `connect` to the first upstream of `order` (one
    /// [`Replicas::order`]: a new connection takes one turn) that answers,
    /// marking the ones that do not.
    ///
    /// # Errors
    /// Every upstream's failure, when none answered.
    pub async fn connect<T, F, Fut>(
        &self,
        order: &[&Authority],
        mut connect: F,
    ) -> Result<T, String>
    where
        F: FnMut(Authority) -> Fut,
        Fut: std::future::Future<Output = Result<T, String>>,
    {
        if order.is_empty() {
            return Err("the route has no upstream (host:port)".into());
        }
        let mut failures = Vec::new();
        for &a in order {
            match connect(a.clone()).await {
                Ok(t) => {
                    self.answered(a);
                    return Ok(t);
                }
                Err(e) => {
                    self.failed(a);
                    failures.push((a.to_string(), e));
                }
            }
        }
        Err(match failures.as_slice() {
            [(_, e)] => e.clone(),
            all => all
                .iter()
                .map(|(a, e)| format!("{a}: {e}"))
                .collect::<Vec<_>>()
                .join("; "),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn replicas(list: &[&str]) -> Replicas {
        Replicas::of(&Route::to(list.iter().map(|s| s.to_string()).collect()))
    }

    fn names(order: Vec<&Authority>) -> Vec<String> {
        order.into_iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn new_connections_take_the_upstreams_in_turn() {
        let r = replicas(&["a:1", "b:1", "c:1"]);
        let firsts: Vec<String> = (0..6).map(|_| r.order()[0].to_string()).collect();
        assert_eq!(firsts, vec!["a:1", "b:1", "c:1", "a:1", "b:1", "c:1"]);
        assert_eq!(
            names(r.order()),
            vec!["a:1", "b:1", "c:1"],
            "then the others, in turn"
        );
    }

    #[test]
    fn an_upstream_that_failed_goes_last_until_its_time_is_up() {
        let r = replicas(&["a:1", "b:1"]);
        let a: Authority = "a:1".parse().unwrap();
        r.failed(&a);
        assert!(!r.keeps(&a), "a held connection to it is given up");
        for _ in 0..4 {
            assert_eq!(
                r.order()[0].to_string(),
                "b:1",
                "b first, whoever's turn it is"
            );
        }
        assert_eq!(
            names(r.order()),
            vec!["b:1", "a:1"],
            "a is still tried, last"
        );
        r.list[0].down_until.store(now_ms() - 1, Ordering::Relaxed);
        assert!(r.keeps(&a), "its time is up");
        r.answered(&a);
        assert_eq!(r.list[0].down_until.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn routes_from_older_engines_have_their_one_upstream_and_bad_ones_are_left_out() {
        let old = Route {
            upstream: "x:80".into(),
            ..Route::default()
        };
        let r = Replicas::of(&old);
        assert_eq!(r.len(), 1);
        assert!(r.keeps(&"x:80".parse().unwrap()));
        assert!(!r.keeps(&"y:80".parse().unwrap()));
        assert!(replicas(&["not a host port"]).is_empty());
    }

    #[tokio::test]
    async fn connect_goes_on_to_the_next_upstream_and_marks_the_dead_one() {
        let r = replicas(&["dead:1", "live:1"]);
        let got = r
            .connect(&r.order(), |a| async move {
                if a.host() == "dead" {
                    Err("connection refused".to_string())
                } else {
                    Ok(a.to_string())
                }
            })
            .await
            .unwrap();
        assert_eq!(got, "live:1");
        assert!(!r.keeps(&"dead:1".parse().unwrap()));
        let two = replicas(&["a:1", "b:1"]);
        let e = two
            .connect(&two.order(), |_| async {
                Err::<(), _>("refused".to_string())
            })
            .await
            .unwrap_err();
        assert_eq!(e, "a:1: refused; b:1: refused", "every failure is named");
    }
}
