//! Settings beyond the ports: HTTPS, the HTTP→HTTPS redirect, LAN sharing and
//! per-repo auto-suspend; and applying a change to a running gateway (a new
//! container when its publishing changes, `PUT /config` for the redirect).

use super::Engine;
use crate::error::{Error, Result};
use crate::gateway::GatewaySettings;

/// Every setting `branchyard settings set` knows, with what it takes.
pub const KNOWN: &[(&str, &str)] = &[
    ("gateway.http_port", "a port number"),
    ("gateway.admin_port", "a port number (0 chooses)"),
    ("gateway.https_port", "a port number"),
    ("gateway.https", "auto, on or off"),
    ("gateway.redirect_https", "on or off"),
    ("gateway.lan", "on or off"),
    (
        super::endpoint::CONTEXT_SETTING,
        "a docker context (`branchyard engine contexts`), or default",
    ),
];

/// How HTTPS is served and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpsMode {
    /// Served; URLs are https once the CA is trusted (`branchyard ca trust`).
    Auto,
    /// Served, and URLs are https.
    On,
    /// Not published.
    Off,
}

impl HttpsMode {
    fn parse(v: &str) -> Option<Self> {
        match v {
            "auto" => Some(HttpsMode::Auto),
            "on" | "true" | "yes" => Some(HttpsMode::On),
            "off" | "false" | "no" => Some(HttpsMode::Off),
            _ => None,
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Checks a setting's value before it is stored.
///
/// # Errors
/// [`Error::Invalid`] naming the known settings or what the value must be.
pub fn validate(key: &str, value: &str) -> Result<()> {
    let Some((_, what)) = KNOWN.iter().find(|(k, _)| *k == key) else {
        let known: Vec<_> = KNOWN.iter().map(|(k, _)| *k).collect();
        return Err(Error::Invalid(format!(
            "unknown setting {key:?} (known: {})",
            known.join(", ")
        )));
    };
    let ok = match key {
        "gateway.https" => HttpsMode::parse(value).is_some(),
        "gateway.redirect_https" | "gateway.lan" => parse_bool(value).is_some(),
        // Whether the context exists is checked by the engine, which knows where they are.
        super::endpoint::CONTEXT_SETTING => !value.trim().is_empty(),
        _ => value.parse::<u16>().is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{key} must be {what}, not {value:?}"
        )))
    }
}

/// `30m`, `3s`, `2h`, `1h30m`; `off` (or `0`) is `None`.
///
/// # Errors
/// [`Error::Invalid`] saying how to write one.
pub fn parse_idle(v: &str) -> Result<Option<u64>> {
    let v = v.trim();
    if v == "off" || v == "0" {
        return Ok(None);
    }
    let bad = || {
        Error::Invalid(format!(
            "{v:?} is not a duration: write it like 30m, 90s, 2h or 1h30m (or off)"
        ))
    };
    let mut total = 0u64;
    let mut num = String::new();
    for c in v.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
    }
    if !num.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Some(total))
}

