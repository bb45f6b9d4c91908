//! A preview's whole life in the real window: Preview on a branch, the ready
//! badge, its URL fetched through the real gateway, logs, Stop from the UI,
//! start and stop from the CLI (another process), a `docker kill` seen on the
//! card, the tray model after each change, notifications, single instance.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::fixture;
use crate::support::{self, Env, GATEWAY, TEST_LABEL};
use crate::{launch, missing, root, shot, text_of};

/// Prints five thousand lines a second: the logs panel must stay usable.
const CHATTY: &str = "while true; do seq 1 5000; sleep 1; done";

fn shop(env: &Env) -> PathBuf {
    let compose = format!(
        "services:\n  web:\n    build: .\n    init: true\n    expose: [\"8080\"]\n  worker:\n    build: ./worker\n    init: true\n    command: [\"sh\", \"-c\", \"{CHATTY}\"]\n"
    );
    let worker = format!("FROM {}\n", support::BASE_IMAGE);
    // A step that takes a moment and is never cached, so the build view is seen.
    let nonce = branchyard_core::store::now_ms();
    let dockerfile = format!(
        "{}RUN echo building the page {nonce} && sleep 2\n",
        fixture::httpd_dockerfile()
    );
    let dir = fixture::repo(
        env,
        "shop",
        &[
            ("compose.yaml", &compose),
            ("Dockerfile", &dockerfile),
            ("www/index.html", "branch main\n"),
            ("worker/Dockerfile", &worker),
        ],
    );
    fixture::commit_on(
        &dir,
        "feature-login",
        &[("www/index.html", "login\n")],
        "Add login form",
    );
    dir
}

/// What the app last wrote for its tray (see src-tauri/src/probe.rs).
fn tray(probe: &Path) -> Option<Value> {
    let s = std::fs::read_to_string(probe.join("tray.json")).ok()?;
    serde_json::from_str(&s).ok()
}

/// Waits until the tray model's tooltip is `tooltip`; returns the menu text.
fn tray_shows(probe: &Path, tooltip: &str) -> String {
    support::eventually(
        Duration::from_secs(10),
        &format!("the tray tooltip {tooltip:?}"),
        || {
            let t = tray(probe)?;
            (t["model"]["tooltip"] == tooltip).then(|| t["menu_text"].as_str().unwrap().to_string())
        },
    )
}

/// An element's textContent, read in one script (cards are redrawn often).
async fn js_text(c: &Client, css: &str) -> String {
    let v = c
        .execute(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null",
            vec![json!(css)],
        )
        .await
        .unwrap();
    v.as_str().unwrap_or_else(|| panic!("no {css}")).to_string()
}

