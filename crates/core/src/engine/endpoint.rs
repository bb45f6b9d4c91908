//! Which Docker engine this Engine works on: the endpoint chosen at open
//! (`--context`, the `docker.context` setting, then the docker CLI's order),
//! what that engine says about itself, the docker contexts to choose from, and
//! switching context (`branchyard engine use NAME`).
//!
//! The choice is made once per open, on first need. A new choice applies to
//! the next open: each CLI command is one, the app applies it when it restarts.

use serde::Serialize;

use super::Engine;
use crate::docker::endpoint::{
    self, contexts, EndpointError, EngineInfo, EnvSnapshot, Located, DEFAULT_CONTEXT,
};
use crate::error::{Error, ErrorDto, Result};

/// The setting naming a docker context (`default`: the docker CLI's default).
pub const CONTEXT_SETTING: &str = "docker.context";

/// How an [`Engine`] is opened.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// A docker context for this open only (the CLI's global `--context`); it
    /// wins over the `docker.context` setting and the environment.
    pub docker_context: Option<String>,
}

/// The engine reached: how, and what it said about itself.
pub(super) struct Connection {
    pub(super) located: Located,
    pub(super) docker: bollard::Docker,
    pub(super) info: EngineInfo,
}

/// A docker context as `branchyard engine contexts` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DockerContext {
    /// Its name (`default` is the docker CLI's implicit one).
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its docker endpoint's address (for `default`: DOCKER_HOST, when set).
    pub host: Option<String>,
    /// The TLS files it carries (`ca.pem`, `cert.pem`, `key.pem`).
    pub tls_material: Vec<String>,
    /// Whether it asks to skip TLS verification (which Branchyard refuses).
    pub skip_tls_verify: bool,
    /// Whether Branchyard would use it now.
    pub current: bool,
    /// Why it cannot be read, for a broken one.
    pub error: Option<String>,
}

/// The engine in use, for `doctor`, `branchyard engine` and the app's Settings.
#[derive(Debug, Clone, Serialize)]
pub struct EngineReport {
    /// How it is reached and who chose it (`None` when that failed).
    pub endpoint: Option<Located>,
    /// What it said about itself (`None` when it did not answer).
    pub engine: Option<EngineInfo>,
    /// Why it cannot be used, if it cannot.
    pub error: Option<ErrorDto>,
    /// The `docker.context` setting (`None`: not set).
    pub setting: Option<String>,
}

/// What `branchyard engine use NAME` did.
#[derive(Debug, Clone, Serialize)]
pub struct UseReport {
    /// The context now set.
    pub context: String,
    /// Its endpoint, when it resolved.
    pub endpoint: Option<Located>,
    /// Its engine, when it answered.
    pub engine: Option<EngineInfo>,
    /// What the user should know.
    pub notes: Vec<String>,
    /// Whether this process keeps its current engine until it is restarted.
    pub restart_needed: bool,
}

impl UseReport {
    /// The report as lines for a person: the engine now chosen, then the notes.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        match (&self.endpoint, &self.engine) {
            (Some(l), Some(i)) => out.push(format!(
                "docker context {}: {}",
                self.context,
                describe(l, i)
            )),
            _ => out.push(format!("docker context {}", self.context)),
        }
        out.extend(self.notes.iter().cloned());
        out
    }
}

impl Engine {
    /// Checks `docker.context` may be stored without the engine's checks:
    /// the context exists and no preview could be left on another engine.
    pub(super) fn check_context_setting(&self, name: &str) -> Result<()> {
        let env = EnvSnapshot::capture();
        contexts::ensure_exists(
            &env.config_dir,
            name,
            format!("the {CONTEXT_SETTING} setting"),
        )?;
        if !self.store().previews()?.is_empty() {
            return Err(Error::Conflict(format!(
                "previews exist: choose the engine with `branchyard engine use {name}`, which checks they are not left on another one"
            )));
        }
        Ok(())
    }

    /// Checks a `--context` given at open names a context that exists.
    pub(super) fn check_flag(options: &EngineOptions) -> Result<()> {
        if let Some(name) = &options.docker_context {
            let env = EnvSnapshot::capture();
            contexts::ensure_exists(&env.config_dir, name, format!("--context {name}"))?;
        }
        Ok(())
    }

