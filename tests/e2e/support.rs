//! Shared fixtures: a Branchyard home per test run, the CLI binary, a test
//! image built FROM scratch around Debian's busybox-static, fixture repos made
//! with real git, and a sweep of everything labelled as ours.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The label every Docker object a test creates carries.
pub const TEST_LABEL: &str = "dev.branchyard.test";

/// The busybox base image tests build their services from.
pub const BASE_IMAGE: &str = "branchyard-test-busybox:1";

/// The test gateway's container name (a developer's own gateway is left alone);
/// `BRANCHYARD_TEST_GATEWAY` picks another, so two checkouts can test at once.
pub static GATEWAY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    std::env::var("BRANCHYARD_TEST_GATEWAY").unwrap_or_else(|_| "branchyard-gateway-test".into())
});

/// The gateway's HTTP port in tests (not 80, so a developer's own gateway is left
/// alone); `BRANCHYARD_TEST_HTTP_PORT` picks another.
pub static HTTP_PORT: std::sync::LazyLock<u16> = std::sync::LazyLock::new(|| {
    std::env::var("BRANCHYARD_TEST_HTTP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(18480)
});

/// The gateway's HTTPS port in tests; `BRANCHYARD_TEST_HTTPS_PORT` picks another.
pub static HTTPS_PORT: std::sync::LazyLock<u16> = std::sync::LazyLock::new(|| {
    std::env::var("BRANCHYARD_TEST_HTTPS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(18443)
});

/// The CLI binary, built by `scripts/test` before the tests run.
pub fn cli_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BRANCHYARD_BIN") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/branchyard");
    assert!(
        p.exists(),
        "{} is missing: build it with `cargo build -p branchyard-cli` (scripts/test does)",
        p.display()
    );
    p
}

/// One Branchyard home for this test run, with the test gateway port set.
pub struct Env {
    /// `$BRANCHYARD_HOME`.
    pub home: tempfile::TempDir,
    /// Where fixture repos live.
    pub repos: tempfile::TempDir,
}

impl Env {
    /// The home shared by every test of this run: one gateway serves them all,
    /// as it would serve a user's previews. Each test uses its own repos.
    pub fn shared() -> &'static Env {
        static ENV: OnceLock<Env> = OnceLock::new();
        ENV.get_or_init(|| {
            base_image();
            let env = Env {
                home: tempfile::tempdir().expect("temp home"),
                repos: tempfile::tempdir().expect("temp repos"),
            };
            for (key, port) in [
                ("gateway.http_port", *HTTP_PORT),
                ("gateway.https_port", *HTTPS_PORT),
            ] {
                let out = env.by(&["settings", "set", key, &port.to_string()]);
                assert!(out.status.success(), "settings set: {}", text(&out));
            }
            env
        })
    }

    /// Runs `branchyard args…` against this home.
    pub fn by(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run branchyard")
    }

    /// `branchyard args…` as a command to adjust before running.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(cli_bin());
        c.args(args)
            .env("BRANCHYARD_HOME", self.home.path())
            .env("BRANCHYARD_EXTRA_LABELS", format!("{TEST_LABEL}=1"))
            .env("BRANCHYARD_GATEWAY_NAME", &*GATEWAY);
        c
    }

    /// Runs `branchyard args…` and asserts it succeeded.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.by(args);
        assert!(
            out.status.success(),
            "branchyard {args:?} failed:\n{}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Runs `branchyard --json args…` and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let s = self.ok(&a);
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("{a:?} printed no JSON ({e}):\n{s}"))
    }
}

/// stdout and stderr of a run, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a shell command line, panicking with its output when it fails.
pub fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("sh");
    assert!(out.status.success(), "`{script}` failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Builds the busybox base image once per test run.
pub fn base_image() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy("/bin/busybox", dir.path().join("busybox")).expect(
            "/bin/busybox is missing: install Debian's busybox-static (scripts/test does)",
        );
        std::fs::write(
            dir.path().join("Dockerfile"),
            format!(
                "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\",\"--install\",\"-s\",\"/bin\"]\nLABEL {TEST_LABEL}=1\n"
            ),
        )
        .expect("write Dockerfile");
        sh(dir.path(), &format!("docker build -q -t {BASE_IMAGE} . >/dev/null"));
    });
}

