//! The engine facade every client goes through: the CLI and the desktop app
//! call these methods and follow [`Engine::subscribe`]; nothing else touches
//! the store, Docker, git or the gateway.

mod compensate;
mod degraded;
mod endpoint;
mod external;
mod health;
mod inspect;
mod maintain;
mod operate;
mod repos;
mod routing;
mod same_engine;
mod serve;
pub mod settings;
mod suspend;
mod up;
mod worktree;

use std::sync::Arc;

use tokio::sync::{broadcast, Mutex, OnceCell};

use crate::error::{Error, Result};
use crate::events::{Event, Events};
use crate::gateway::{Gateway, GatewaySettings};
use crate::paths::Home;
use crate::store::{PreviewRecord, Store};

pub use endpoint::{DockerContext, EngineOptions, EngineReport, UseReport, CONTEXT_SETTING};
pub use inspect::{PreviewStatus, PreviewView};
pub use maintain::{DoctorReport, Orphan};
pub use operate::DownOptions;
pub use repos::BranchView;
pub use up::UpOptions;

/// How a client names a preview: `<branch-slug>.<repo>` or a repo and a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewRef {
    /// `<branch-slug>.<repo>`.
    Id(String),
    /// A repository and a branch name.
    Branch {
        /// Repository name.
        repo: String,
        /// Branch name.
        branch: String,
    },
}

impl PreviewRef {
    /// From CLI words: one (`feature-x.shop`) or two (`shop feature/x`).
    pub fn parse(first: &str, second: Option<&str>) -> Self {
        match second {
            Some(branch) => PreviewRef::Branch {
                repo: first.to_string(),
                branch: branch.to_string(),
            },
            None => PreviewRef::Id(first.to_string()),
        }
    }
}

/// Branchyard's engine. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    home: Home,
    store: Store,
    events: Events,
    options: EngineOptions,
    /// The Docker engine, reached on first need (see `endpoint`).
    connection: OnceCell<endpoint::Connection>,
    /// Set once the engine reached is known to be the previews' own.
    same_engine: OnceCell<()>,
    gateway: Mutex<Option<Gateway>>,
    routes: routing::RouteQueue,
    /// The one watch of the state database, made on first need (see `db_changes`).
    db_watch: std::sync::Mutex<Option<external::DbWatch>>,
}

impl Engine {
    /// Opens the engine on `$BRANCHYARD_HOME` (or the platform data dir).
    ///
    /// # Errors
    /// When the home or its database cannot be opened.
    pub fn from_env() -> Result<Self> {
        Self::open(Home::from_env()?)
    }

    /// Opens the engine on `home`. Docker is connected lazily, on first need.
    ///
    /// # Errors
    /// When the database cannot be opened.
    pub fn open(home: Home) -> Result<Self> {
        Self::open_with(home, EngineOptions::default())
    }

    /// Opens the engine on `home` with `options` (a docker context for this
    /// open only). Docker is connected lazily, on first need.
    ///
    /// # Errors
    /// When the database cannot be opened, or `options` names a docker
    /// context that does not exist (the error lists those that do).
    pub fn open_with(home: Home, options: EngineOptions) -> Result<Self> {
        Self::check_flag(&options)?;
        let store = Store::open(&home.db_path())?;
        Ok(Engine {
            inner: Arc::new(Inner {
                home,
                store,
                events: Events::new(1024),
                options,
                connection: OnceCell::new(),
                same_engine: OnceCell::new(),
                gateway: Mutex::new(None),
                routes: routing::RouteQueue::default(),
                db_watch: std::sync::Mutex::new(None),
            }),
        })
    }

    /// Where the engine keeps its state.
    pub fn home(&self) -> &Home {
        &self.inner.home
    }

