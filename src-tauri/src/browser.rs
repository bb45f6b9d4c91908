//! Opens preview URLs in the user's default browser. A webview link would open
//! inside the app window, and the opener plugin is one more build for one call.

use branchyard_core::Error;

/// The program that hands a URL to the default browser on this platform.
const OPENER: &str = if cfg!(target_os = "macos") {
    "open"
} else if cfg!(target_os = "windows") {
    "explorer"
} else {
    "xdg-open"
};

/// Whether `url` is something we are willing to hand to the browser.
pub fn allowed(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Opens `url` in the default browser without waiting for it.
///
/// # Errors
/// Not an http(s) URL, or the opener program could not be started.
pub fn open(url: &str) -> Result<(), Error> {
    if !allowed(url) {
        return Err(Error::Invalid(format!(
            "{url:?} is not an http(s) URL: only preview URLs can be opened"
        )));
    }
    std::process::Command::new(OPENER)
        .arg(url)
        .spawn()
        .map(|_| ())
        .map_err(|e| {
            Error::NotFound(format!(
                "cannot start {OPENER} to open {url}: {e}; copy the URL into your browser instead"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_are_opened() {
        assert!(allowed("http://main.shop.localhost"));
        assert!(allowed("https://main.shop.localhost:8443/x"));
        assert!(!allowed("file:///etc/passwd"));
        assert!(!allowed("http://a b"));
        assert!(!allowed("--help"));
    }
}
