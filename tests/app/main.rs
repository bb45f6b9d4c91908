//! The desktop app end to end: the built `branchyard-desktop` driven through
//! `tauri-driver` + WebKitWebDriver under a display (run it under
//! `xvfb-run -a`, and `dbus-run-session` for single instance and
//! notifications). Skips, saying why, when any of those is missing.
//! Screenshots go to target/e2e-screenshots/.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used)]

// The e2e suite's fixtures: the busybox image, git repos, the CLI, the gateway.
#[allow(dead_code)]
#[path = "../e2e/fixture.rs"]
mod fixture;
mod previews;
#[allow(dead_code)]
#[path = "../e2e/support.rs"]
mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// The workspace root (this package lives in tests/).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn on_path(program: &str) -> Option<PathBuf> {
    let home_bin = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin"));
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(home_bin)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Why the test cannot run here, if it cannot.
pub(crate) fn missing(app: &Path) -> Option<String> {
    if !app.is_file() {
        return Some(format!(
            "{} is not built: run `cargo build -p branchyard-desktop` first",
            app.display()
        ));
    }
    if on_path("tauri-driver").is_none() {
        return Some("tauri-driver is not installed: `cargo install tauri-driver --locked`".into());
    }
    if on_path("WebKitWebDriver").is_none() {
        return Some("WebKitWebDriver is missing: `apt-get install webkit2gtk-driver`".into());
    }
    if std::env::var_os("DISPLAY").is_none() {
        return Some("no DISPLAY: run this test under `xvfb-run -a`".into());
    }
    None
}

/// tauri-driver, killed when dropped.
pub(crate) struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        // WebKitWebDriver and the app outlive tauri-driver when it is killed; the
        // app would then own the single-instance name and swallow the next launch.
        let tree = descendants(self.0.id());
        let _ = self.0.kill();
        let _ = self.0.wait();
        for pid in tree {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

/// Every process below `root` (children first found, then theirs).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name may hold spaces and parentheses: fields start after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid));
        }
    }
    let mut out = vec![];
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for (child, _) in parent_of.iter().filter(|(_, pp)| *pp == p) {
            out.push(*child);
            todo.push(*child);
        }
    }
    out
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?} failed");
}

pub(crate) async fn shot(c: &Client, name: &str) {
    let dir = root().join("target/e2e-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    // The app runs without GPU compositing (src-tauri/src/webview.rs), and
    // then WebKitWebDriver's screenshot waits for the page's next paint, which
    // an idle page never makes: a near-invisible outline painted just after
    // the request (and removed) gives it one.
    c.execute(
        "const s = document.documentElement.style;\
         setTimeout(() => { s.outline = '1px solid rgba(0,0,0,0.01)'; }, 150);\
         setTimeout(() => { s.outline = ''; }, 400);",
        vec![],
    )
    .await
    .unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// tauri-driver's port: `BRANCHYARD_TEST_DRIVER_PORT`, else its default
/// 4444; WebKitWebDriver behind it gets the next one, so two checkouts can
/// run their window tests at once.
fn driver_port() -> u16 {
    std::env::var("BRANCHYARD_TEST_DRIVER_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(4444)
}

/// Starts tauri-driver with `envs` (the app inherits them through
/// WebKitWebDriver) and opens a session on the app.
pub(crate) async fn launch(app: &Path, envs: &[(&str, &std::ffi::OsStr)]) -> (Driver, Client) {
    let port = driver_port();
    let mut cmd = Command::new(on_path("tauri-driver").unwrap());
    cmd.args(["--port", &port.to_string()])
        .args(["--native-port", &(port + 1).to_string()])
        .env("NO_AT_BRIDGE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let driver = Driver(cmd.spawn().unwrap());
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "tauri-driver did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert("tauri:options".into(), json!({"application": app}));
    // tauri-driver listens before WebKitWebDriver behind it does: on a loaded
    // machine the first session request can find nothing to forward to.
    let mut tries = 0;
    let c = loop {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(e) if tries < 5 => {
                tries += 1;
                eprintln!("no WebDriver session yet ({e}), retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => panic!("no WebDriver session: {e}"),
        }
    };
    (driver, c)
}

pub(crate) async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_repo_added_in_the_window_shows_its_branches_and_the_filter_narrows_them() {
    let app = root().join("target/debug/branchyard-desktop");
    if let Some(why) = missing(&app) {
        eprintln!("skipping the desktop end-to-end test: {why}");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let repos = tempfile::tempdir().unwrap();
    let repo = repos.path().join("shop");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(
        &repo,
        &["commit", "-q", "--allow-empty", "-m", "first commit"],
    );
    git(&repo, &["checkout", "-q", "-b", "feature-login"]);
    git(
        &repo,
        &["commit", "-q", "--allow-empty", "-m", "Add login form"],
    );
    git(&repo, &["checkout", "-q", "main"]);

    // The app brings up a gateway as soon as it opens: this home gets one of its
    // own, labelled and on a test port, so a developer's own gateway is never touched.
    let gateway = format!("{}-window", *support::GATEWAY);
    let labels = format!("{}=1", support::TEST_LABEL);
    let set_port = Command::new(support::cli_bin())
        // 18489 by default: beside the shared test gateway's port, moved with it.
        .args([
            "settings",
            "set",
            "gateway.http_port",
            &(*support::HTTP_PORT + 9).to_string(),
        ])
        .env("BRANCHYARD_HOME", home.path())
        .env("BRANCHYARD_GATEWAY_NAME", &gateway)
        .output()
        .unwrap();
    assert!(set_port.status.success(), "{}", support::text(&set_port));
    let (driver, c) = launch(
        &app,
        &[
            ("BRANCHYARD_HOME", home.path().as_os_str()),
            ("BRANCHYARD_EXTRA_LABELS", labels.as_ref()),
            ("BRANCHYARD_GATEWAY_NAME", gateway.as_ref()),
        ],
    )
    .await;

    let wait = || c.wait().at_most(Duration::from_secs(15));
    wait()
        .for_element(Locator::Css("#repos .empty"))
        .await
        .unwrap();
    assert!(text_of(&c, "#repos").await.contains("No repositories yet"));
    shot(&c, "01-empty").await;

    let field = c.find(Locator::Id("repo-path")).await.unwrap();
    field.send_keys(&repo.to_string_lossy()).await.unwrap();
    c.find(Locator::Css("#add-repo button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait().for_element(Locator::Css("li.branch")).await.unwrap();
    assert_eq!(text_of(&c, "#repos button.current").await.trim(), "shop");
    let seen = c
        .execute(
            "return [...document.querySelectorAll('li.branch .name')].map(e => e.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(seen, json!(["feature-login", "main"]), "newest first");
    shot(&c, "02-branches").await;

    c.find(Locator::Id("filter"))
        .await
        .unwrap()
        .send_keys("login")
        .await
        .unwrap();
    let rows = c.find_all(Locator::Css("li.branch")).await.unwrap();
    assert_eq!(rows.len(), 1);
    shot(&c, "03-filtered").await;

    c.close().await.unwrap();
    drop(driver);
}