    /// A short stable id of the home, put on every Docker object as
    /// `dev.branchyard.home` so `gc` never touches another home's objects.
    pub fn home_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.home().root().to_string_lossy().as_bytes());
        hex::encode(digest)[..12].to_string()
    }

    /// Every change from now on: states, steps, build output, service status.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn emit(&self, e: Event) {
        self.inner.events.send(e);
    }

    /// The Docker client of the engine chosen at open (`--context`, the
    /// `docker.context` setting, then the docker CLI's order), connected on
    /// first use; it is the engine the previews live on, or there are none.
    ///
    /// # Errors
    /// When that engine is not reachable (never another is used instead), or
    /// previews live on another engine.
    pub async fn docker(&self) -> Result<&bollard::Docker> {
        let c = self.connection().await?;
        self.inner
            .same_engine
            .get_or_try_init(|| self.check_same_engine(c))
            .await?;
        Ok(&c.docker)
    }

    /// Gateway settings from the store (ports), with defaults.
    pub fn gateway_settings(&self) -> Result<GatewaySettings> {
        let mut s = GatewaySettings::default();
        if let Some(p) = self.setting_u16("gateway.http_port")? {
            s.http_port = p;
        }
        if let Some(p) = self.setting_u16("gateway.admin_port")? {
            s.admin_port = p;
        }
        self.https_settings(&mut s)?;
        s.labels
            .insert(crate::reconcile::HOME.to_string(), self.home_id());
        // A second gateway beside the user's own (tests and benchmarks use it).
        if let Some(name) = std::env::var("BRANCHYARD_GATEWAY_NAME")
            .ok()
            .filter(|n| !n.is_empty())
        {
            s.container_name = name;
        }
        Ok(s)
    }

    fn setting_u16(&self, key: &str) -> Result<Option<u16>> {
        match self.store().setting(key)? {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::Invalid(format!("setting {key} = {v:?} is not a port number"))),
        }
    }

    /// Stores a setting ([`settings::KNOWN`]); [`Engine::change_setting`]
    /// also applies it to a running gateway.
    ///
    /// # Errors
    /// Unknown key or bad value.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        settings::validate(key, value)?;
        if key == CONTEXT_SETTING {
            self.check_context_setting(value)?;
        }
        Ok(self.store().set_setting(key, value)?)
    }

    /// The running gateway, started (or rebuilt) on first need.
    ///
    /// # Errors
    /// When Docker or the gateway cannot be brought up.
    pub async fn gateway(&self) -> Result<Gateway> {
        let mut slot = self.inner.gateway.lock().await;
        if let Some(g) = slot.as_ref() {
            return Ok(g.clone());
        }
        let settings = self.gateway_settings()?;
        let docker = self.docker().await?;
        // One process at a time may (re)create the gateway: two at once would
        // remove each other's container after an upgrade changed its image.
        let lock_path = self.home().root().join("gateway.lock");
        let _lock = tokio::task::spawn_blocking(move || {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)?;
            f.lock()?;
            Ok::<_, std::io::Error>(f)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|e| Error::Internal(format!("gateway lock: {e}")))?;
        let g = crate::gateway::ensure(docker, self.home().root(), &settings).await?;
        if let Some(port) = g.fell_back() {
            self.emit(Event::Warning {
                preview: None,
                message: format!(
                    "port {} on 127.0.0.1 is taken: the gateway listens on {port} instead (set another with `branchyard settings set gateway.http_port N`)",
                    settings.http_port
                ),
            });
        }
        if let (Some(port), Some(wanted)) = (g.fell_back_https(), settings.https_port) {
            self.emit(Event::Warning {
                preview: None,
                message: format!(
                    "port {wanted} is taken: the gateway serves HTTPS on {port} instead (set another with `branchyard settings set gateway.https_port N`)"
                ),
            });
        }
        *slot = Some(g.clone());
        Ok(g)
    }

    /// Finds a preview by id or by repo and branch.
    ///
    /// # Errors
    /// [`Error::NotFound`] with the previews that do exist.
    pub fn find_preview(&self, r: &PreviewRef) -> Result<PreviewRecord> {
        let found = match r {
            PreviewRef::Id(id) => self.store().preview(id)?,
            PreviewRef::Branch { repo, branch } => self.store().preview_of(repo, branch)?,
        };
        found.ok_or_else(|| {
            let known: Vec<String> = self
                .store()
                .previews()
                .map(|v| v.into_iter().map(|p| p.id).collect())
                .unwrap_or_default();
            let name = match r {
                PreviewRef::Id(id) => id.clone(),
                PreviewRef::Branch { repo, branch } => format!("{repo} {branch}"),
            };
            Error::NotFound(if known.is_empty() {
                format!("no preview {name}: there are no previews yet (create one with `branchyard up <repo> <branch>`)")
            } else {
                format!("no preview {name}; previews: {}", known.join(", "))
            })
        })
    }
}

impl Engine {
    /// The local CA (created on first use).
    ///
    /// # Errors
    /// When its files cannot be read or written.
    pub fn ca(&self) -> Result<crate::tls::LocalCa> {
        Ok(crate::tls::LocalCa::load_or_create(self.home().root())?)
    }

    /// Installs the local CA where this platform allows.
    ///
    /// # Errors
    /// When the CA cannot be loaded.
    pub fn ca_trust(&self) -> Result<crate::tls::TrustReport> {
        let report = crate::tls::trust(&self.ca()?)?;
        if !report.done.is_empty() {
            // With `gateway.https = auto`, URLs turn https from now on.
            let marker = self.home().root().join("ca").join("trusted");
            std::fs::write(&marker, "")
                .map_err(|e| Error::Internal(format!("{}: {e}", marker.display())))?;
        }
        Ok(report)
    }

    /// Removes the local CA from the stores it was installed in.
    ///
    /// # Errors
    /// When the CA cannot be loaded.
    pub fn ca_untrust(&self) -> Result<crate::tls::TrustReport> {
        let report = crate::tls::untrust(&self.ca()?)?;
        let _ = std::fs::remove_file(self.home().root().join("ca").join("trusted"));
        Ok(report)
    }
}

/// Compose project name of a preview: `<repo>--<slug>` (slugs never contain `--`,
/// so two repos can never produce the same project).
pub fn project_name(repo: &str, slug: &str) -> String {
    format!("{repo}--{slug}")
}

/// Preview id: `<slug>.<repo>`, the same as its host name without `.localhost`.
pub fn preview_id(repo: &str, slug: &str) -> String {
    format!("{slug}.{repo}")
}