/// `90` → `1m30s`.
pub fn format_idle(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

fn auto_suspend_key(repo: &str) -> String {
    format!("repo.{repo}.auto_suspend")
}

impl Engine {
    /// Reads the HTTPS, redirect and LAN settings into `s`.
    pub(super) fn https_settings(&self, s: &mut GatewaySettings) -> Result<()> {
        let store = self.store();
        if let Some(v) = store.setting("gateway.https_port")? {
            s.https_port = Some(v.parse().map_err(|_| {
                Error::Invalid(format!("setting gateway.https_port = {v:?} is not a port"))
            })?);
        }
        let mode = store
            .setting("gateway.https")?
            .and_then(|v| HttpsMode::parse(&v))
            .unwrap_or(HttpsMode::Auto);
        if mode == HttpsMode::Off {
            s.https_port = None;
        }
        s.https_urls = match mode {
            HttpsMode::On => true,
            HttpsMode::Auto => self.ca_marked_trusted(),
            HttpsMode::Off => false,
        };
        let flag = |k: &str| -> Result<bool> {
            Ok(store
                .setting(k)?
                .and_then(|v| parse_bool(&v))
                .unwrap_or(false))
        };
        s.redirect_https = flag("gateway.redirect_https")?;
        s.lan = flag("gateway.lan")?;
        Ok(())
    }

    /// Whether `branchyard ca trust` installed the CA somewhere (and no
    /// `untrust` since).
    pub(super) fn ca_marked_trusted(&self) -> bool {
        self.home().root().join("ca").join("trusted").exists()
    }

    /// Stores a setting and applies it to a running gateway: a change of
    /// ports, HTTPS or LAN sharing recreates the container; the redirect is
    /// pushed as config. Returns what the user should know (fallback ports,
    /// and with LAN sharing every URL that becomes reachable).
    ///
    /// # Errors
    /// Unknown key or bad value, or the gateway could not be recreated.
    pub async fn change_setting(&self, key: &str, value: &str) -> Result<Vec<String>> {
        if key == super::endpoint::CONTEXT_SETTING {
            // The same checks as `branchyard engine use`: it exists, it answers,
            // and it is the engine the previews live on.
            return Ok(self.use_context(value, false).await?.lines());
        }
        self.set_setting(key, value)?;
        let mut notes = Vec::new();
        // Stored is what counts: with Docker down, the next gateway start applies it.
        let docker = match self.docker().await {
            Ok(d) => d,
            Err(e) => {
                return Ok(vec![format!(
                    "saved; it applies when the gateway next starts ({e})"
                )])
            }
        };
        let settings = self.gateway_settings()?;
        let running = crate::gateway::attach(docker, self.home().root(), &settings).await?;
        if running.is_some() || key == "gateway.lan" {
            // Forget the cached one: `gateway()` compares the container with the
            // settings and replaces it when its publishing changed.
            *self.inner.gateway.lock().await = None;
            let g = self.gateway().await?;
            if let Some(p) = g.fell_back() {
                notes.push(format!(
                    "port {} is taken: HTTP is on {p} instead",
                    settings.http_port
                ));
            }
            if let (Some(p), Some(w)) = (g.fell_back_https(), settings.https_port) {
                notes.push(format!("port {w} is taken: HTTPS is on {p} instead"));
            }
            self.reroute_all().await?;
        }
        if key == "gateway.lan" && settings.lan {
            notes.push(self.lan_warning()?);
        }
        Ok(notes)
    }

    /// What LAN sharing exposes, in words.
    fn lan_warning(&self) -> Result<String> {
        let urls: Vec<String> = self
            .store()
            .previews()?
            .into_iter()
            .flat_map(|p| p.urls.into_iter().map(|u| u.url))
            .collect();
        let mut w = String::from(
            "LAN sharing is on: the gateway now answers on every interface of this machine, so anyone on your network can reach every preview (with its Host name).",
        );
        if urls.is_empty() {
            w.push_str(" No preview is routed yet; every one you start will be reachable.");
        } else {
            w.push_str(" Reachable now:");
            for u in urls {
                w.push_str(&format!("\n  {u}"));
            }
        }
        w.push_str("\nTurn it off with `branchyard settings set gateway.lan off`.");
        Ok(w)
    }

    /// Rewrites every preview's URLs for the gateway as it is now (scheme and
    /// ports may have changed) and pushes every route again.
    async fn reroute_all(&self) -> Result<()> {
        let g = self.gateway().await?;
        for p in self.store().previews()? {
            if p.urls.is_empty() {
                continue;
            }
            let urls: Vec<_> = p
                .urls
                .iter()
                .map(|u| crate::store::Urls {
                    url: g.url_for(&u.host),
                    ..u.clone()
                })
                .collect();
            self.store().set_preview_urls(&p.id, &urls)?;
        }
        self.heal_routes().await
    }

    /// Every known setting with its stored value (`None`: the default applies),
    /// as `settings set` takes them.
    ///
    /// # Errors
    /// Store failure.
    pub fn stored_settings(&self) -> Result<std::collections::BTreeMap<String, Option<String>>> {
        KNOWN
            .iter()
            .map(|(k, _)| Ok((k.to_string(), self.store().setting(k)?)))
            .collect()
    }

    /// Sets (or with `None` clears) a repo's auto-suspend idle time, seconds.
    ///
    /// # Errors
    /// No such repo.
    pub fn set_auto_suspend(&self, repo: &str, idle_secs: Option<u64>) -> Result<()> {
        self.repo(repo)?;
        let v = idle_secs
            .map(|s| s.to_string())
            .unwrap_or_else(|| "0".into());
        Ok(self.store().set_setting(&auto_suspend_key(repo), &v)?)
    }

    /// A repo's auto-suspend idle time in seconds, if on.
    ///
    /// # Errors
    /// Store failure.
    pub fn auto_suspend(&self, repo: &str) -> Result<Option<u64>> {
        Ok(self
            .store()
            .setting(&auto_suspend_key(repo))?
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| *s > 0))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn idle_times_read_as_people_write_them() {
        assert_eq!(parse_idle("30m").unwrap(), Some(1800));
        assert_eq!(parse_idle("3s").unwrap(), Some(3));
        assert_eq!(parse_idle("1h30m").unwrap(), Some(5400));
        assert_eq!(parse_idle("off").unwrap(), None);
        for bad in ["30", "m", "3x", "", "0s"] {
            assert!(parse_idle(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(format_idle(5400), "1h30m");
        assert_eq!(format_idle(3), "3s");
    }

    #[test]
    fn settings_are_checked_before_they_are_stored() {
        validate("gateway.https_port", "8443").unwrap();
        validate("gateway.https", "auto").unwrap();
        validate("gateway.lan", "on").unwrap();
        let e = validate("gateway.lan", "maybe").unwrap_err().to_string();
        assert!(e.contains("on or off"), "{e}");
        let e = validate("gateway.nope", "1").unwrap_err().to_string();
        assert!(
            e.contains("gateway.redirect_https"),
            "lists the known ones: {e}"
        );
    }

    #[test]
    fn https_is_served_by_default_but_urls_turn_https_only_once_the_ca_is_trusted() {
        let home = tempfile::tempdir().unwrap();
        let engine = Engine::open(crate::paths::Home::at(home.path()).unwrap()).unwrap();
        let s = engine.gateway_settings().unwrap();
        assert_eq!(s.https_port, Some(443), "HTTPS is served by default");
        assert!(!s.https_urls, "an untrusted CA keeps the URLs http");
        std::fs::create_dir_all(home.path().join("ca")).unwrap();
        std::fs::write(home.path().join("ca/trusted"), "").unwrap();
        assert!(engine.gateway_settings().unwrap().https_urls);
        engine.set_setting("gateway.https", "off").unwrap();
        let s = engine.gateway_settings().unwrap();
        assert_eq!((s.https_port, s.https_urls), (None, false));
        engine.set_setting("gateway.https", "on").unwrap();
        engine.set_setting("gateway.https_port", "18444").unwrap();
        let s = engine.gateway_settings().unwrap();
        assert_eq!((s.https_port, s.https_urls), (Some(18444), true));
    }
}
