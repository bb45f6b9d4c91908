//! Tauri commands: each calls the engine and converts its error for the UI.

use branchyard_core::engine::{BranchView, DownOptions, PreviewRef, PreviewView, UpOptions};
use branchyard_core::error::ErrorDto;
use branchyard_core::store::{PreviewRecord, RepoRecord};
use branchyard_core::Engine;
use tauri::State;

type Res<T> = Result<T, ErrorDto>;

fn dto(e: branchyard_core::Error) -> ErrorDto {
    ErrorDto::from(&e)
}

/// Registered repositories.
#[tauri::command]
pub fn list_repos(engine: State<'_, Engine>) -> Res<Vec<RepoRecord>> {
    engine.repos().map_err(dto)
}

/// A repository's branches with their previews.
#[tauri::command]
pub async fn list_branches(engine: State<'_, Engine>, repo: String) -> Res<Vec<BranchView>> {
    engine.branches(&repo).await.map_err(dto)
}

/// Every preview with its services.
#[tauri::command]
pub async fn list_previews(engine: State<'_, Engine>) -> Res<Vec<PreviewView>> {
    engine.list().await.map_err(dto)
}

/// Creates or updates a branch's preview.
#[tauri::command]
pub async fn preview_up(engine: State<'_, Engine>, repo: String, branch: String) -> Res<PreviewRecord> {
    engine.up(&repo, &branch, &UpOptions::default()).await.map_err(dto)
}

/// Suspends a preview.
#[tauri::command]
pub async fn preview_stop(engine: State<'_, Engine>, id: String) -> Res<PreviewRecord> {
    engine.stop(&PreviewRef::Id(id)).await.map_err(dto)
}

/// Resumes a preview.
#[tauri::command]
pub async fn preview_start(engine: State<'_, Engine>, id: String) -> Res<PreviewRecord> {
    engine.start(&PreviewRef::Id(id)).await.map_err(dto)
}

/// Removes a preview (its volumes are kept).
#[tauri::command]
pub async fn preview_down(engine: State<'_, Engine>, id: String) -> Res<()> {
    engine.down(&PreviewRef::Id(id), DownOptions::default()).await.map_err(dto)
}
