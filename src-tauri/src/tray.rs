//! The tray: a pure [`TrayModel`] computed from the previews (icon, tooltip,
//! menu), and the wiring that redraws the tray when that model changes.

use branchyard_core::engine::PreviewRef;
use branchyard_core::events::Event;
use branchyard_core::lifecycle::State;
use branchyard_core::store::PreviewRecord;
use branchyard_core::Engine;
use tauri::image::Image;
use tauri::menu::{Menu, MenuBuilder, MenuEvent, SubmenuBuilder};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Runtime};

/// The tray icon's id.
const TRAY_ID: &str = "branchyard";

/// How all previews are doing, worst first wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    /// No preview is serving or moving.
    Idle,
    /// At least one preview serves and none is moving or failed.
    Ready,
    /// At least one preview is being built, started, stopped or removed.
    Busy,
    /// At least one preview is degraded (a service died while it was ready)
    /// and none failed: it needs attention, like failed.
    Degraded,
    /// At least one preview failed.
    Failed,
}

impl Aggregate {
    /// The icon file (under icons/) that shows this state.
    pub fn icon_file(self) -> &'static str {
        match self {
            Aggregate::Idle => "tray-idle.png",
            Aggregate::Ready => "tray-ready.png",
            Aggregate::Busy => "tray-busy.png",
            Aggregate::Degraded => "tray-degraded.png",
            Aggregate::Failed => "tray-failed.png",
        }
    }

    fn icon(self) -> Image<'static> {
        match self {
            Aggregate::Idle => tauri::include_image!("icons/tray-idle.png"),
            Aggregate::Ready => tauri::include_image!("icons/tray-ready.png"),
            Aggregate::Busy => tauri::include_image!("icons/tray-busy.png"),
            Aggregate::Degraded => tauri::include_image!("icons/tray-degraded.png"),
            Aggregate::Failed => tauri::include_image!("icons/tray-failed.png"),
        }
    }
}

/// One preview's entry in the tray menu.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrayEntry {
    /// Preview id (menu item ids derive from it).
    pub id: String,
    /// What the menu shows: `repo/branch — state`.
    pub label: String,
    /// Its main URL, when it has one.
    pub url: Option<String>,
    /// Whether the entry offers Start (the preview is stopped, degraded or
    /// failed: starting is what fixes it) rather than Stop.
    pub startable: bool,
}

/// Everything the tray shows, computed from the previews alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrayModel {
    /// Overall state (chooses the icon).
    pub aggregate: Aggregate,
    /// e.g. `3 ready · 1 building`.
    pub tooltip: String,
    /// One entry per preview, in the order given.
    pub entries: Vec<TrayEntry>,
}

/// What a tray menu item asks for, parsed from its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayAction {
    /// Open a preview's URL in the browser.
    Open(String),
    /// Stop the preview with this id.
    Stop(String),
    /// Start the preview with this id.
    Start(String),
    /// Show and focus the main window.
    Show,
    /// Exit the app (previews keep running).
    Quit,
}

impl TrayAction {
    /// The menu item id that stands for this action.
    pub fn menu_id(&self) -> String {
        match self {
            TrayAction::Open(url) => format!("open:{url}"),
            TrayAction::Stop(id) => format!("stop:{id}"),
            TrayAction::Start(id) => format!("start:{id}"),
            TrayAction::Show => "show".to_string(),
            TrayAction::Quit => "quit".to_string(),
        }
    }

    /// The action a menu item id stands for.
    pub fn parse(menu_id: &str) -> Option<Self> {
        match menu_id.split_once(':') {
            Some(("open", url)) => Some(TrayAction::Open(url.to_string())),
            Some(("stop", id)) => Some(TrayAction::Stop(id.to_string())),
            Some(("start", id)) => Some(TrayAction::Start(id.to_string())),
            _ => match menu_id {
                "show" => Some(TrayAction::Show),
                "quit" => Some(TrayAction::Quit),
                _ => None,
            },
        }
    }
}

impl TrayModel {
    /// The model for these previews.
    pub fn from_previews(previews: &[PreviewRecord]) -> Self {
        let states: Vec<State> = previews.iter().map(|p| p.state).collect();
        let aggregate = if states.contains(&State::Failed) {
            Aggregate::Failed
        } else if states.contains(&State::Degraded) {
            Aggregate::Degraded
        } else if states.iter().any(|s| s.is_transient()) {
            Aggregate::Busy
        } else if states.contains(&State::Ready) {
            Aggregate::Ready
        } else {
            Aggregate::Idle
        };
        TrayModel {
            aggregate,
            tooltip: tooltip(&states),
            entries: previews.iter().map(entry).collect(),
        }
    }
}

