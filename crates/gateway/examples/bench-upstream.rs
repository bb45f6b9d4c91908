//! Tools for scripts/bench-gateway.sh.
//!
//! `bench-upstream serve <addr>`: a tiny keep-alive HTTP/1.1 server answering a
//! 1 KB body, the upstream every proxy in the benchmark reaches.
//!
//! `bench-upstream push <admin addr> <token> <proxy addr> <host> <upstream>`:
//! pushes a route for `host` and prints the milliseconds until the first 200
//! through the proxy for it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

static BODY: [u8; 1024] = [b'x'; 1024];

async fn serve(addr: SocketAddr) -> Result<()> {
    let l = TcpListener::bind(addr).await.context("bind")?;
    eprintln!("bench upstream on {}", l.local_addr()?);
    loop {
        let (s, _) = l.accept().await?;
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let svc = service_fn(|_req| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(&BODY))))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(s), svc)
                .await;
        });
    }
}

/// One request on a fresh connection; the status code.
async fn exchange(addr: &str, req: &str) -> Result<u16> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    s.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out);
    Ok(text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

async fn push(admin: &str, token: &str, proxy: &str, host: &str, upstream: &str) -> Result<()> {
    let body =
        serde_json::json!({"upstream": upstream, "preview": host, "repo": "bench", "branch": host})
            .to_string();
    let put = format!(
        "PUT /routes/{host} HTTP/1.1\r\nhost: admin\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let get = format!("GET / HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    let started = Instant::now();
    let s = exchange(admin, &put).await?;
    if s != 200 {
        bail!("route push answered {s}");
    }
    loop {
        if exchange(proxy, &get).await? == 200 {
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            bail!("no 200 for {host} within 10 s");
        }
    }
    println!("{:.3}", started.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve", addr] => serve(addr.parse().context("address")?).await,
        ["push", admin, token, proxy, host, upstream] => {
            push(admin, token, proxy, host, upstream).await
        }
        _ => bail!(
            "usage: bench-upstream serve <addr> | push <admin> <token> <proxy> <host> <upstream>"
        ),
    }
}
