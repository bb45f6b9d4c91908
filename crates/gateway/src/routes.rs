//! The route table: built anew on every change, persisted, then swapped in,
//! so readers never see a half-made table and a restart serves every route.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone)]
pub struct RouteTable {
    current: Arc<RwLock<Arc<BTreeMap<String, Route>>>>,
    state_file: Option<PathBuf>,
}

/// Normalizes a Host header value: lowercase, port and trailing dot removed.
pub fn normalize_host(host: &str) -> String {
    let h = host.trim();
    let h = match h.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.ends_with(']') => name,
        _ => h,
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

impl RouteTable {
    /// An empty table persisted to `state_file` (loading what it holds).
    pub fn load(state_file: Option<PathBuf>) -> std::io::Result<Self> {
        let routes = match &state_file {
            Some(p) if p.exists() => {
                let text = std::fs::read_to_string(p)?;
                let list: Vec<Route> = serde_json::from_str(&text).map_err(std::io::Error::other)?;
                list.into_iter().map(|r| (normalize_host(&r.host), r)).collect()
            }
            _ => BTreeMap::new(),
        };
        Ok(RouteTable {
            current: Arc::new(RwLock::new(Arc::new(routes))),
            state_file,
        })
    }

    /// A snapshot of the table.
    pub fn snapshot(&self) -> Arc<BTreeMap<String, Route>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The route for a Host header value.
    pub fn lookup(&self, host: &str) -> Option<Route> {
        self.snapshot().get(&normalize_host(host)).cloned()
    }

    /// Applies `change` to a copy, persists it, then swaps it in.
    pub fn update(&self, change: impl FnOnce(&mut BTreeMap<String, Route>)) -> std::io::Result<()> {
        let mut guard = self.current.write().unwrap_or_else(|p| p.into_inner());
        let mut next = (**guard).clone();
        change(&mut next);
        if let Some(p) = &self.state_file {
            persist(p, &next)?;
        }
        *guard = Arc::new(next);
        Ok(())
    }

    /// Adds or replaces one route.
    pub fn put(&self, mut route: Route) -> std::io::Result<()> {
        route.host = normalize_host(&route.host);
        self.update(|t| {
            t.insert(route.host.clone(), route);
        })
    }

    /// Removes one route; `false` when there was none.
    pub fn remove(&self, host: &str) -> std::io::Result<bool> {
        let mut found = false;
        self.update(|t| found = t.remove(&normalize_host(host)).is_some())?;
        Ok(found)
    }

    /// Replaces the whole table.
    pub fn replace(&self, routes: Vec<Route>) -> std::io::Result<()> {
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
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&list).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
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
}