/// Waits until `css` matches. One script per look rather than a WebDriver find:
/// cards are redrawn on every event, and a node found mid-redraw goes stale
/// before WebDriver can hand it over.
async fn wait_css(c: &Client, css: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let found = c
            .execute(
                "return document.querySelector(arguments[0]) !== null",
                vec![json!(css)],
            )
            .await;
        if matches!(found, Ok(Value::Bool(true))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {css} within {secs} s (last answer: {found:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn click_button(c: &Client, card: &str, label: &str) {
    let xpath = format!("//article[@data-id='{card}']//button[normalize-space(text())='{label}']");
    c.find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no {label} button on {card}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Records, in the page, when a killed service first shows on the card.
const WATCH_KILL: &str = r#"
window.__killSeen = null;
const seen = () => document.querySelector('article.card[data-id="main.shop"] table.services .badge.exited, article.card[data-id="main.shop"] table.services .badge.oom_killed');
new MutationObserver((_, obs) => {
  if (!window.__killSeen && seen()) { window.__killSeen = Date.now(); obs.disconnect(); }
}).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
"#;

/// Cleans up the preview even when an assertion fails midway.
struct Down<'a>(&'a Env);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.0.by(&["down", "main.shop", "--volumes"]);
    }
}

#[tokio::test]
async fn a_preview_lives_its_whole_life_in_the_window() {
    let app = root().join("target/debug/branchyard-desktop");
    if let Some(why) = missing(&app) {
        eprintln!("skipping the desktop preview test: {why}");
        return;
    }
    let env = Env::shared();
    let repo = shop(env);
    let probe = tempfile::tempdir().unwrap();
    let labels = format!("{TEST_LABEL}=1");
    let (driver, c) = launch(
        &app,
        &[
            ("BRANCHYARD_HOME", env.home.path().as_os_str()),
            ("BRANCHYARD_EXTRA_LABELS", labels.as_ref()),
            ("BRANCHYARD_GATEWAY_NAME", GATEWAY.as_ref()),
            ("BRANCHYARD_APP_PROBE", probe.path().as_os_str()),
        ],
    )
    .await;
    let _down = Down(env);
    wait_css(&c, "#repos .empty", 15).await;
    tray_shows(probe.path(), "Branchyard: no previews");

    // Add the repo and preview main.
    c.find(Locator::Id("repo-path"))
        .await
        .unwrap()
        .send_keys(&repo.to_string_lossy())
        .await
        .unwrap();
    c.find(Locator::Css("#add-repo button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_css(&c, "li.branch[data-branch='main'] button", 15).await;
    c.find(Locator::Css("li.branch[data-branch='main'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Build output reaches the card through its channel while the build runs.
    let output = "article.card[data-id='main.shop'] pre.output";
    wait_css(&c, output, 60).await;
    let started = Instant::now();
    while !js_text(&c, output).await.contains("building the page") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the build's own line never showed: {:?}",
            js_text(&c, output).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shot(&c, "10-building").await;
    wait_css(
        &c,
        "article.card[data-id='main.shop'] header .badge.ready",
        180,
    )
    .await;
    // The card's URLs come with the list reloaded after the state change.
    wait_css(&c, "article.card[data-id='main.shop'] ul.urls a", 15).await;
    wait_css(&c, "li.branch[data-branch='main'] .badge.ready", 15).await;
    shot(&c, "11-ready").await;

    // The URL the card shows answers through the gateway.
    // Read in one script: the card may be redrawn between a find and a read.
    let url = c
        .execute(
            "return document.querySelector(\"article.card[data-id='main.shop'] ul.urls a\").textContent",
            vec![],
        )
        .await
        .unwrap();
    let url = url.as_str().unwrap().to_string();
    let host = url
        .trim_start_matches("http://")
        .split([':', '/'])
        .next()
        .unwrap()
        .to_string();
    assert_eq!(host, "main.shop.localhost", "card URL {url}");
    let (status, body) = support::get(&host, "/");
    assert_eq!((status, body.as_str()), (200, "branch main\n"), "GET {url}");
    let menu = tray_shows(probe.path(), "1 ready");
    assert!(
        menu.contains("shop/main — ready ▸\n    Open http://main.shop.localhost"),
        "{menu}"
    );
    assert!(menu.contains("    Stop\n"), "{menu}");
    let notes =
        std::fs::read_to_string(probe.path().join("notifications.jsonl")).unwrap_or_default();
    assert!(
        notes.contains("\"title\":\"main.shop is ready\""),
        "no ready notification was handed to the platform: {notes:?}"
    );

    // Logs: the chatty worker streams in, capped, and the filter narrows it.
    click_button(&c, "main.shop", "Logs").await;
    wait_css(&c, "#logs:not([hidden])", 5).await;
    c.find(Locator::Css("#logs-service option[value='worker']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let logs_start = Instant::now();
    loop {
        let info = js_text(&c, "#logs-info").await;
        if info.contains("skipped") {
            break;
        }
        assert!(
            logs_start.elapsed() < Duration::from_secs(20),
            "the rate cap never showed: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lines: u64 = c
        .execute(
            "return document.getElementById('logs-out').textContent.split('\\n').length",
            vec![],
        )
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    assert!(
        lines <= 5000,
        "the panel keeps at most 5000 lines, shows {lines}"
    );
    c.find(Locator::Id("logs-filter"))
        .await
        .unwrap()
        .send_keys("4999")
        .await
        .unwrap();
    let shown = js_text(&c, "#logs-out").await;
    assert!(
        !shown.is_empty() && shown.lines().all(|l| l.contains("4999")),
        "{shown:?}"
    );
    shot(&c, "12-logs").await;
    c.find(Locator::Id("logs-close"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // Stop from the UI.
    click_button(&c, "main.shop", "Stop").await;
    wait_css(
        &c,
        "article.card[data-id='main.shop'] header .badge.stopped",
        60,
    )
    .await;
    shot(&c, "13-stopped").await;
    let menu = tray_shows(probe.path(), "1 stopped");
    assert!(menu.contains("    Start\n"), "{menu}");

    // Started by another process: the window hears it without reloading.
    env.ok(&["start", "main.shop"]);
    wait_css(
        &c,
        "article.card[data-id='main.shop'] header .badge.ready",
        60,
    )
    .await;
    tray_shows(probe.path(), "1 ready");

    // A container killed behind our back shows on the card.
    let container = c
        .execute(
            "return [...document.querySelectorAll('article.card[data-id=\"main.shop\"] table.services td')].find(td => td.textContent === 'web').title",
            vec![],
        )
        .await
        .unwrap();
    let container = container.as_str().unwrap().to_string();
    c.execute(WATCH_KILL, vec![]).await.unwrap();
    let docker = bollard::Docker::connect_with_local_defaults().unwrap();
    let killed_at = branchyard_core::store::now_ms();
    docker
        .kill_container(
            &container,
            None::<bollard::query_parameters::KillContainerOptions>,
        )
        .await
        .unwrap();
    wait_css(
        &c,
        "article.card[data-id='main.shop'] table.services .badge.exited",
        10,
    )
    .await;
    let seen = c
        .execute("return window.__killSeen", vec![])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    shot(&c, "14-killed").await;
    record_latency(seen - killed_at);

    // The preview is honest about it: degraded, with what died, on the card and in the tray.
    wait_css(
        &c,
        "article.card[data-id='main.shop'] header .badge.degraded",
        20,
    )
    .await;
    let badge = js_text(&c, "article.card[data-id='main.shop'] header .badge").await;
    assert_eq!(badge.trim(), "degraded");
    let reason = js_text(&c, "article.card[data-id='main.shop'] .error-line").await;
    assert!(
        reason.contains("web exited with code 137 (killed)"),
        "the card names the dead service: {reason:?}"
    );
    let menu = tray_shows(probe.path(), "1 degraded");
    assert!(
        menu.contains("shop/main — degraded") && menu.contains("    Start\n"),
        "the tray offers Start for a degraded preview:\n{menu}"
    );
    assert_eq!(
        tray(probe.path()).unwrap()["model"]["aggregate"],
        "degraded",
        "the tray icon turns degraded"
    );
    support::eventually(Duration::from_secs(10), "the degraded notification", || {
        let notes = std::fs::read_to_string(probe.path().join("notifications.jsonl")).ok()?;
        notes
            .contains("\"title\":\"main.shop is degraded\"")
            .then_some(())
    });
    shot(&c, "14b-degraded").await;

    // Stopped by another process.
    env.ok(&["stop", "main.shop"]);
    wait_css(
        &c,
        "article.card[data-id='main.shop'] header .badge.stopped",
        60,
    )
    .await;
    tray_shows(probe.path(), "1 stopped");

    second_launch_hands_over(&app, env, probe.path());

    // The settings panel shows the gateway's port as set for this home.
    c.find(Locator::Id("open-settings"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_css(&c, "#settings:not([hidden])", 5).await;
    let port = c
        .execute(
            "return document.getElementById('set-http-port').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(port, json!(support::HTTP_PORT.to_string()));
    // And the Docker engine in use, as `branchyard doctor` names it.
    let id = Command::new("docker")
        .args(["info", "--format", "{{.ID}}"])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    let mut engine_text = String::new();
    for _ in 0..100 {
        engine_text = text_of(&c, "#engine-info").await;
        if engine_text.contains(&id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        engine_text.contains(&id) && engine_text.contains("chosen by"),
        "Settings shows the engine's ID and who chose it: {engine_text}"
    );
    let options = c
        .execute(
            "return [...document.querySelectorAll('#set-context option')].map(o => o.value)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        options[0],
        json!("default"),
        "the contexts to choose from: {options}"
    );
    shot(&c, "15-settings").await;

    c.close().await.unwrap();
    drop(driver);
}

/// A second launch of the app (same D-Bus session) hands over to the first and exits.
fn second_launch_hands_over(app: &Path, env: &Env, probe: &Path) {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        eprintln!("no D-Bus session: single instance not checked (run under dbus-run-session)");
        return;
    }
    let mut second = Command::new(app)
        .env("BRANCHYARD_HOME", env.home.path())
        .env("BRANCHYARD_GATEWAY_NAME", &*GATEWAY)
        .env("BRANCHYARD_EXTRA_LABELS", format!("{TEST_LABEL}=1"))
        .env("BRANCHYARD_APP_PROBE", probe)
        .env("NO_AT_BRIDGE", "1")
        .spawn()
        .unwrap();
    let status = support::eventually(Duration::from_secs(20), "the second launch to exit", || {
        second.try_wait().unwrap()
    });
    assert!(status.success(), "second launch: {status:?}");
    let handed = std::fs::read_to_string(probe.join("instances.jsonl")).unwrap_or_default();
    assert_eq!(
        handed.lines().count(),
        1,
        "the first instance heard: {handed:?}"
    );
}

/// Writes the kill-to-badge latency for scripts/bench-app.sh to collect.
fn record_latency(ms: i64) {
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let doc = json!({ "kill_to_badge_ms": ms, "measured_by": "tests/app a_preview_lives_its_whole_life_in_the_window" });
    std::fs::write(dir.join("app-latency.json"), doc.to_string()).unwrap();
    eprintln!("docker kill → card shows exited: {ms} ms");
}
