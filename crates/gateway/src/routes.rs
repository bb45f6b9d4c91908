//! The route table: built anew on every change (certificates parsed, upstream
//! addresses checked), persisted, then swapped in, so readers never see a
//! half-made table, a bad push changes nothing, and a restart serves every route.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;
use serde::Serialize;
use tokio::sync::watch;

use crate::error::GatewayError;
use crate::replicas::Replicas;
use crate::tls;

// The wire type of a route and its certificate, shared with the engine.
pub use branchyard_protocol::{Route, RouteTls};

/// What the proxy does with a request, from the route's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// `ready`, `updating`, `degraded` (other services may still answer): forwarded.
    Serving,
    /// On its way (or going away): a page that reloads itself.
    Busy,
    /// `failed`: the reason and logs.
    Failed,
    /// `stopped` with `wake`: woken by the request.
    Asleep,
    /// `stopped` without `wake`.
    Stopped,
}

impl Phase {
    /// What the proxy does for `route`.
    pub fn of(route: &Route) -> Phase {
        match route.state_name() {
            "ready" | "updating" | "running" | "degraded" => Phase::Serving,
            "failed" => Phase::Failed,
            "stopped" if route.wake => Phase::Asleep,
            "stopped" => Phase::Stopped,
            _ => Phase::Busy,
        }
    }
}

/// Requests seen for one preview, shared by all its hosts and kept across table changes.
///
/// Counted per worker thread, each on its own cache line: one shared counter
/// written by every core on every request would bounce between them.
#[derive(Debug, Default)]
pub struct Traffic {
    shards: [Counters; SHARDS],
    /// A wake event was sent for the current stop (cleared when the route changes state).
    pub woken: AtomicBool,
}

const SHARDS: usize = 8;

/// One thread's share of a preview's counters.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Counters {
    requests: AtomicU64,
    last_request_ms: AtomicU64,
}

/// This thread's shard, given out in turn as threads first count.
fn shard() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    MINE.with(|m| *m)
}

impl Traffic {
    /// Counts one request at `now_ms`.
    pub fn hit(&self, now_ms: u64) {
        let c = &self.shards[shard()];
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.last_request_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Requests since the gateway started.
    pub fn requests(&self) -> u64 {
        self.shards
            .iter()
            .map(|c| c.requests.load(Ordering::Relaxed))
            .sum()
    }

    /// Unix milliseconds of the last request (0: none yet).
    pub fn last_request_ms(&self) -> u64 {
        self.shards
            .iter()
            .map(|c| c.last_request_ms.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0)
    }
}

/// A route as served: parsed once per table change, never per request.
#[derive(Debug)]
pub struct Live {
    /// The route as pushed.
    pub route: Route,
    /// Its upstreams, balanced per new connection (none that parse: answered 502).
    pub replicas: Replicas,
    /// The host's certificate for SNI.
    pub cert: Option<Arc<CertifiedKey>>,
    /// The preview's counters.
    pub traffic: Arc<Traffic>,
}

/// One version of the table.
#[derive(Debug, Default)]
pub struct Table {
    /// Routes by normalized host.
    pub hosts: HashMap<String, Arc<Live>>,
}

impl Table {
    /// The routes sorted by host, for pages and listings.
    pub fn sorted(&self) -> Vec<&Route> {
        let mut v: Vec<&Route> = self.hosts.values().map(|l| &l.route).collect();
        v.sort_by(|a, b| a.host.cmp(&b.host));
        v
    }

    /// The live route for a Host header value (or SNI name).
    pub fn get(&self, host: &str) -> Option<&Arc<Live>> {
        let h = host_part(host);
        if h.bytes().any(|b| b.is_ascii_uppercase()) {
            self.hosts.get(&h.to_ascii_lowercase())
        } else {
            self.hosts.get(h)
        }
    }
}

/// The live table, read without locks from every connection.
///
/// Writers queue on `writer`, build and save the next table, then swap it in;
/// `changed` ticks after each swap (held requests wait on it).
#[derive(Debug, Clone)]
pub struct RouteTable {
    current: Arc<ArcSwap<Table>>,
    writer: Arc<Mutex<()>>,
    traffic: Arc<Mutex<HashMap<String, Arc<Traffic>>>>,
    changed: Arc<watch::Sender<()>>,
    state_file: Option<PathBuf>,
}

/// A Host value without port and trailing dot, not lowercased (no allocation).
fn host_part(host: &str) -> &str {
    let h = host.trim();
    let h = match h.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|c| c.is_ascii_digit()) && !name.ends_with(']') => {
            name
        }
        _ => h,
    };
    h.trim_end_matches('.')
}

/// Normalizes a Host header value: lowercase, port and trailing dot removed.
pub fn normalize_host(host: &str) -> String {
    host_part(host).to_ascii_lowercase()
}

