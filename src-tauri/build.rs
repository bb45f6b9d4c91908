//! Build script: embeds tauri.conf.json, the ui/ folder and the capabilities,
//! and declares the app's own commands so capabilities can grant them.

/// Every command the window may call (see src-tauri/src/commands.rs).
const COMMANDS: &[&str] = &[
    "list_repos",
    "add_repo",
    "remove_repo",
    "set_repo_trusted",
    "set_repo_auto_update",
    "set_repo_auto_suspend",
    "list_branches",
    "list_previews",
    "preview_up",
    "preview_stop",
    "preview_start",
    "preview_rebuild",
    "preview_down",
    "preview_status",
    "preview_transitions",
    "preview_config",
    "gc",
    "doctor",
    "engine_show",
    "engine_contexts",
    "engine_use",
    "restart_app",
    "settings_get",
    "settings_set",
    "open_url",
    "ca_trust",
    "ca_untrust",
    "logs_follow",
    "output_follow",
    "unsubscribe",
    "pick_folder",
];

fn main() {
    // Without a devUrl the UI is embedded: rebuild when any of its files change.
    println!("cargo:rerun-if-changed=ui");
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern("src-tauri/capabilities/**/*")
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .unwrap_or_else(|e| panic!("tauri build failed: {e:#}"));
}
