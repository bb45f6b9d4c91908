//! The labels compose v2 writes, plus Branchyard's own, so `docker compose -p
//! <project> ps|logs|down` and Docker Desktop see an ordinary compose project.

use std::collections::HashMap;

use indexmap::IndexMap;

/// Compose project name.
pub const PROJECT: &str = "com.docker.compose.project";
/// Compose service name (containers).
pub const SERVICE: &str = "com.docker.compose.service";
/// Replica number, from 1.
pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
/// `False` for service containers (`True` for `compose run`).
pub const ONEOFF: &str = "com.docker.compose.oneoff";
/// The project's working directory.
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
/// The compose files, comma-joined.
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
/// Hash of the service definition a container was created from.
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// The compose version that created the object.
pub const VERSION: &str = "com.docker.compose.version";
/// The services a container depends on, comma-joined.
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
/// Compose key of a network.
pub const NETWORK: &str = "com.docker.compose.network";
/// Compose key of a volume.
pub const VOLUME: &str = "com.docker.compose.volume";
/// Everything Branchyard creates.
pub const MANAGED: &str = "dev.branchyard.managed";
/// The preview an object belongs to (`feature-x.shop`).
pub const PREVIEW: &str = "dev.branchyard.preview";
/// The repository's name.
pub const REPO: &str = "dev.branchyard.repo";
/// The branch.
pub const BRANCH: &str = "dev.branchyard.branch";
/// The commit the preview runs.
pub const COMMIT: &str = "dev.branchyard.commit";
/// A container's `pre_stop` hooks as JSON, run before it is stopped.
pub const PRE_STOP: &str = "dev.branchyard.pre-stop";
/// On the network the gateway joins to reach a preview (its default network).
pub const ROUTE_NETWORK: &str = "dev.branchyard.route-network";

/// The compose version we say we are (what `docker compose` checks).
pub const COMPOSE_VERSION: &str = "2.29.0";

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
    /// Added to everything (tests mark their objects with `dev.branchyard.test=1`).
    pub extra: IndexMap<String, String>,
}

/// What a service container's compose labels are made from.
#[derive(Debug, Clone, Copy)]
pub struct ContainerLabels<'a> {
    /// Compose project name.
    pub project: &'a str,
    /// Service name.
    pub service: &'a str,
    /// Replica number, from 1.
    pub number: u32,
    /// Project working directory.
    pub working_dir: &'a str,
    /// Compose files, comma-joined.
    pub config_files: &'a str,
    /// Config hash of the service.
    pub config_hash: &'a str,
    /// Services it depends on, comma-joined.
    pub depends_on: &'a str,
}

impl PreviewLabels {
    /// Branchyard's own labels plus the extra ones.
    pub fn ours(&self) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = self
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in [
            (MANAGED, "true"),
            (PREVIEW, &self.preview),
            (REPO, &self.repo),
            (BRANCH, &self.branch),
            (COMMIT, &self.commit),
        ] {
            m.insert(k.into(), v.into());
        }
        m
    }

    /// Labels of a service container: compose v2's and ours.
    pub fn container(&self, c: &ContainerLabels<'_>) -> HashMap<String, String> {
        let mut m = self.ours();
        let number = c.number.to_string();
        for (k, v) in [
            (PROJECT, c.project),
            (SERVICE, c.service),
            (CONTAINER_NUMBER, number.as_str()),
            (ONEOFF, "False"),
            (WORKING_DIR, c.working_dir),
            (CONFIG_FILES, c.config_files),
            (CONFIG_HASH, c.config_hash),
            (VERSION, COMPOSE_VERSION),
            (DEPENDS_ON, c.depends_on),
        ] {
            m.insert(k.into(), v.into());
        }
        m
    }

    /// Labels of a project network (`key` is its compose key, e.g. `default`).
    pub fn network(&self, project: &str, key: &str) -> HashMap<String, String> {
        let mut m = self.ours();
        m.insert(PROJECT.into(), project.into());
        m.insert(NETWORK.into(), key.into());
        m.insert(VERSION.into(), COMPOSE_VERSION.into());
        if key == "default" {
            // The gateway joins this network to reach the preview's services.
            m.insert(ROUTE_NETWORK.into(), "true".into());
        }
        m
    }

    /// Labels of a project volume.
    pub fn volume(&self, project: &str, key: &str) -> HashMap<String, String> {
        let mut m = self.ours();
        m.insert(PROJECT.into(), project.into());
        m.insert(VOLUME.into(), key.into());
        m.insert(VERSION.into(), COMPOSE_VERSION.into());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preview() -> PreviewLabels {
        PreviewLabels {
            preview: "feature-x.shop".into(),
            repo: "shop".into(),
            branch: "feature/x".into(),
            commit: "abc123".into(),
            extra: IndexMap::from([("dev.branchyard.test".to_string(), "1".to_string())]),
        }
    }

    #[test]
    fn container_labels_are_compose_v2_labels_plus_ours_and_the_extra_ones() {
        let l = preview().container(&ContainerLabels {
            project: "shop-feature-x",
            service: "web",
            number: 2,
            working_dir: "/w",
            config_files: "/w/compose.yaml",
            config_hash: "h",
            depends_on: "db",
        });
        assert_eq!(l[PROJECT], "shop-feature-x");
        assert_eq!(l[SERVICE], "web");
        assert_eq!(l[CONTAINER_NUMBER], "2");
        assert_eq!(l[ONEOFF], "False");
        assert_eq!(l[VERSION], COMPOSE_VERSION);
        assert_eq!(l[MANAGED], "true");
        assert_eq!(l[PREVIEW], "feature-x.shop");
        assert_eq!(l[BRANCH], "feature/x");
        assert_eq!(l["dev.branchyard.test"], "1");
    }

    #[test]
    fn only_the_default_network_is_marked_for_the_gateway() {
        assert_eq!(preview().network("p", "default")[ROUTE_NETWORK], "true");
        assert!(!preview()
            .network("p", "backend")
            .contains_key(ROUTE_NETWORK));
        assert_eq!(preview().volume("p", "data")[VOLUME], "data");
    }
}