impl RouteTable {
    /// The table saved in `state_file` (empty when there is none yet),
    /// saved back there on every change; `None` keeps it in memory only.
    ///
    /// A file that is not a route list is set aside as `<file>.corrupt` and the
    /// table starts empty: the engine pushes the routes again, and a gateway
    /// that refused to start would take every preview down with it. A route
    /// whose certificate no longer parses is served without TLS.
    ///
    /// # Errors
    /// When the state file exists but cannot be read.
    pub fn load(state_file: Option<PathBuf>) -> std::io::Result<Self> {
        let routes: Vec<Route> = match &state_file {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(text) => match serde_json::from_str::<Vec<Route>>(&text) {
                    Ok(list) => list,
                    Err(e) => {
                        let aside = p.with_extension("json.corrupt");
                        tracing::warn!(file = %p.display(), error = %e, aside = %aside.display(), "the route table is unreadable; starting empty");
                        std::fs::rename(p, &aside)?;
                        Vec::new()
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e),
            },
            None => Vec::new(),
        };
        let t = RouteTable {
            current: Arc::new(ArcSwap::from_pointee(Table::default())),
            writer: Arc::new(Mutex::new(())),
            traffic: Arc::new(Mutex::new(HashMap::new())),
            changed: Arc::new(watch::channel(()).0),
            state_file,
        };
        let mut map = BTreeMap::new();
        for mut r in routes {
            r.host = normalize_host(&r.host);
            map.insert(r.host.clone(), r);
        }
        let table = t
            .build(&map, &Table::default(), true)
            .map_err(std::io::Error::other)?;
        tracing::info!(routes = table.hosts.len(), "route table loaded");
        t.current.store(Arc::new(table));
        Ok(t)
    }

    /// The current table (lock-free).
    pub fn snapshot(&self) -> Arc<Table> {
        self.current.load_full()
    }

    /// The route for a Host header value.
    pub fn lookup(&self, host: &str) -> Option<Arc<Live>> {
        self.current.load().get(host).cloned()
    }

    /// A receiver that sees every table change.
    pub fn watch(&self) -> watch::Receiver<()> {
        self.changed.subscribe()
    }

    /// Every preview's counters, by preview id.
    pub fn traffic(&self) -> Vec<(String, Arc<Traffic>)> {
        let m = self.traffic.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Builds the live table for `routes`, reusing certificates that did not
    /// change; `lenient` drops a bad certificate instead of refusing.
    fn build(
        &self,
        routes: &BTreeMap<String, Route>,
        prev: &Table,
        lenient: bool,
    ) -> Result<Table, GatewayError> {
        let mut traffic = self.traffic.lock().unwrap_or_else(|p| p.into_inner());
        let mut hosts = HashMap::with_capacity(routes.len());
        for (host, route) in routes {
            let old = prev.hosts.get(host);
            let cert = match &route.tls {
                None => None,
                Some(pair) => match old.filter(|o| o.route.tls.as_ref() == Some(pair)) {
                    Some(o) => o.cert.clone(),
                    None => match tls::certified_key(pair) {
                        Ok(k) => Some(Arc::new(k)),
                        Err(e) if lenient => {
                            tracing::warn!(%host, error = %e, "a saved certificate does not parse; serving without TLS");
                            None
                        }
                        Err(e) => {
                            return Err(GatewayError::BadRoute(format!("{host}: {e}")));
                        }
                    },
                },
            };
            let key = if route.preview.is_empty() {
                host.clone()
            } else {
                route.preview.clone()
            };
            let counters = traffic.entry(key).or_default().clone();
            if Phase::of(route) != Phase::Asleep {
                counters.woken.store(false, Ordering::Relaxed);
            }
            hosts.insert(
                host.clone(),
                Arc::new(Live {
                    route: route.clone(),
                    replicas: Replicas::of(route),
                    cert,
                    traffic: counters,
                }),
            );
        }
        Ok(Table { hosts })
    }

    /// Applies `change` to a copy, builds and persists it, then swaps it in;
    /// on any failure the live table is unchanged.
    ///
    /// # Errors
    /// [`GatewayError::BadRoute`] for a certificate that does not parse,
    /// [`GatewayError::Persist`] when the state file cannot be written.
    pub fn update(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, Route>),
    ) -> Result<(), GatewayError> {
        let _one_writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let prev = self.snapshot();
        let mut next: BTreeMap<String, Route> = prev
            .hosts
            .iter()
            .map(|(h, l)| (h.clone(), l.route.clone()))
            .collect();
        change(&mut next);
        let table = self.build(&next, &prev, false)?;
        if let Some(p) = &self.state_file {
            persist_routes(p, &next).map_err(|e| GatewayError::Persist {
                path: p.display().to_string(),
                cause: e.to_string(),
            })?;
        }
        self.current.store(Arc::new(table));
        self.changed.send_replace(());
        Ok(())
    }

    /// Adds or replaces one route.
    ///
    /// # Errors
    /// When the route's certificate is bad or the table cannot be saved.
    pub fn put(&self, mut route: Route) -> Result<(), GatewayError> {
        route.host = normalize_host(&route.host);
        self.update(|t| {
            t.insert(route.host.clone(), route);
        })
    }

    /// Removes one route; `false` when there was none.
    ///
    /// # Errors
    /// When the table cannot be saved.
    pub fn remove(&self, host: &str) -> Result<bool, GatewayError> {
        let mut found = false;
        self.update(|t| found = t.remove(&normalize_host(host)).is_some())?;
        Ok(found)
    }

    /// Replaces the whole table.
    ///
    /// # Errors
    /// When a certificate is bad or the table cannot be saved.
    pub fn replace(&self, routes: Vec<Route>) -> Result<(), GatewayError> {
        self.update(|t| {
            *t = routes
                .into_iter()
                .map(|mut r| {
                    r.host = normalize_host(&r.host);
                    (r.host.clone(), r)
                })
                .collect();
        })
    }
}

/// Writes atomically: a crash mid-write must not lose the table.
pub(crate) fn persist<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    {
        use std::io::Write;
        // The table holds the leaves' private keys: readable by the gateway alone.
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?)?;
        // On disk before the rename, or a power cut could leave an empty table.
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Writes the table as a list, keys included (they live in the same volume).
fn persist_routes(path: &Path, table: &BTreeMap<String, Route>) -> std::io::Result<()> {
    let list: Vec<&Route> = table.values().collect();
    persist(path, &list)
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
