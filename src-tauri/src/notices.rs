//! Desktop notifications when a preview becomes ready, degrades or fails: which events
//! deserve one (pure, unit-tested) and handing them to the platform.

use branchyard_core::events::Event;
use branchyard_core::lifecycle::State;
use tauri::{AppHandle, Runtime};
use tauri_plugin_notification::NotificationExt;

/// One desktop notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// First line.
    pub title: String,
    /// The rest.
    pub body: String,
}

/// The notification an event deserves: a preview became ready (again), degraded, or failed.
pub fn for_event(ev: &Event) -> Option<Notice> {
    let Event::State {
        preview,
        from,
        to,
        detail,
        ..
    } = ev
    else {
        return None;
    };
    if *from == Some(*to) {
        return None;
    }
    match to {
        State::Ready if *from == Some(State::Degraded) => Some(Notice {
            title: format!("{preview} is ready again"),
            body: "Every service runs again.".into(),
        }),
        State::Ready => Some(Notice {
            title: format!("{preview} is ready"),
            body: "Open it from the Branchyard window or its tray menu.".into(),
        }),
        State::Failed => Some(Notice {
            title: format!("{preview} failed"),
            body: detail
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("See its card in the Branchyard window for why.")
                .to_string(),
        }),
        State::Degraded => Some(Notice {
            title: format!("{preview} is degraded"),
            body: format!(
                "{}. Start it again from its card or the tray menu.",
                detail.lines().next().unwrap_or("A service is down")
            ),
        }),
        _ => None,
    }
}

/// Shows `n` on the desktop; a missing notification service is logged, not fatal.
pub fn show<R: Runtime>(app: &AppHandle<R>, n: Notice) {
    let app = app.clone();
    // The D-Bus call can block for a while when no notification daemon answers.
    tauri::async_runtime::spawn_blocking(move || {
        let result = app
            .notification()
            .builder()
            .title(&n.title)
            .body(&n.body)
            .show()
            .map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::warn!(error = %e, title = %n.title, "desktop notification failed");
        }
        crate::probe::notice(&n, &result);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(from: Option<State>, to: State, detail: &str) -> Event {
        Event::State {
            preview: "main.shop".into(),
            from,
            to,
            trigger: "up".into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn ready_and_failed_notify_other_states_do_not() {
        let ready = for_event(&state(Some(State::Starting), State::Ready, "")).unwrap();
        assert_eq!(ready.title, "main.shop is ready");
        let failed = for_event(&state(
            Some(State::Building),
            State::Failed,
            "\nbuild of web failed: no such file\nlast lines…",
        ))
        .unwrap();
        assert_eq!(failed.title, "main.shop failed");
        assert_eq!(failed.body, "build of web failed: no such file");
        assert_eq!(
            for_event(&state(Some(State::Ready), State::Stopping, "")),
            None
        );
        assert_eq!(
            for_event(&state(Some(State::Ready), State::Ready, "")),
            None
        );
        let output = Event::Output {
            preview: "main.shop".into(),
            service: "web".into(),
            line: "ready".into(),
        };
        assert_eq!(for_event(&output), None);
    }

    #[test]
    fn a_degraded_preview_notifies_with_the_reason_and_again_once_healed() {
        let degraded = for_event(&state(
            Some(State::Ready),
            State::Degraded,
            "web exited with code 137 (killed)",
        ))
        .unwrap();
        assert_eq!(degraded.title, "main.shop is degraded");
        assert_eq!(
            degraded.body,
            "web exited with code 137 (killed). Start it again from its card or the tray menu."
        );
        let healed = for_event(&state(Some(State::Degraded), State::Ready, "")).unwrap();
        assert_eq!(healed.title, "main.shop is ready again");
    }
}