/// One item of the tray menu: what both the real menu and its text form are built from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MenuItem {
    /// A clickable item: its id ([`TrayAction::menu_id`]) and label.
    Text {
        /// Menu item id.
        id: String,
        /// What it shows.
        label: String,
    },
    /// A submenu with clickable items.
    Sub {
        /// What it shows.
        label: String,
        /// Its items.
        items: Vec<MenuItem>,
    },
    /// A separator line.
    Separator,
}

impl TrayModel {
    /// The menu's items, in order: a submenu per preview, then Show and Quit.
    pub fn menu_items(&self) -> Vec<MenuItem> {
        let text = |a: TrayAction, label: String| MenuItem::Text {
            id: a.menu_id(),
            label,
        };
        let mut out: Vec<MenuItem> = self
            .entries
            .iter()
            .map(|e| {
                let mut items = Vec::new();
                if let Some(url) = &e.url {
                    items.push(text(TrayAction::Open(url.clone()), format!("Open {url}")));
                }
                items.push(if e.startable {
                    text(TrayAction::Start(e.id.clone()), "Start".into())
                } else {
                    text(TrayAction::Stop(e.id.clone()), "Stop".into())
                });
                MenuItem::Sub {
                    label: e.label.clone(),
                    items,
                }
            })
            .collect();
        if !out.is_empty() {
            out.push(MenuItem::Separator);
        }
        out.push(text(TrayAction::Show, "Show Branchyard".into()));
        out.push(text(TrayAction::Quit, "Quit".into()));
        out
    }

    /// The menu as text (submenus indented): the tray is not drawn under
    /// Xvfb, so the window test and the README read this.
    pub fn menu_text(&self) -> String {
        fn put(out: &mut String, items: &[MenuItem], indent: &str) {
            for i in items {
                match i {
                    MenuItem::Text { label, .. } => out.push_str(&format!("{indent}{label}\n")),
                    MenuItem::Sub { label, items } => {
                        out.push_str(&format!("{indent}{label} ▸\n"));
                        put(out, items, "    ");
                    }
                    MenuItem::Separator => out.push_str("────────\n"),
                }
            }
        }
        let mut out = String::new();
        put(&mut out, &self.menu_items(), "");
        out
    }
}

/// `3 ready · 1 building`, states in lifecycle order; a hint when there are none.
fn tooltip(states: &[State]) -> String {
    if states.is_empty() {
        return "Branchyard: no previews".to_string();
    }
    let mut counts: Vec<(State, usize)> = Vec::new();
    for s in states {
        match counts.iter_mut().find(|(k, _)| k == s) {
            Some((_, n)) => *n += 1,
            None => counts.push((*s, 1)),
        }
    }
    counts.sort_by_key(|(s, _)| order(*s));
    counts
        .iter()
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Ready first, then what needs attention, then what is moving, then the rest.
fn order(s: State) -> u8 {
    match s {
        State::Ready => 0,
        State::Degraded => 1,
        State::Failed => 2,
        State::Building => 3,
        State::Starting => 4,
        State::Updating => 5,
        State::Preparing => 6,
        State::Pending => 7,
        State::Stopping => 8,
        State::Removing => 9,
        State::Stopped => 10,
        State::Gone => 11,
    }
}

fn entry(p: &PreviewRecord) -> TrayEntry {
    TrayEntry {
        id: p.id.clone(),
        label: format!("{}/{} — {}", p.repo, p.branch, p.state.as_str()),
        url: p.urls.first().map(|u| u.url.clone()),
        startable: matches!(p.state, State::Stopped | State::Degraded | State::Failed),
    }
}

/// Builds the tray menu for a model, from [`TrayModel::menu_items`].
fn menu<R: Runtime>(app: &AppHandle<R>, model: &TrayModel) -> tauri::Result<Menu<R>> {
    let mut m = MenuBuilder::new(app);
    for item in model.menu_items() {
        m = match item {
            MenuItem::Text { id, label } => m.text(id, label),
            MenuItem::Separator => m.separator(),
            MenuItem::Sub { label, items } => {
                let mut sub = SubmenuBuilder::new(app, &label);
                for i in items {
                    if let MenuItem::Text { id, label } = i {
                        sub = sub.text(id, label);
                    }
                }
                m.item(&sub.build()?)
            }
        };
    }
    m.build()
}

/// Shows the tray icon and keeps it current with engine events.
///
/// # Errors
/// When the platform refuses the tray icon.
pub fn install<R: Runtime>(app: &AppHandle<R>, engine: Engine) -> tauri::Result<()> {
    let model = TrayModel::from_previews(&[]);
    let tray = TrayIconBuilder::with_id(TRAY_ID)
        .icon(model.aggregate.icon())
        .tooltip(&model.tooltip)
        .menu(&menu(app, &model)?)
        .on_menu_event(on_menu)
        .build(app)?;
    crate::probe::tray(&model);
    let mut rx = engine.subscribe();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut shown = model;
        refresh(&app, &tray, &engine, &mut shown).await;
        loop {
            match rx.recv().await {
                Ok(Event::State { .. } | Event::BranchGone { .. }) => {}
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
            refresh(&app, &tray, &engine, &mut shown).await;
        }
    });
    Ok(())
}

