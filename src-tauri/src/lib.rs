//! Branchyard's desktop shell: Tauri commands over the core [`Engine`], a
//! bridge that forwards engine events to the window, and the tray. No engine
//! logic here.

pub mod bridge;
pub mod browser;
pub mod commands;
pub mod notices;
pub mod probe;
pub mod streams;
pub mod tray;
pub mod webview;

#[cfg(test)]
mod ipc_tests;

use branchyard_core::Engine;
use tauri::{AppHandle, DragDropEvent, Emitter, Manager, Runtime, WindowEvent};

/// The main window's label (tauri.conf.json).
const MAIN: &str = "main";

/// The window event carrying folders dropped on the window.
pub const DROPPED: &str = "branchyard://dropped";

/// The app: [`with_commands`] plus the platform plugins (one instance,
/// notifications, folder picker) and the bridge that forwards engine events
/// to the window and runs the engine's upkeep.
pub fn builder<R: Runtime>(engine: Engine) -> tauri::Builder<R> {
    // First, so a second launch hands over before anything else starts.
    let base = tauri::Builder::<R>::new()
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            tracing::info!(?argv, "second launch: showing the running window");
            probe::second_instance(&argv);
            show_main(app);
        }))
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_dialog::init());
    with_commands(base, engine).setup(|app| {
        open_main(app)?;
        let engine = app.state::<Engine>().inner().clone();
        bridge::start(app.handle().clone(), engine);
        Ok(())
    })
}

/// `base` with the engine managed and every command registered, generic over
/// the runtime so tests can use Tauri's mock runtime. Closing the main window
/// hides it: the app lives on in the tray until Quit.
pub fn with_commands<R: Runtime>(base: tauri::Builder<R>, engine: Engine) -> tauri::Builder<R> {
    base.manage(engine)
        .invoke_handler(tauri::generate_handler![
            commands::list_repos,
            commands::add_repo,
            commands::remove_repo,
            commands::set_repo_trusted,
            commands::set_repo_auto_update,
            commands::set_repo_auto_suspend,
            commands::list_branches,
            commands::list_previews,
            commands::preview_up,
            commands::preview_stop,
            commands::preview_start,
            commands::preview_rebuild,
            commands::preview_down,
            commands::preview_status,
            commands::preview_transitions,
            commands::preview_config,
            commands::gc,
            commands::doctor,
            commands::engine_show,
            commands::engine_contexts,
            commands::engine_use,
            commands::restart_app,
            commands::settings_get,
            commands::settings_set,
            commands::open_url,
            commands::ca_trust,
            commands::ca_untrust,
            commands::logs_follow,
            commands::output_follow,
            commands::unsubscribe,
            commands::pick_folder,
        ])
        .manage(streams::Streams::default())
        .on_window_event(|window, event| match event {
            WindowEvent::CloseRequested { api, .. } if window.label() == MAIN => {
                api.prevent_close();
                let _ = window.hide();
            }
            // Folders dropped on the window: the UI adds each as a repository.
            WindowEvent::DragDrop(DragDropEvent::Drop { paths, .. }) => {
                let dirs = dropped_dirs(paths);
                if !dirs.is_empty() {
                    let _ = window.emit_to(MAIN, DROPPED, dirs);
                }
            }
            _ => {}
        })
}

/// The folders among dropped paths (files are not repositories), as strings for the UI.
pub fn dropped_dirs(paths: &[std::path::PathBuf]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| p.is_dir())
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

/// Builds the main window from tauri.conf.json (where it has `"create":
/// false`, so it is made here, with the web view's memory settings applied
/// while its page loads).
fn open_main<R: Runtime>(app: &tauri::App<R>) -> tauri::Result<()> {
    let tuning = webview::Tuning::from_env();
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN)
        .cloned()
        .unwrap_or_default();
    let window = tauri::WebviewWindowBuilder::from_config(app.handle(), &config)?.build()?;
    webview::apply(&window, tuning);
    Ok(())
}

/// Shows and focuses the main window (after it was hidden by closing it).
pub fn show_main<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window(MAIN) {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
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
    let app = match builder::<tauri::Wry>(engine.clone()).build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(e) => panic!("the Branchyard window failed: {e}"),
    };
    // The tray is made here rather than in setup so mock-runtime tests skip it.
    if let Err(e) = tray::install(app.handle(), engine) {
        tracing::warn!(error = %e, "no tray icon: the window is the only way in");
    }
    app.run(|app, event| {
        // Clicking the dock/taskbar entry brings the hidden window back (macOS).
        #[cfg(target_os = "macos")]
        if let tauri::RunEvent::Reopen { .. } = event {
            show_main(app);
        }
        let _ = (app, event);
    });
}