/// An image with git: the host's `/usr/bin/git` and the shared libraries it
/// loads, over the busybox base (no registry is reachable to pull one).
pub const GIT_IMAGE: &str = "branchyard-test-git:1";

/// Builds [`GIT_IMAGE`] once per test run.
pub fn git_image() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        base_image();
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        let ldd = sh(Path::new("/"), "ldd /usr/bin/git");
        let mut files = vec![PathBuf::from("/usr/bin/git")];
        for line in ldd.lines() {
            // `libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`.
            let path = line
                .split("=>")
                .last()
                .unwrap_or("")
                .split_whitespace()
                .next();
            if let Some(p) = path.filter(|p| p.starts_with('/')) {
                files.push(PathBuf::from(p));
            }
        }
        for f in &files {
            let to = root.join(f.strip_prefix("/").expect("absolute"));
            std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
            std::fs::copy(f, &to).unwrap_or_else(|e| panic!("copy {}: {e}", f.display()));
        }
        std::fs::write(
            dir.path().join("Dockerfile"),
            format!("FROM {BASE_IMAGE}\nCOPY root/ /\nLABEL {TEST_LABEL}=1\n"),
        )
        .expect("write Dockerfile");
        sh(
            dir.path(),
            &format!("docker build -q -t {GIT_IMAGE} . >/dev/null"),
        );
    });
}

/// Fetches `path` through the test gateway with `Host: host`; `(status, body)`.
/// A raw HTTP/1.1 exchange, so error pages' bodies are seen too.
pub fn get(host: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", *HTTP_PORT)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return (0, text);
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    )
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Polls `f` until it returns `Some`, or panics with `what` after `limit`.
pub fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Names of Docker objects of `kind` (container, network, volume) with label `label`.
pub fn docker_names(kind: &str, label: &str) -> Vec<String> {
    let fmt = if kind == "container" {
        "{{.Names}}"
    } else {
        "{{.Name}}"
    };
    let ls = if kind == "container" { "ps -a" } else { "ls" };
    let cmd = if kind == "container" {
        format!("docker {ls} --filter label={label} --format '{fmt}'")
    } else {
        format!("docker {kind} {ls} --filter label={label} --format '{fmt}'")
    };
    sh(Path::new("/"), &cmd)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The preview `id` as `branchyard --json ls` shows it, if it exists.
pub fn preview(env: &Env, id: &str) -> Option<serde_json::Value> {
    let ls = env.json(&["ls"]);
    ls.as_array()?.iter().find(|p| p["id"] == id).cloned()
}

/// A Branchyard home and a docker config directory of a test's own, with the
/// environment's Docker variables cleared.
pub struct Isolated {
    /// `$BRANCHYARD_HOME`.
    pub home: tempfile::TempDir,
    /// `$DOCKER_CONFIG`.
    pub config: tempfile::TempDir,
}

impl Isolated {
    /// New, empty ones.
    pub fn new() -> Isolated {
        Isolated {
            home: tempfile::tempdir().unwrap(),
            config: tempfile::tempdir().unwrap(),
        }
    }

    /// `branchyard args…` with `env` added.
    pub fn cmd(&self, args: &[&str], env: &[(&str, String)]) -> Command {
        let mut c = Command::new(cli_bin());
        clear_docker_env(&mut c);
        c.args(args)
            .env("BRANCHYARD_HOME", self.home.path())
            .env("BRANCHYARD_GATEWAY_NAME", &*GATEWAY)
            .env("DOCKER_CONFIG", self.config.path());
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    /// Runs `branchyard args…` with `env` added.
    pub fn run(&self, args: &[&str], env: &[(&str, String)]) -> Output {
        self.cmd(args, env).output().expect("run branchyard")
    }

    /// `branchyard --json doctor …` (it exits 1 here: no gateway runs in this home).
    pub fn doctor(&self, args: &[&str], env: &[(&str, String)]) -> (serde_json::Value, Output) {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        a.push("doctor");
        let out = self.run(&a, env);
        let v = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("doctor printed no JSON ({e}):\n{}", text(&out)));
        (v, out)
    }
}

/// Removes the variables that choose a Docker engine, so a test says which it means.
pub fn clear_docker_env(c: &mut Command) {
    for k in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_TLS",
        "DOCKER_CERT_PATH",
    ] {
        c.env_remove(k);
    }
}
