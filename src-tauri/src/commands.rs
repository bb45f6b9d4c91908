//! Tauri commands: each calls the engine and converts its error for the UI
//! into [`ErrorDto`] (`{code, message, detail}`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use branchyard_core::engine::{
    BranchView, DockerContext, DoctorReport, DownOptions, EngineReport, Orphan, PreviewRef,
    PreviewStatus, PreviewView, UpOptions, UseReport,
};
use branchyard_core::error::ErrorDto;
use branchyard_core::gateway::GatewaySettings;
use branchyard_core::preview_config::Resolved;
use branchyard_core::store::{PreviewRecord, RepoRecord, Transition};
use branchyard_core::tls::TrustReport;
use branchyard_core::{Engine, Error};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};

use crate::streams::{Batch, Streams};

type Res<T> = Result<T, ErrorDto>;

fn dto(e: Error) -> ErrorDto {
    ErrorDto::from(&e)
}

fn id(id: String) -> PreviewRef {
    PreviewRef::Id(id)
}

/// Registered repositories.
#[tauri::command]
pub fn list_repos(engine: State<'_, Engine>) -> Res<Vec<RepoRecord>> {
    engine.repos().map_err(dto)
}

/// Registers the git repository at `path` (named after its folder unless `name` is given).
#[tauri::command]
pub async fn add_repo(
    engine: State<'_, Engine>,
    path: String,
    name: Option<String>,
) -> Res<RepoRecord> {
    let path = PathBuf::from(path.trim());
    engine
        .add_repo(&path, name.as_deref(), false)
        .await
        .map_err(dto)
}

/// Forgets a repository; `force` tears its previews down first.
#[tauri::command]
pub async fn remove_repo(engine: State<'_, Engine>, name: String, force: bool) -> Res<()> {
    engine.remove_repo(&name, force).await.map_err(dto)
}

/// Trusts or untrusts a repository (trusted ones may use privileged compose settings).
#[tauri::command]
pub fn set_repo_trusted(engine: State<'_, Engine>, name: String, trusted: bool) -> Res<RepoRecord> {
    engine.set_trusted(&name, trusted).map_err(dto)
}

/// Turns automatic updates of a repository's previews on or off.
#[tauri::command]
pub fn set_repo_auto_update(engine: State<'_, Engine>, name: String, on: bool) -> Res<RepoRecord> {
    engine.set_auto_update(&name, on).map_err(dto)
}

/// A repository's branches, newest first, with their previews.
#[tauri::command]
pub async fn list_branches(engine: State<'_, Engine>, repo: String) -> Res<Vec<BranchView>> {
    engine.branches(&repo).await.map_err(dto)
}

/// Every preview with its services.
#[tauri::command]
pub async fn list_previews(engine: State<'_, Engine>) -> Res<Vec<PreviewView>> {
    engine.list().await.map_err(dto)
}

/// Creates a branch's preview, or updates it to the branch's head.
#[tauri::command]
pub async fn preview_up(
    engine: State<'_, Engine>,
    repo: String,
    branch: String,
) -> Res<PreviewRecord> {
    engine
        .up(&repo, &branch, &UpOptions::default())
        .await
        .map_err(dto)
}

/// Suspends a preview (containers stopped, volumes and worktree kept).
#[tauri::command]
pub async fn preview_stop(engine: State<'_, Engine>, id: String) -> Res<PreviewRecord> {
    engine.stop(&self::id(id)).await.map_err(dto)
}

/// Resumes a stopped preview.
#[tauri::command]
pub async fn preview_start(engine: State<'_, Engine>, id: String) -> Res<PreviewRecord> {
    engine.start(&self::id(id)).await.map_err(dto)
}

/// Rebuilds a preview's images and recreates its containers.
#[tauri::command]
pub async fn preview_rebuild(engine: State<'_, Engine>, id: String) -> Res<PreviewRecord> {
    engine.rebuild(&self::id(id)).await.map_err(dto)
}

/// Removes a preview; its volumes are kept unless `volumes`.
#[tauri::command]
pub async fn preview_down(engine: State<'_, Engine>, id: String, volumes: Option<bool>) -> Res<()> {
    let opts = DownOptions {
        volumes: volumes.unwrap_or(false),
        ..DownOptions::default()
    };
    engine.down(&self::id(id), opts).await.map_err(dto)
}

/// One preview with its services and transitions.
#[tauri::command]
pub async fn preview_status(engine: State<'_, Engine>, id: String) -> Res<PreviewStatus> {
    engine.status(&self::id(id)).await.map_err(dto)
}

/// A preview's transitions, oldest first.
#[tauri::command]
pub async fn preview_transitions(engine: State<'_, Engine>, id: String) -> Res<Vec<Transition>> {
    Ok(engine.status(&self::id(id)).await.map_err(dto)?.transitions)
}

/// The preview of `branch` as it would run (compose project, routes, health).
#[tauri::command]
pub async fn preview_config(
    engine: State<'_, Engine>,
    repo: String,
    branch: String,
) -> Res<Resolved> {
    engine.config(&repo, &branch).await.map_err(dto)
}

/// Lists what nothing owns any more; with `apply`, removes it.
#[tauri::command]
pub async fn gc(engine: State<'_, Engine>, apply: bool) -> Res<Vec<Orphan>> {
    engine.gc(apply).await.map_err(dto)
}

/// Checks Docker, the gateway and disk use.
#[tauri::command]
pub async fn doctor(engine: State<'_, Engine>) -> Res<DoctorReport> {
    engine.doctor().await.map_err(dto)
}

