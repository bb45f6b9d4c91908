//! A second Docker engine on this machine, reached over TCP with mutual TLS:
//! `dockerd` in a network namespace made for it (a veth pair, addresses in
//! 10.231.X.0/30 only), with its own data, exec root, pid file and socket, and
//! certificates made here. Everything is removed on drop, also after a failed
//! assertion. Needs root, `ip`, `nsenter` and `dockerd`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// The engine's TLS port inside its namespace.
pub const TLS_PORT: u16 = 2376;

/// A running second engine; dropping it stops and removes everything.
pub struct SecondEngine {
    /// Scratch directory: data, exec root, pid file, socket, certificates, log.
    pub dir: PathBuf,
    /// The network namespace's name.
    pub netns: String,
    /// The host side of the veth pair.
    pub veth: String,
    /// The engine's address inside the namespace (`10.231.X.2`).
    pub addr: String,
    /// `tcp://10.231.X.2:2376`.
    pub host: String,
    /// `ca.pem`, `cert.pem`, `key.pem` for a client (DOCKER_CERT_PATH).
    pub client_certs: PathBuf,
    /// The engine's own unix socket (no TLS), to ask it things directly.
    pub socket: PathBuf,
    child: Option<Child>,
}

/// A CA made for a test, and what it can issue.
pub struct TestCa {
    /// Its certificate, PEM.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// A new self-signed CA.
    pub fn new(cn: &str) -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut p = CertificateParams::new(vec![]).expect("CA params");
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = p.self_signed(&key).expect("CA cert").pem();
        TestCa {
            pem,
            issuer: Issuer::new(p, key),
        }
    }

    /// A leaf for `sans` with extended key usage `eku`: (cert PEM, key PEM).
    pub fn issue(&self, sans: Vec<SanType>, eku: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().expect("leaf key");
        let mut p = CertificateParams::new(vec![]).expect("leaf params");
        p.subject_alt_names = sans;
        p.extended_key_usages = vec![eku];
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let cert = p.signed_by(&key, &self.issuer).expect("leaf cert");
        (cert.pem(), key.serialize_pem())
    }

    /// Writes `ca.pem` and a client `cert.pem`/`key.pem` issued by this CA into `dir`.
    pub fn write_client_dir(&self, dir: &Path) {
        std::fs::create_dir_all(dir).expect("mkdir certs");
        let (cert, key) = self.issue(vec![], ExtendedKeyUsagePurpose::ClientAuth);
        std::fs::write(dir.join("ca.pem"), &self.pem).expect("ca.pem");
        std::fs::write(dir.join("cert.pem"), cert).expect("cert.pem");
        std::fs::write(dir.join("key.pem"), key).expect("key.pem");
    }
}

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    } else {
        Err(format!(
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(cmd: &str, args: &[&str]) -> String {
    run(cmd, args).unwrap_or_else(|e| panic!("{e}"))
}

/// A /30 in 10.231.0.0/16 that no interface of this machine uses yet.
fn free_subnet() -> u8 {
    let used = must("ip", &["-o", "-4", "addr", "show"]);
    let start = (std::process::id() % 200) as u8 + 20;
    (0..=234u8)
        .map(|i| ((start as u16 + i as u16) % 234 + 20) as u8)
        .find(|x| !used.contains(&format!("10.231.{x}.")))
        .expect("a free 10.231.X.0/30")
}

/// Whether this dockerd still takes `deprecated-key-path` (its ID comes from
/// that key up to Engine 22; from 23 on it is kept in the data root).
fn dockerd_uses_trust_key() -> bool {
    let v = must("dockerd", &["--version"]);
    let major = v
        .split_whitespace()
        .nth(2)
        .and_then(|s| s.split('.').next())
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(0);
    major < 23
}

impl SecondEngine {
    /// Starts it and waits until it answers on its socket.
    pub fn start() -> SecondEngine {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let dir = tempfile::Builder::new()
            .prefix("by2e-")
            .tempdir()
            .expect("tempdir")
            .keep();
        let x = free_subnet();
        let mut engine = SecondEngine {
            netns: format!("byt-{pid}-{n}"),
            veth: format!("byh{}{n}", pid % 100_000),
            addr: format!("10.231.{x}.2"),
            host: format!("tcp://10.231.{x}.2:{TLS_PORT}"),
            client_certs: dir.join("client"),
            socket: dir.join("docker.sock"),
            dir,
            child: None,
        };
        engine.network(x, &format!("byn{}{n}", pid % 100_000));
        engine.certificates_and_daemon();
        engine
    }

    fn network(&self, x: u8, peer: &str) {
        must("ip", &["netns", "add", &self.netns]);
        must(
            "ip",
            &[
                "link", "add", &self.veth, "type", "veth", "peer", "name", peer,
            ],
        );
        must("ip", &["link", "set", peer, "netns", &self.netns]);
        must(
            "ip",
            &[
                "addr",
                "add",
                &format!("10.231.{x}.1/30"),
                "dev",
                &self.veth,
            ],
        );
        must("ip", &["link", "set", &self.veth, "up"]);
        let inside = |args: &[&str]| {
            let mut a = vec!["netns", "exec", &self.netns, "ip"];
            a.extend_from_slice(args);
            must("ip", &a);
        };
        inside(&["addr", "add", &format!("{}/30", self.addr), "dev", peer]);
        inside(&["link", "set", peer, "up"]);
        inside(&["link", "set", "lo", "up"]);
    }

    fn certificates_and_daemon(&mut self) {
        let ca = TestCa::new("branchyard second engine CA");
        let ip: std::net::IpAddr = self.addr.parse().expect("ip");
        let (server_cert, server_key) = ca.issue(
            vec![SanType::IpAddress(ip)],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let server = self.dir.join("server");
        std::fs::create_dir_all(&server).expect("mkdir server");
        std::fs::write(server.join("ca.pem"), &ca.pem).expect("ca");
        std::fs::write(server.join("cert.pem"), server_cert).expect("cert");
        std::fs::write(server.join("key.pem"), server_key).expect("key");
        ca.write_client_dir(&self.client_certs);

        let d = |p: &str| self.dir.join(p).display().to_string();
        let mut args = vec![
            format!("--net=/var/run/netns/{}", self.netns),
            "dockerd".into(),
            "--data-root".into(),
            d("data"),
            "--exec-root".into(),
            d("exec"),
            "--pidfile".into(),
            d("docker.pid"),
            "-H".into(),
            format!("unix://{}", self.socket.display()),
            "-H".into(),
            format!("tcp://{}:{TLS_PORT}", self.addr),
            "--tlsverify".into(),
            "--tlscacert".into(),
            d("server/ca.pem"),
            "--tlscert".into(),
            d("server/cert.pem"),
            "--tlskey".into(),
            d("server/key.pem"),
            // No docker0 of its own: the first engine's stays untouched.
            "--bridge=none".into(),
        ];
        // Its own identity: up to Engine 22 the ID is the trust key's, shared
        // with the first engine unless it gets a key of its own.
        let config = self.dir.join("daemon.json");
        let daemon = if dockerd_uses_trust_key() {
            serde_json::json!({ "deprecated-key-path": d("key.json") })
        } else {
            serde_json::json!({})
        };
        std::fs::write(&config, daemon.to_string()).expect("daemon.json");
        args.extend(["--config-file".into(), config.display().to_string()]);
        let log = std::fs::File::create(self.dir.join("dockerd.log")).expect("log");
        let child = Command::new("nsenter")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("nsenter dockerd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.own_info("{{.ID}}").is_ok() {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "the second dockerd did not come up ({exited:?}):\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `docker -H unix://<its socket> info --format FORMAT`, straight from the engine.
    pub fn own_info(&self, format: &str) -> Result<String, String> {
        run(
            "docker",
            &[
                "-H",
                &format!("unix://{}", self.socket.display()),
                "info",
                "--format",
                format,
            ],
        )
        .map(|s| s.trim().to_string())
    }

    /// The engine's ID as it reports it itself.
    pub fn id(&self) -> String {
        self.own_info("{{.ID}}").expect("second engine info")
    }

    /// DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH for reaching it.
    pub fn tls_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DOCKER_HOST", self.host.clone()),
            ("DOCKER_TLS_VERIFY", "1".into()),
            ("DOCKER_CERT_PATH", self.client_certs.display().to_string()),
        ]
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn stop_daemon(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let _ = run("kill", &["-TERM", &pid]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // A containerd it managed that outlived it (after a SIGKILL).
        let containerd_pid = self.dir.join("exec/containerd/containerd.pid");
        if let Ok(p) = std::fs::read_to_string(containerd_pid) {
            let _ = run("kill", &["-KILL", p.trim()]);
        }
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        self.stop_daemon();
        // Mounts it left under its directory (none after a clean stop).
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let prefix = self.dir.display().to_string();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = run("umount", &["-l", m]);
        }
        let _ = run("ip", &["netns", "del", &self.netns]);
        let _ = run("ip", &["link", "del", &self.veth]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
