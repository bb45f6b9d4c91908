//! Branchyard's desktop shell: Tauri commands over the core [`Engine`], and a
//! bridge that forwards engine events to the window. No engine logic here.

pub mod bridge;
pub mod commands;

use branchyard_core::Engine;
use tauri::{Manager, Runtime};

/// The app with its commands registered, generic over the runtime so tests can
/// use Tauri's mock runtime.
pub fn builder<R: Runtime>(engine: Engine) -> tauri::Builder<R> {
    tauri::Builder::<R>::new()
        .manage(engine)
        .invoke_handler(tauri::generate_handler![
            commands::list_repos,
            commands::list_branches,
            commands::list_previews,
            commands::preview_up,
            commands::preview_stop,
            commands::preview_start,
            commands::preview_down,
        ])
        .setup(|app| {
            let engine = app.state::<Engine>().inner().clone();
            bridge::start(app.handle().clone(), engine);
            Ok(())
        })
}

/// Runs the desktop app.
///
/// # Panics
/// When the engine's home cannot be opened or the window cannot be created:
/// there is nothing to show without them.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BRANCHYARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let engine = match Engine::from_env() {
        Ok(e) => e,
        Err(e) => panic!("cannot open Branchyard's state: {e}"),
    };
    if let Err(e) = builder::<tauri::Wry>(engine).run(tauri::generate_context!()) {
        panic!("the Branchyard window failed: {e}");
    }
}
