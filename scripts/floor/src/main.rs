//! The floor peer of scripts/bench-app.sh: the smallest Tauri 2 app, with
//! the same Tauri, wry and WebKitGTK as Branchyard, one window showing a
//! static "hello" page. What it costs is what any Tauri app on WebKitGTK
//! costs; the app's figures are read against it. `BRANCHYARD_WEBVIEW_TUNING`
//! applies the app's web view settings here too, so both are measured alike.

// The app's own settings code, compiled in rather than linked, so the floor
// carries none of the app.
#[path = "../../../src-tauri/src/webview.rs"]
#[allow(dead_code)]
mod webview;

fn main() {
    let app = tauri::Builder::default()
        .setup(|app| {
            let tuning = webview::Tuning::from_env();
            let config = app
                .config()
                .app
                .windows
                .first()
                .cloned()
                .unwrap_or_default();
            let window =
                tauri::WebviewWindowBuilder::from_config(app.handle(), &config)?.build()?;
            webview::apply(&window, tuning);
            Ok(())
        })
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|_, _| {}),
        Err(e) => eprintln!("floor: {e}"),
    }
}
