//! The built gateway binaries, as files: each is a static ELF for its CPU (a
//! small ELF reader here, so the check does not trust the code it checks), and
//! the aarch64 one serves HTTP and HTTPS under qemu's user-mode emulation.
//!
//! They need the binaries (`scripts/setup` builds both) and, for the
//! emulation, Debian's qemu-user-static; without them a test says SKIPPED and
//! passes, except under CI (`CI` set), where scripts/test has installed them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hyper::Method;

use super::admin::AdminClient;
use super::tests::get;
use super::{Arch, Lookup, Route, RouteTls};
use crate::tls::LocalCa;

/// Whether a missing tool or binary fails the test rather than skipping it.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// Says why a test cannot run: SKIPPED locally, a failure under CI.
fn skip(why: &str) {
    assert!(
        !in_ci(),
        "{why} (CI must have it: scripts/lib.sh setup_all)"
    );
    eprintln!("SKIPPED: {why}");
}

/// The built binary for `arch`, or `None` (after [`skip`]) when there is none.
pub(super) fn built(arch: Arch) -> Option<PathBuf> {
    match Lookup::from_process().locate(arch) {
        Ok(place) => Some(place.path),
        Err(e) => {
            skip(&e.to_string());
            None
        }
    }
}

/// What the checks need from an ELF file's headers.
#[derive(Debug)]
struct Elf {
    /// `e_machine`.
    machine: u16,
    /// A `PT_INTERP` program header: the file asks for a dynamic loader.
    interp: bool,
    /// `DT_NEEDED` entries: shared libraries it links against.
    needed: usize,
}

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;

