//! WebKitGTK settings that keep the window's memory down: a dashboard of
//! text, badges and tables needs no GPU compositing, WebGL, media or page
//! cache, and each of those costs memory in WebKit's processes (figures in
//! README, "The app's cost, measured"). Shared with the floor peer of
//! scripts/bench-app.sh (scripts/floor), which is measured with the same
//! settings.
//!
//! `BRANCHYARD_WEBVIEW_TUNING` picks them: unset or `all` applies every one,
//! `none` none (WebKit's and wry's defaults), or a comma list of names
//! ([`Tuning::NAMES`]). It exists to measure them one by one and to bring
//! GPU compositing back on a desktop where software rendering is too slow.

/// Which of the memory settings to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Hardware acceleration policy NEVER: no GL compositor in the web
    /// process (nor software GL, llvmpipe, under Xvfb or without a GPU).
    pub no_gpu: bool,
    /// WebGL off (wry turns it on).
    pub no_webgl: bool,
    /// The back/forward page cache off: the window shows one page.
    pub no_page_cache: bool,
    /// Media, WebAudio, MediaSource and media streams off: the UI plays nothing.
    pub no_media: bool,
    /// Smooth scrolling off: its animation keeps extra layers around.
    pub no_smooth_scrolling: bool,
    /// Cache model DOCUMENT_VIEWER: the smallest memory caches, since
    /// every resource comes from the app's embedded assets.
    pub document_viewer: bool,
    /// Memory-pressure limits for WebKit's network process, so it returns
    /// what it cached. WebKit only takes them before its first network
    /// process starts, so [`before_first_window`] applies them.
    pub network_pressure: bool,
}

impl Tuning {
    /// The names `BRANCHYARD_WEBVIEW_TUNING` accepts, one per field.
    pub const NAMES: [&'static str; 7] = [
        "gpu",
        "webgl",
        "page-cache",
        "media",
        "smooth-scrolling",
        "cache-model",
        "network-pressure",
    ];

    /// Every setting on: what the app runs with.
    pub const ALL: Tuning = Tuning {
        no_gpu: true,
        no_webgl: true,
        no_page_cache: true,
        no_media: true,
        no_smooth_scrolling: true,
        document_viewer: true,
        network_pressure: true,
    };

    /// None of them: WebKit's and wry's defaults.
    pub const NONE: Tuning = Tuning {
        no_gpu: false,
        no_webgl: false,
        no_page_cache: false,
        no_media: false,
        no_smooth_scrolling: false,
        document_viewer: false,
        network_pressure: false,
    };

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
                "webgl" => t.no_webgl = true,
                "page-cache" => t.no_page_cache = true,
                "media" => t.no_media = true,
                "smooth-scrolling" => t.no_smooth_scrolling = true,
                "cache-model" => t.document_viewer = true,
                "network-pressure" => t.network_pressure = true,
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

/// The network process's memory limit, in MB. It idles at about 11 MB of
/// heap; past a third of this it drops its caches, past half it also
/// releases what it can at once.
#[cfg(target_os = "linux")]
const NETWORK_MEMORY_LIMIT_MB: u32 = 48;

/// What must happen before WebKit starts its first network process: call it
/// on the main thread once the event loop exists (in `setup`) and before the
/// first window is built.
pub fn before_first_window(t: Tuning) {
    #[cfg(target_os = "linux")]
    if t.network_pressure {
        let mut s = webkit2gtk::MemoryPressureSettings::new();
        s.set_memory_limit(NETWORK_MEMORY_LIMIT_MB);
        webkit2gtk::WebsiteDataManager::set_memory_pressure_settings(&mut s);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = t;
}

/// Applies the web view settings to `window` (WebKitGTK only; elsewhere
/// nothing). They reach the web process before the page's first paint: the
/// window was just built and its page is still loading.
pub fn apply<R: tauri::Runtime>(window: &tauri::WebviewWindow<R>, t: Tuning) {
    #[cfg(target_os = "linux")]
    {
        let result = window.with_webview(move |w| {
            use webkit2gtk::{
                CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt,
            };
            let view = w.inner();
            if let Some(s) = WebViewExt::settings(&view) {
                if t.no_gpu {
                    s.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
                }
                if t.no_webgl {
                    s.set_enable_webgl(false);
                }
                if t.no_page_cache {
                    s.set_enable_page_cache(false);
                }
                if t.no_media {
                    s.set_enable_media(false);
                    s.set_enable_webaudio(false);
                    s.set_enable_mediasource(false);
                    s.set_enable_media_stream(false);
                    s.set_enable_encrypted_media(false);
                }
                if t.no_smooth_scrolling {
                    s.set_enable_smooth_scrolling(false);
                }
            }
            if t.document_viewer {
                if let Some(c) = view.context() {
                    c.set_cache_model(CacheModel::DocumentViewer);
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
        let (t, unknown) = Tuning::parse("gpu, cache-model,bogus");
        assert!(t.no_gpu && t.document_viewer && !t.no_webgl && !t.network_pressure);
        assert_eq!(unknown, vec!["bogus".to_string()]);
        let every = Tuning::NAMES.join(",");
        assert_eq!(Tuning::parse(&every), (Tuning::ALL, vec![]));
    }
}