/// The Docker engine in use: its address, who chose it, what it says about
/// itself, or why it cannot be used.
#[tauri::command]
pub async fn engine_show(engine: State<'_, Engine>) -> Res<EngineReport> {
    Ok(engine.engine_report().await)
}

/// The docker contexts to choose from, the one in use marked.
#[tauri::command]
pub fn engine_contexts(engine: State<'_, Engine>) -> Res<Vec<DockerContext>> {
    engine.docker_contexts().map_err(dto)
}

/// Chooses docker context `name` for the next start (as `branchyard engine use`).
#[tauri::command]
pub async fn engine_use(
    engine: State<'_, Engine>,
    name: String,
    force: Option<bool>,
) -> Res<UseReport> {
    engine
        .use_context(&name, force.unwrap_or(false))
        .await
        .map_err(dto)
}

/// Restarts the app, so a newly chosen engine is used.
#[tauri::command]
pub fn restart_app<R: Runtime>(app: AppHandle<R>) {
    app.restart()
}

/// What the settings panel shows: the gateway settings in effect, what the
/// user stored for each key, and each repo's auto-suspend idle time.
#[derive(Debug, Serialize)]
pub struct SettingsView {
    /// The gateway settings in effect (defaults and fallbacks applied).
    #[serde(flatten)]
    pub effective: GatewaySettings,
    /// Each known key with its stored value (`None`: the default).
    pub stored: BTreeMap<String, Option<String>>,
    /// Auto-suspend idle time per repo, in seconds (repos without one are absent).
    pub auto_suspend: BTreeMap<String, u64>,
}

/// The settings in effect and as stored.
#[tauri::command]
pub fn settings_get(engine: State<'_, Engine>) -> Res<SettingsView> {
    let mut auto_suspend = BTreeMap::new();
    for r in engine.repos().map_err(dto)? {
        if let Some(secs) = engine.auto_suspend(&r.name).map_err(dto)? {
            auto_suspend.insert(r.name, secs);
        }
    }
    Ok(SettingsView {
        effective: engine.gateway_settings().map_err(dto)?,
        stored: engine.stored_settings().map_err(dto)?,
        auto_suspend,
    })
}

/// Changes a setting and applies it to the running gateway (as
/// `branchyard settings set` does); what the user should know about it.
#[tauri::command]
pub async fn settings_set(
    engine: State<'_, Engine>,
    key: String,
    value: String,
) -> Res<Vec<String>> {
    engine.change_setting(&key, &value).await.map_err(dto)
}

/// Sets a repository's auto-suspend idle time in minutes (0: never).
#[tauri::command]
pub fn set_repo_auto_suspend(engine: State<'_, Engine>, name: String, minutes: u64) -> Res<()> {
    let secs = (minutes > 0).then(|| minutes.saturating_mul(60));
    engine.set_auto_suspend(&name, secs).map_err(dto)
}

/// Opens a preview URL in the default browser (only http and https).
#[tauri::command]
pub fn open_url(url: String) -> Res<()> {
    crate::browser::open(&url).map_err(dto)
}

/// Installs the local HTTPS CA where this platform allows; what was done and what is left.
#[tauri::command]
pub async fn ca_trust(engine: State<'_, Engine>) -> Res<TrustReport> {
    let engine = engine.inner().clone();
    blocking(move || engine.ca_trust()).await
}

/// Removes the local HTTPS CA from the stores it was installed in.
#[tauri::command]
pub async fn ca_untrust(engine: State<'_, Engine>) -> Res<TrustReport> {
    let engine = engine.inner().clone();
    blocking(move || engine.ca_untrust()).await
}

/// Follows a preview's logs (every service, or `service`) through `on_batch`,
/// the last `tail` lines first; the subscription id for [`unsubscribe`].
#[tauri::command]
pub async fn logs_follow(
    engine: State<'_, Engine>,
    streams: State<'_, Streams>,
    id: String,
    service: Option<String>,
    tail: Option<usize>,
    on_batch: Channel<Batch>,
) -> Res<u32> {
    let services = match service {
        Some(s) => vec![s],
        None => engine
            .status(&self::id(id.clone()))
            .await
            .map_err(dto)?
            .view
            .services
            .into_iter()
            .map(|s| s.service)
            .collect(),
    };
    let tail = tail.unwrap_or(200);
    Ok(streams.logs(engine.inner().clone(), id, services, tail, on_batch))
}

/// Follows build and start output (of `preview`, or every preview) through `on_batch`.
#[tauri::command]
pub fn output_follow(
    engine: State<'_, Engine>,
    streams: State<'_, Streams>,
    preview: Option<String>,
    on_batch: Channel<Batch>,
) -> u32 {
    streams.output(engine.inner(), preview, on_batch)
}

/// Ends a logs or output subscription; whether it was open.
#[tauri::command]
pub fn unsubscribe(streams: State<'_, Streams>, sub: u32) -> bool {
    streams.close(sub)
}

/// Asks for a folder with the platform's picker; `None` when cancelled.
#[tauri::command]
pub async fn pick_folder<R: Runtime>(app: AppHandle<R>) -> Res<Option<String>> {
    use tauri_plugin_dialog::DialogExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Add a git repository")
        .pick_folder(move |p| {
            let _ = tx.send(p);
        });
    let picked = rx.await.ok().flatten();
    Ok(picked
        .and_then(|p| p.into_path().ok())
        .map(|p| p.to_string_lossy().into_owned()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Res<T> {
    match tauri::async_runtime::spawn_blocking(f).await {
        Ok(r) => r.map_err(dto),
        Err(e) => Err(dto(Error::Invalid(format!("the task stopped: {e}")))),
    }
}