/// Reads a little-endian ELF64 file's header, program headers and dynamic
/// section; an error for anything else.
fn read_elf(bytes: &[u8]) -> Result<Elf, String> {
    let u16_at = |o: usize| -> Result<u16, String> {
        let b = bytes.get(o..o + 2).ok_or("truncated")?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |o: usize| -> Result<u32, String> {
        let b = bytes.get(o..o + 4).ok_or("truncated")?;
        Ok(u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |o: usize| -> Result<u64, String> {
        let b = bytes.get(o..o + 8).ok_or("truncated")?;
        Ok(u64::from_le_bytes(b.try_into().unwrap()))
    };
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    if bytes[4] != 2 {
        return Err(format!("EI_CLASS {} is not ELFCLASS64", bytes[4]));
    }
    if bytes[5] != 1 {
        return Err(format!("EI_DATA {} is not little-endian", bytes[5]));
    }
    let machine = u16_at(18)?;
    let phoff = u64_at(32)? as usize;
    let phentsize = u16_at(54)? as usize;
    let phnum = u16_at(56)? as usize;
    let mut elf = Elf {
        machine,
        interp: false,
        needed: 0,
    };
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        match u32_at(ph)? {
            PT_INTERP => elf.interp = true,
            PT_DYNAMIC => {
                let (off, size) = (u64_at(ph + 8)? as usize, u64_at(ph + 32)? as usize);
                for entry in (off..off + size).step_by(16) {
                    match u64_at(entry)? {
                        DT_NULL => break,
                        DT_NEEDED => elf.needed += 1,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(elf)
}

/// Asserts `path` is a static ELF64 executable for `arch`.
fn assert_static_elf(path: &Path, arch: Arch) {
    let elf = read_elf(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        elf.machine,
        arch.elf_machine(),
        "{} must be built for {arch}",
        path.display()
    );
    assert!(
        !elf.interp,
        "{} asks for a dynamic loader (PT_INTERP): it cannot run FROM scratch",
        path.display()
    );
    assert_eq!(
        elf.needed,
        0,
        "{} needs shared libraries (DT_NEEDED): it cannot run FROM scratch",
        path.display()
    );
}

#[test]
fn the_aarch64_gateway_is_a_static_aarch64_elf() {
    if let Some(bin) = built(Arch::Aarch64) {
        assert_static_elf(&bin, Arch::Aarch64);
    }
}

#[test]
fn the_x86_64_gateway_is_a_static_x86_64_elf() {
    if let Some(bin) = built(Arch::X86_64) {
        assert_static_elf(&bin, Arch::X86_64);
    }
}

#[test]
fn the_elf_reader_sees_the_loader_and_libraries_of_a_dynamic_executable() {
    // This test binary is a glibc build: the reader must find what the
    // static checks above assert is absent, or they prove nothing.
    let me = std::env::current_exe().unwrap();
    let elf = read_elf(&std::fs::read(&me).unwrap()).unwrap();
    assert_eq!(
        elf.machine,
        if cfg!(target_arch = "aarch64") {
            183
        } else {
            62
        }
    );
    assert!(elf.interp, "{elf:?}");
    assert!(elf.needed > 0, "{elf:?}");
    assert!(read_elf(b"#!/bin/sh\n").is_err());
}

/// qemu's user-mode emulator for aarch64, when installed.
fn qemu_aarch64() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("qemu-aarch64-static"))
        .find(|p| p.is_file())
}

/// A free port on 127.0.0.1 (the kernel's choice, released for the gateway).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Answers every connection with one fixed 200.
async fn upstream(listener: tokio::net::TcpListener) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let body = "hello-from-upstream";
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(format!("{head}{body}").as_bytes()).await;
        });
    }
}

/// `curl` over HTTPS to `host` on 127.0.0.1:`port`, trusting only `ca`:
/// the body, or curl's complaint.
async fn curl_https(host: &str, port: u16, ca: &Path) -> Result<String, String> {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg(format!("https://{host}:{port}/"))
        .output()
        .await
        .map_err(|e| format!("curl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

#[tokio::test]
async fn the_aarch64_gateway_serves_http_and_https_under_emulation() {
    let Some(bin) = built(Arch::Aarch64) else {
        return;
    };
    let Some(qemu) = qemu_aarch64() else {
        skip("qemu-aarch64-static is not installed (Debian package qemu-user-static)");
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_port = listener.local_addr().unwrap().port();
    let serving = tokio::spawn(upstream(listener));
    let (http, admin, https) = (free_port(), free_port(), free_port());
    let state = tempfile::tempdir().unwrap();
    let token = "arch-smoke-token-0123456789";
    let mut gateway = tokio::process::Command::new(&qemu)
        .arg(&bin)
        .env("BRANCHYARD_GATEWAY_TOKEN", token)
        .env("BRANCHYARD_GATEWAY_LISTEN", format!("127.0.0.1:{http}"))
        .env(
            "BRANCHYARD_GATEWAY_ADMIN_LISTEN",
            format!("127.0.0.1:{admin}"),
        )
        .env(
            "BRANCHYARD_GATEWAY_TLS_LISTEN",
            format!("127.0.0.1:{https}"),
        )
        .env("BRANCHYARD_GATEWAY_STATE", state.path().join("routes.json"))
        .env("BRANCHYARD_GATEWAY_WORKERS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the aarch64 gateway under qemu");

    let client = AdminClient::new(admin, token.to_string());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if client.health().await.is_ok_and(|h| h.ok) {
            break;
        }
        if let Ok(Some(status)) = gateway.try_wait() {
            let out = gateway.wait_with_output().await.unwrap();
            panic!(
                "the emulated gateway exited ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            Instant::now() < deadline,
            "the emulated gateway's /healthz did not answer within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let host = "smoke.arch.localhost";
    let ca = LocalCa::load_or_create(state.path()).unwrap();
    let leaf = ca.issue(host).unwrap();
    let route = Route {
        upstream: format!("127.0.0.1:{upstream_port}"),
        tls: Some(RouteTls {
            cert_pem: leaf.chain_pem,
            key_pem: leaf.key_pem,
        }),
        ..Route::default()
    };
    client
        .ok(
            Method::PUT,
            &format!("/routes/{host}"),
            Some(serde_json::to_string(&route).unwrap()),
        )
        .await
        .expect("push a route to the emulated gateway");
    let (status, body) = get(http, host).await.expect("an answer over HTTP");
    assert_eq!(
        (status, body.as_str()),
        (200, "hello-from-upstream"),
        "HTTP is proxied by the aarch64 build"
    );
    // TLS exercises ring's aarch64 assembly (key exchange, AES-GCM), which
    // the cross C toolchain built.
    let body = curl_https(host, https, &ca.cert_path())
        .await
        .expect("an answer over HTTPS");
    assert_eq!(
        body, "hello-from-upstream",
        "HTTPS is proxied by the aarch64 build"
    );

    gateway.start_kill().unwrap();
    let _ = gateway.wait().await;
    serving.abort();
}
