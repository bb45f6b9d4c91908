//! HTTPS and WebSocket-over-TLS clients for the tests: rustls trusting only
//! the test home's local CA, and `curl --cacert`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{text, HTTPS_PORT};

/// A rustls client config that trusts only the CA at `ca_path`, offering `alpn`.
pub fn config(ca_path: &Path, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_path).expect("read the CA") {
        roots
            .add(cert.expect("a CA certificate"))
            .expect("add the CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    Arc::new(c)
}

/// A TLS stream to the gateway's HTTPS port with SNI `sni`, verified against the CA.
pub async fn connect(
    ca_path: &Path,
    sni: &str,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", *HTTPS_PORT)).await?;
    let name = ServerName::try_from(sni.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    tokio_rustls::TlsConnector::from(config(ca_path, alpn))
        .connect(name, tcp)
        .await
}

/// `GET path` over HTTPS (HTTP/1.1) with SNI and Host `host`, verified
/// against the CA; `(status, body)`, or the TLS error.
pub fn get(ca_path: &Path, host: &str, path: &str) -> Result<(u16, String), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut tls = tokio::time::timeout(
            Duration::from_secs(10),
            connect(ca_path, host, &[b"http/1.1"]),
        )
        .await
        .map_err(|_| "TLS handshake timed out".to_string())?
        .map_err(|e| e.to_string())?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        tls.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        // The server may close without close_notify; what was read counts.
        let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut raw)).await;
        let text = String::from_utf8_lossy(&raw).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Ok((status, body.to_string()))
    })
}

/// `curl` through the gateway's HTTPS port for `host` (resolved to
/// 127.0.0.1), with `args`; stdout, panicking when curl fails.
pub fn curl(host: &str, path: &str, args: &[&str]) -> String {
    let out = curl_raw(host, path, args);
    assert!(
        out.status.success(),
        "curl {args:?} failed:\n{}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// [`curl`] without the success check.
pub fn curl_raw(host: &str, path: &str, args: &[&str]) -> std::process::Output {
    let port = *HTTPS_PORT;
    Command::new("curl")
        .args(["-sS", "--max-time", "20", "--resolve"])
        .arg(format!("{host}:{port}:127.0.0.1"))
        .args(args)
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("run curl")
}
