//! The web view's GPU compositing, off: a dashboard of text, badges and
//! tables needs none, and WebKit's accelerated compositor costs about 110 MB
//! (RSS; 107 MB PSS) across the app's processes, most of it in the web
//! process's heap (figures in README, "The app's cost, measured"). Shared
//! with the floor peer of scripts/bench-app.sh (scripts/floor), which is
//! measured with the same setting.
//!
//! Also measured there, one by one, and dropped because none moved the idle
//! figures beyond noise (±3 MB): WebGL, page cache, media and smooth
//! scrolling off, cache model DOCUMENT_VIEWER, memory-pressure limits for the
//! network process.
//!
//! `BRANCHYARD_WEBVIEW_TUNING` picks: unset or `all` turns compositing off,
//! `none` keeps WebKit's default (compositing always on). It exists to
//! measure the difference, and to bring GPU compositing back on a desktop
//! where software rendering is too slow.

/// Which of the memory settings to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Hardware acceleration policy NEVER: no GL compositor in the web
    /// process (under Xvfb or without a GPU, that is software GL, llvmpipe).
    pub no_gpu: bool,
}

impl Tuning {
    /// The names `BRANCHYARD_WEBVIEW_TUNING` accepts, one per field.
    pub const NAMES: [&'static str; 1] = ["gpu"];

    /// Every setting on: what the app runs with.
    pub const ALL: Tuning = Tuning { no_gpu: true };

    /// None of them: WebKit's and wry's defaults.
    pub const NONE: Tuning = Tuning { no_gpu: false };

    /// Parses `all`, `none` or a comma list of [`Tuning::NAMES`]; unknown
    /// names are returned so the caller can warn about them.
    pub fn parse(spec: &str) -> (Tuning, Vec<String>) {
        match spec.trim() {
            "" | "all" => return (Tuning::ALL, Vec::new()),
            "none" => return (Tuning::NONE, Vec::new()),
            _ => {}
        }
        let mut t = Tuning::NONE;
        let mut unknown = Vec::new();
        for name in spec.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "gpu" => t.no_gpu = true,
                other => unknown.push(other.to_string()),
            }
        }
        (t, unknown)
    }

    /// From `BRANCHYARD_WEBVIEW_TUNING` (all of them when it is unset).
    pub fn from_env() -> Tuning {
        let spec = std::env::var("BRANCHYARD_WEBVIEW_TUNING").unwrap_or_default();
        let (t, unknown) = Tuning::parse(&spec);
        if !unknown.is_empty() {
            tracing::warn!(?unknown, known = ?Tuning::NAMES, "BRANCHYARD_WEBVIEW_TUNING: names ignored");
        }
        t
    }
}

/// Applies the settings to `window` (WebKitGTK only; elsewhere nothing).
/// They reach the web process before the page's first paint: the window was
/// just built and its page is still loading.
pub fn apply<R: tauri::Runtime>(window: &tauri::WebviewWindow<R>, t: Tuning) {
    #[cfg(target_os = "linux")]
    {
        let result = window.with_webview(move |w| {
            use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
            if let Some(s) = WebViewExt::settings(&w.inner()) {
                if t.no_gpu {
                    s.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
                }
            }
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "web view memory settings not applied");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (window, t);
}

#[cfg(test)]
mod tests {
    use super::Tuning;

    #[test]
    fn parses_all_none_and_lists() {
        assert_eq!(Tuning::parse(""), (Tuning::ALL, vec![]));
        assert_eq!(Tuning::parse("all"), (Tuning::ALL, vec![]));
        assert_eq!(Tuning::parse("none"), (Tuning::NONE, vec![]));
        let (t, unknown) = Tuning::parse("gpu, bogus");
        assert!(t.no_gpu);
        assert_eq!(unknown, vec!["bogus".to_string()]);
        let every = Tuning::NAMES.join(",");
        assert_eq!(Tuning::parse(&every), (Tuning::ALL, vec![]));
    }
}