    fn context_setting(&self) -> Result<Option<String>> {
        Ok(self
            .store()
            .setting(CONTEXT_SETTING)?
            .filter(|v| !v.is_empty()))
    }

    /// The endpoint this Engine uses, resolved now (sockets probed if need be).
    ///
    /// # Errors
    /// A missing context, bad TLS settings, or no engine found by the probe.
    pub async fn locate_endpoint(&self) -> Result<Located> {
        let setting = self.context_setting()?;
        let env = EnvSnapshot::capture();
        Ok(endpoint::locate(
            self.inner.options.docker_context.as_deref(),
            setting.as_deref(),
            &env,
        )
        .await?)
    }

    /// The connection, made on first need and kept for this Engine's life.
    pub(super) async fn connection(&self) -> Result<&Connection> {
        self.inner
            .connection
            .get_or_try_init(|| async {
                let located = self.locate_endpoint().await?;
                let (docker, info) = reach(&located).await?;
                tracing::info!(host = %located.endpoint.host, source = %located.endpoint.source, engine = %info.summary(), "Docker engine reached");
                Ok::<_, Error>(Connection { located, docker, info })
            })
            .await
    }

    /// The engine in use and what it says about itself; never fails (the
    /// failure is in the report).
    pub async fn engine_report(&self) -> EngineReport {
        let setting = self.context_setting().ok().flatten();
        match self.connection().await {
            Ok(c) => {
                let error = self
                    .check_same_engine(c)
                    .await
                    .err()
                    .map(|e| ErrorDto::from(&e));
                EngineReport {
                    endpoint: Some(c.located.clone()),
                    engine: Some(c.info.clone()),
                    error,
                    setting,
                }
            }
            Err(e) => EngineReport {
                endpoint: self.locate_endpoint().await.ok(),
                engine: None,
                error: Some(ErrorDto::from(&e)),
                setting,
            },
        }
    }

