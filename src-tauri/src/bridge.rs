//! Engine events become window events in one place: `branchyard://event`.

use branchyard_core::Engine;
use tauri::{AppHandle, Emitter, Runtime};
use tokio_util::sync::CancellationToken;

/// The name of the window event carrying every engine event.
pub const EVENT: &str = "branchyard://event";

/// Forwards engine events to the window and runs the engine's long-lived
/// duties while the app is open.
pub fn start<R: Runtime>(app: AppHandle<R>, engine: Engine) {
    let mut rx = engine.subscribe();
    let forward_to = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let _ = forward_to.emit(EVENT, &ev);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let cancel = CancellationToken::new();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = engine.serve(cancel).await {
            tracing::warn!(error = %e, "engine upkeep stopped");
        }
    });
}
