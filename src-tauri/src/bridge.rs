//! Engine events become window events in one place: `branchyard://event`
//! (build output goes through [`crate::streams`] instead), and ready or
//! failed previews become desktop notifications.

use branchyard_core::events::Event;
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
                // Output can be a flood: it goes to subscribers' channels, capped.
                Ok(Event::Output { .. }) => {}
                Ok(ev) => {
                    if let Some(n) = crate::notices::for_event(&ev) {
                        crate::notices::show(&forward_to, n);
                    }
                    let _ = forward_to.emit(EVENT, &ev);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let cancel = CancellationToken::new();
    // The CLI's lifecycle changes reach the window without waiting for our next event.
    let follower = engine.clone();
    let stop = cancel.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = follower.follow_other_processes(stop).await {
            tracing::warn!(error = %e, "changes by other processes show after a reload");
        }
    });
    tauri::async_runtime::spawn(async move {
        if let Err(e) = engine.serve(cancel).await {
            tracing::warn!(error = %e, "engine upkeep stopped");
        }
    });
}
