//! What the tray and the notifications showed, written to files when
//! `BRANCHYARD_APP_PROBE` names a folder: the tray is not drawn under Xvfb and
//! notifications may have no daemon, so the window test reads these. Written
//! from the same [`TrayModel`] and [`Notice`] values the real tray and
//! notification get, at the moment they get them.

use std::io::Write;
use std::path::PathBuf;

use crate::notices::Notice;
use crate::tray::TrayModel;

/// The environment variable naming the probe folder.
pub const ENV: &str = "BRANCHYARD_APP_PROBE";

fn dir() -> Option<PathBuf> {
    std::env::var_os(ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// Records the model the tray now shows, as `tray.json` (replaced atomically).
pub fn tray(model: &TrayModel) {
    let Some(dir) = dir() else { return };
    let doc = serde_json::json!({
        "model": model,
        "menu_text": model.menu_text(),
        "at_ms": now_ms(),
    });
    let tmp = dir.join("tray.json.tmp");
    let written = std::fs::write(&tmp, doc.to_string())
        .and_then(|()| std::fs::rename(&tmp, dir.join("tray.json")));
    if let Err(e) = written {
        tracing::warn!(error = %e, "cannot write the tray probe");
    }
}

/// Appends a notification that was handed to the platform, with how that went.
pub fn notice(n: &Notice, result: &Result<(), String>) {
    let Some(dir) = dir() else { return };
    let line = serde_json::json!({
        "title": n.title,
        "body": n.body,
        "delivered": result.is_ok(),
        "error": result.as_ref().err(),
        "at_ms": now_ms(),
    });
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("notifications.jsonl"))
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        tracing::warn!(error = %e, "cannot write the notification probe");
    }
}

fn now_ms() -> i64 {
    branchyard_core::store::now_ms()
}

/// Records that a second launch handed over to this instance.
pub fn second_instance(argv: &[String]) {
    let Some(dir) = dir() else { return };
    let line = serde_json::json!({ "argv": argv, "at_ms": now_ms() });
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("instances.jsonl"))
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        tracing::warn!(error = %e, "cannot write the instance probe");
    }
}