    /// The docker contexts to choose from (`default` first), with the one in
    /// use marked.
    ///
    /// # Errors
    /// Store failure.
    pub fn docker_contexts(&self) -> Result<Vec<DockerContext>> {
        let env = EnvSnapshot::capture();
        let setting = self.context_setting()?;
        let current = endpoint::resolve(
            self.inner.options.docker_context.as_deref(),
            setting.as_deref(),
            &env,
            endpoint::probe::Os::current(),
        )
        .ok()
        .map(|r| match r {
            endpoint::Resolution::Named { endpoint, .. } => endpoint
                .source
                .context()
                .unwrap_or(DEFAULT_CONTEXT)
                .to_string(),
            endpoint::Resolution::Probe { .. } => DEFAULT_CONTEXT.to_string(),
        });
        let default_host = env
            .docker_host
            .as_deref()
            .and_then(|h| endpoint::normalize(h, &endpoint::EndpointSource::DockerHost).ok());
        let mut out = vec![DockerContext {
            name: DEFAULT_CONTEXT.into(),
            description: "DOCKER_HOST, or the first well-known socket that answers".into(),
            host: default_host,
            tls_material: Vec::new(),
            skip_tls_verify: false,
            current: current.as_deref() == Some(DEFAULT_CONTEXT),
            error: None,
        }];
        for c in contexts::list(&env.config_dir) {
            out.push(match c {
                Ok(c) => DockerContext {
                    current: current.as_deref() == Some(c.name.as_str()),
                    name: c.name,
                    description: c.description,
                    host: c.host,
                    tls_material: c.tls_material,
                    skip_tls_verify: c.skip_tls_verify,
                    error: None,
                },
                Err((path, why)) => DockerContext {
                    name: path
                        .parent()
                        .and_then(|p| p.file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    description: String::new(),
                    host: None,
                    tls_material: Vec::new(),
                    skip_tls_verify: false,
                    current: false,
                    error: Some(format!("{}: {why}", path.display())),
                },
            });
        }
        Ok(out)
    }

    /// Chooses docker context `name` (`default` for the docker CLI's default)
    /// for every later open. It must exist and answer, and while previews
    /// exist it must be the engine they live on; `force` stores it anyway
    /// (previews on another engine are then left where they are, and said so).
    ///
    /// # Errors
    /// No such context; without `force`, an engine that does not answer or
    /// previews that live on another engine.
    pub async fn use_context(&self, name: &str, force: bool) -> Result<UseReport> {
        let env = EnvSnapshot::capture();
        let name = name.trim();
        contexts::ensure_exists(&env.config_dir, name, "`branchyard engine use`".into())?;
        let mut notes = Vec::new();
        if let Some(flag) = &self.inner.options.docker_context {
            notes.push(format!(
                "--context {flag} is given for this command and wins over the setting"
            ));
        }
        let reached = async {
            let located = endpoint::locate(None, Some(name), &env).await?;
            let (_, info) = reach(&located).await?;
            Ok::<_, Error>((located, info))
        }
        .await;
        let (located, info) = match reached {
            Ok((l, i)) => (Some(l), Some(i)),
            Err(e) if force => {
                notes.push(format!("saved, but it cannot be used now: {e}"));
                (None, None)
            }
            Err(e) => return Err(e),
        };
        let previews: Vec<String> = self.store().previews()?.into_iter().map(|p| p.id).collect();
        let stored = self.store().setting(ENGINE_ID)?.filter(|s| !s.is_empty());
        let identity = located
            .as_ref()
            .zip(info.as_ref())
            .map(|(l, i)| i.identity(&l.endpoint));
        let moves = !previews.is_empty() && stored.is_some() && identity != stored;
        if moves && !force {
            let (l, i) = located
                .as_ref()
                .zip(info.as_ref())
                .ok_or_else(|| Error::Internal("engine".into()))?;
            return Err(EndpointError::OtherEngine {
                previews,
                was: self
                    .store()
                    .setting(ENGINE_SEEN)?
                    .unwrap_or_else(|| "the engine used before".into()),
                now: describe(l, i),
                back: "keep the current context".into(),
                use_name: name.into(),
            }
            .into());
        }
        if moves {
            notes.push(format!(
                "{} stay on the old engine with their containers: `branchyard up` makes each again on this one, and `branchyard gc` run against the old engine removes what is left there",
                previews.join(", ")
            ));
        }
        match (&located, &info) {
            (Some(l), Some(i)) => self.adopt(l, i)?,
            // Forced onto an engine not seen yet: the next connection adopts it.
            _ if force => self.store().set_setting(ENGINE_ID, "")?,
            _ => {}
        }
        self.store().set_setting(CONTEXT_SETTING, name)?;
        let restart_needed = match (self.inner.connection.get(), &located) {
            (Some(c), Some(l)) => c.located.endpoint.host != l.endpoint.host,
            (Some(_), None) => true,
            _ => false,
        };
        if restart_needed {
            notes.push(
                "this window keeps the engine it opened with until Branchyard restarts".into(),
            );
        }
        Ok(UseReport {
            context: name.into(),
            endpoint: located,
            engine: info,
            notes,
            restart_needed,
        })
    }
}

/// Connects to a located endpoint and asks the engine who it is.
async fn reach(located: &Located) -> Result<(bollard::Docker, EngineInfo)> {
    let docker = endpoint::connect(&located.endpoint).await?;
    let info = endpoint::engine_info(&docker)
        .await
        .map_err(|why| EndpointError::Unreachable {
            host: located.endpoint.host.clone(),
            from: located.endpoint.source.to_string(),
            reason: format!("it answered a ping but not `docker info`: {why}"),
            fix: "check the engine's logs".into(),
        })?;
    Ok((docker, info))
}

/// `vm (Docker 20.10.24, linux/x86_64, ID …) at unix:///var/run/docker.sock, chosen by …`.
pub(super) fn describe(l: &Located, i: &EngineInfo) -> String {
    format!(
        "{} at {}, chosen by {}",
        i.summary(),
        l.endpoint.host,
        l.endpoint.source
    )
}

/// The identity of the engine the previews live on ([`EngineInfo::identity`]).
pub(super) const ENGINE_ID: &str = "docker.engine_id";
/// That engine in words, for messages.
pub(super) const ENGINE_SEEN: &str = "docker.engine_seen";
