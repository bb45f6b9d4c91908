//! The route table: built anew on every change, persisted, then swapped in,
//! so readers never see a half-made table and a restart serves every route.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use crate::error::GatewayError;

/// One host routed to one upstream. Extra fields are kept as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Host name, lowercase, no port (taken from the URL when pushed one by one).
    #[serde(default)]
    pub host: String,
    /// `container:port` on a network the gateway shares with the preview.
    pub upstream: String,
    /// Preview id (`<slug>.<repo>`).
    #[serde(default)]
    pub preview: String,
    /// Repository name.
    #[serde(default)]
    pub repo: String,
    /// Branch name.
    #[serde(default)]
    pub branch: String,
    /// Anything else the engine sends (kept for newer engines).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The live table, cheap to read from many connections at once.
///
/// Readers take a snapshot (an `Arc` clone under a brief read lock); writers
/// queue on `writer`, build and save the next table, and only then hold the
/// write lock for the swap itself, so a slow disk never stalls routing.
#[derive(Debug, Clone)]
pub struct RouteTable {
    current: Arc<RwLock<Arc<BTreeMap<String, Route>>>>,
    writer: Arc<Mutex<()>>,
    state_file: Option<PathBuf>,
}

/// Normalizes a Host header value: lowercase, port and trailing dot removed.
pub fn normalize_host(host: &str) -> String {
    let h = host.trim();
    let h = match h.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.ends_with(']') => {
            name
        }
        _ => h,
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

impl RouteTable {
    /// The table saved in `state_file` (empty when there is none yet),
    /// saved back there on every change; `None` keeps it in memory only.
    ///
    /// A file that is not a route list is set aside as `<file>.corrupt` and the
    /// table starts empty: the engine pushes the routes again, and a gateway
    /// that refused to start would take every preview down with it.
    ///
    /// # Errors
    /// When the state file exists but cannot be read.
    pub fn load(state_file: Option<PathBuf>) -> std::io::Result<Self> {
        let routes = match &state_file {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(text) => match serde_json::from_str::<Vec<Route>>(&text) {
                    Ok(list) => list
                        .into_iter()
                        .map(|r| (normalize_host(&r.host), r))
                        .collect(),
                    Err(e) => {
                        let aside = p.with_extension("json.corrupt");
                        tracing::warn!(file = %p.display(), error = %e, aside = %aside.display(), "the route table is unreadable; starting empty");
                        std::fs::rename(p, &aside)?;
                        BTreeMap::new()
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                Err(e) => return Err(e),
            },
            None => BTreeMap::new(),
        };
        tracing::info!(routes = routes.len(), "route table loaded");
        Ok(RouteTable {
            current: Arc::new(RwLock::new(Arc::new(routes))),
            writer: Arc::new(Mutex::new(())),
            state_file,
        })
    }

    /// A snapshot of the table.
    pub fn snapshot(&self) -> Arc<BTreeMap<String, Route>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The route for a Host header value.
    pub fn lookup(&self, host: &str) -> Option<Route> {
        self.snapshot().get(&normalize_host(host)).cloned()
    }

    /// Applies `change` to a copy, persists it, then swaps it in; on a save
    /// failure the live table is unchanged.
    ///
    /// # Errors
    /// [`GatewayError::Persist`] when the state file cannot be written.
    pub fn update(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, Route>),
    ) -> Result<(), GatewayError> {
        let _one_writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = (*self.snapshot()).clone();
        change(&mut next);
        if let Some(p) = &self.state_file {
            persist(p, &next).map_err(|e| GatewayError::Persist {
                path: p.display().to_string(),
                cause: e.to_string(),
            })?;
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        Ok(())
    }

    /// Adds or replaces one route.
    ///
    /// # Errors
    /// When the table cannot be saved.
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
    /// When the table cannot be saved.
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
fn persist(path: &Path, table: &BTreeMap<String, Route>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let list: Vec<&Route> = table.values().collect();
    let tmp = path.with_extension("json.tmp");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(&list).map_err(std::io::Error::other)?)?;
        // On disk before the rename, or a power cut could leave an empty table.
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn route(host: &str) -> Route {
        Route {
            host: host.into(),
            upstream: "web:80".into(),
            preview: "p".into(),
            repo: "r".into(),
            branch: "b".into(),
            extra: Default::default(),
        }
    }

    #[test]
    fn hosts_match_without_port_case_or_trailing_dot() {
        let t = RouteTable::load(None).unwrap();
        t.put(route("Main.Shop.localhost")).unwrap();
        assert!(t.lookup("main.shop.localhost:8080").is_some());
        assert!(t.lookup("MAIN.shop.localhost.").is_some());
        assert!(t.lookup("other.shop.localhost").is_none());
    }

    #[test]
    fn the_table_survives_a_restart_through_its_state_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("routes.json");
        let t = RouteTable::load(Some(f.clone())).unwrap();
        t.put(route("a.r.localhost")).unwrap();
        t.put(route("b.r.localhost")).unwrap();
        t.remove("a.r.localhost").unwrap();
        let again = RouteTable::load(Some(f)).unwrap();
        assert!(again.lookup("b.r.localhost").is_some());
        assert!(again.lookup("a.r.localhost").is_none());
    }

    #[test]
    fn fields_the_gateway_does_not_know_are_kept() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("routes.json");
        let t = RouteTable::load(Some(f.clone())).unwrap();
        let r: Route = serde_json::from_str(
            r#"{"host":"a.r.localhost","upstream":"web:80","preview":"a.r","repo":"r","branch":"a","state":"running"}"#,
        )
        .unwrap();
        t.put(r).unwrap();
        let again = RouteTable::load(Some(f)).unwrap();
        let kept = again.lookup("a.r.localhost").unwrap();
        assert_eq!(
            kept.extra["state"], "running",
            "newer engines' fields survive a round trip"
        );
    }

    #[test]
    fn a_failed_save_leaves_the_live_table_unchanged() {
        let d = tempfile::tempdir().unwrap();
        // A directory where the file should be: every save fails.
        let f = d.path().join("routes.json");
        let t = RouteTable::load(Some(f.clone())).unwrap();
        std::fs::create_dir(&f).unwrap();
        let err = t.put(route("a.r.localhost")).unwrap_err();
        assert_eq!(err.status(), 500);
        assert!(
            t.lookup("a.r.localhost").is_none(),
            "nothing unsaved is served"
        );
    }

    #[test]
    fn an_unreadable_state_file_is_set_aside_and_the_gateway_starts_empty() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("routes.json");
        std::fs::write(&f, "not json").unwrap();
        let t = RouteTable::load(Some(f.clone())).unwrap();
        assert!(t.snapshot().is_empty());
        assert!(
            d.path().join("routes.json.corrupt").exists(),
            "the bad file is kept to look at"
        );
    }
}