/// Recomputes the model and redraws the tray only when it changed.
async fn refresh<R: Runtime>(
    app: &AppHandle<R>,
    tray: &TrayIcon<R>,
    engine: &Engine,
    shown: &mut TrayModel,
) {
    // The records alone: the tray draws states, so it need not ask Docker.
    let previews = match engine.records() {
        Ok(v) => v,
        Err(e) => return tracing::warn!(error = %e, "tray cannot list previews"),
    };
    let model = TrayModel::from_previews(&previews);
    if model == *shown {
        return;
    }
    crate::probe::tray(&model);
    let result = (|| {
        tray.set_icon(Some(model.aggregate.icon()))?;
        tray.set_tooltip(Some(&model.tooltip))?;
        tray.set_menu(Some(menu(app, &model)?))
    })();
    if let Err(e) = result {
        tracing::warn!(error = %e, "tray update failed");
    }
    *shown = model;
}

fn on_menu<R: Runtime>(app: &AppHandle<R>, ev: MenuEvent) {
    let Some(action) = TrayAction::parse(ev.id().as_ref()) else {
        return;
    };
    let engine = app.state::<Engine>().inner().clone();
    match action {
        TrayAction::Open(url) => {
            if let Err(e) = crate::browser::open(&url) {
                tracing::warn!(error = %e, "cannot open preview URL");
            }
        }
        TrayAction::Stop(id) => {
            tauri::async_runtime::spawn(async move {
                if let Err(e) = engine.stop(&PreviewRef::Id(id)).await {
                    tracing::warn!(error = %e, "tray stop failed");
                }
            });
        }
        TrayAction::Start(id) => {
            tauri::async_runtime::spawn(async move {
                if let Err(e) = engine.start(&PreviewRef::Id(id)).await {
                    tracing::warn!(error = %e, "tray start failed");
                }
            });
        }
        TrayAction::Show => crate::show_main(app),
        // Previews are Docker containers: they keep running after the app exits.
        TrayAction::Quit => app.exit(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use branchyard_core::store::Urls;

    fn preview(id: &str, state: State) -> PreviewRecord {
        PreviewRecord {
            id: id.to_string(),
            repo: "shop".to_string(),
            branch: id.to_string(),
            slug: id.to_string(),
            project: format!("by-shop-{id}"),
            state,
            desired: "running".to_string(),
            commit_sha: None,
            outdated_sha: None,
            branch_gone: false,
            worktree: String::new(),
            urls: vec![Urls {
                service: "web".to_string(),
                host: format!("{id}.shop.localhost"),
                url: format!("http://{id}.shop.localhost"),
            }],
            error: None,
            created_at: 0,
            updated_at: 0,
            services: vec!["web".to_string()],
        }
    }

    #[test]
    fn no_previews_is_idle_with_a_hint() {
        let m = TrayModel::from_previews(&[]);
        assert_eq!(m.aggregate, Aggregate::Idle);
        assert_eq!(m.aggregate.icon_file(), "tray-idle.png");
        assert_eq!(m.tooltip, "Branchyard: no previews");
        assert!(m.entries.is_empty());
    }

    #[test]
    fn ready_and_building_previews_read_as_busy_with_counts() {
        let ps = [
            preview("a", State::Ready),
            preview("b", State::Building),
            preview("c", State::Ready),
            preview("d", State::Ready),
        ];
        let m = TrayModel::from_previews(&ps);
        assert_eq!(m.aggregate, Aggregate::Busy);
        assert_eq!(m.tooltip, "3 ready · 1 building");
    }

    #[test]
    fn one_failed_preview_turns_the_icon_failed() {
        let ps = [preview("a", State::Ready), preview("b", State::Failed)];
        let m = TrayModel::from_previews(&ps);
        assert_eq!(m.aggregate, Aggregate::Failed);
        assert_eq!(m.aggregate.icon_file(), "tray-failed.png");
        assert_eq!(m.tooltip, "1 ready · 1 failed");
    }

    #[test]
    fn a_degraded_preview_needs_attention_with_its_own_icon_and_count() {
        let ps = [
            preview("a", State::Ready),
            preview("b", State::Degraded),
            preview("c", State::Ready),
            preview("d", State::Starting),
        ];
        let m = TrayModel::from_previews(&ps);
        assert_eq!(
            m.aggregate,
            Aggregate::Degraded,
            "a degraded preview outranks one that is merely busy"
        );
        assert_eq!(m.aggregate.icon_file(), "tray-degraded.png");
        assert_eq!(m.tooltip, "2 ready · 1 degraded · 1 starting");
        assert_eq!(m.entries[1].label, "shop/b — degraded");
        assert!(
            m.entries[1].startable,
            "Start is what restarts its services"
        );
    }

    #[test]
    fn a_failed_preview_outranks_a_degraded_one() {
        let ps = [preview("a", State::Degraded), preview("b", State::Failed)];
        let m = TrayModel::from_previews(&ps);
        assert_eq!(m.aggregate, Aggregate::Failed);
        assert_eq!(m.tooltip, "1 degraded · 1 failed");
    }

    #[test]
    fn only_ready_or_stopped_previews_read_as_ready_or_idle() {
        let ready =
            TrayModel::from_previews(&[preview("a", State::Ready), preview("b", State::Stopped)]);
        assert_eq!(ready.aggregate, Aggregate::Ready);
        let idle = TrayModel::from_previews(&[preview("b", State::Stopped)]);
        assert_eq!(idle.aggregate, Aggregate::Idle);
        assert_eq!(idle.tooltip, "1 stopped");
    }

    #[test]
    fn entries_offer_the_url_and_stop_or_start() {
        let m =
            TrayModel::from_previews(&[preview("a", State::Ready), preview("b", State::Stopped)]);
        assert_eq!(m.entries[0].label, "shop/a — ready");
        assert_eq!(m.entries[0].url.as_deref(), Some("http://a.shop.localhost"));
        assert!(!m.entries[0].startable);
        assert!(m.entries[1].startable);
    }

    #[test]
    fn the_menu_text_lists_each_preview_with_its_actions() {
        let m =
            TrayModel::from_previews(&[preview("a", State::Ready), preview("b", State::Stopped)]);
        assert_eq!(
            m.menu_text(),
            "shop/a — ready ▸\n    Open http://a.shop.localhost\n    Stop\n\
             shop/b — stopped ▸\n    Open http://b.shop.localhost\n    Start\n\
             ────────\nShow Branchyard\nQuit\n"
        );
        assert_eq!(
            TrayModel::from_previews(&[]).menu_text(),
            "Show Branchyard\nQuit\n"
        );
    }

    #[test]
    fn menu_ids_round_trip_to_actions() {
        for a in [
            TrayAction::Open("http://a.shop.localhost:8080".to_string()),
            TrayAction::Stop("shop/a".to_string()),
            TrayAction::Start("shop/a".to_string()),
            TrayAction::Show,
            TrayAction::Quit,
        ] {
            assert_eq!(TrayAction::parse(&a.menu_id()), Some(a));
        }
        assert_eq!(TrayAction::parse("nonsense"), None);
    }

    #[test]
    fn an_unchanged_preview_list_gives_an_equal_model() {
        let ps = [preview("a", State::Ready)];
        assert_eq!(TrayModel::from_previews(&ps), TrayModel::from_previews(&ps));
        let moved = [preview("a", State::Stopping)];
        assert_ne!(
            TrayModel::from_previews(&ps),
            TrayModel::from_previews(&moved)
        );
    }
}
