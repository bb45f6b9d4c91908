//! Branchyard desktop app.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // The window is a few lists and cards: WebKitGTK's accelerated compositing
    // buys nothing here and costs about 80 MB in its web process (measured by
    // scripts/bench-app.sh). Set before any thread starts; a user's own value wins.
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
    branchyard_desktop::run();
}
