//! The labels compose v2 writes, plus Branchyard's own, so `docker compose -p
//! <project> ps|logs|down` and Docker Desktop see an ordinary compose project.

use std::collections::HashMap;

use indexmap::IndexMap;

/// Which preview an object belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviewLabels {
    /// Preview id.
    pub preview: String,
    /// Repository name.
    pub repo: String,
    /// Branch.
    pub branch: String,
    /// Commit it runs.
    pub commit: String,
    /// Added to everything (tests mark their objects with it).
    pub extra: IndexMap<String, String>,
}

/// The compose version we say we are (what `docker compose` checks).
pub const COMPOSE_VERSION: &str = "2.29.0";

impl PreviewLabels {
    /// Branchyard's own labels plus the extra ones.
    pub fn ours(&self) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = self.extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        m.insert("dev.branchyard.managed".into(), "true".into());
        m.insert("dev.branchyard.preview".into(), self.preview.clone());
        m.insert("dev.branchyard.repo".into(), self.repo.clone());
        m.insert("dev.branchyard.branch".into(), self.branch.clone());
        m.insert("dev.branchyard.commit".into(), self.commit.clone());
        m
    }

    /// Labels of a project network (`key` is its compose key, e.g. `default`).
    pub fn network(&self, project: &str, key: &str) -> HashMap<String, String> {
        let mut m = self.ours();
        m.insert("com.docker.compose.project".into(), project.into());
        m.insert("com.docker.compose.network".into(), key.into());
        m.insert("com.docker.compose.version".into(), COMPOSE_VERSION.into());
        if key == "default" {
            // The gateway joins this network to reach the preview's services.
            m.insert("dev.branchyard.route-network".into(), "true".into());
        }
        m
    }

    /// Labels of a project volume.
    pub fn volume(&self, project: &str, key: &str) -> HashMap<String, String> {
        let mut m = self.ours();
        m.insert("com.docker.compose.project".into(), project.into());
        m.insert("com.docker.compose.volume".into(), key.into());
        m.insert("com.docker.compose.version".into(), COMPOSE_VERSION.into());
        m
    }
}
