//! HTTPS through the real gateway: each preview's own leaf from the local CA
//! (verified by rustls and by `curl --cacert`), chosen by SNI; h2 by ALPN;
//! WebSocket over TLS; and an unknown SNI or Host that never reaches a preview.

use std::path::PathBuf;

use futures_util::{SinkExt, StreamExt};

use crate::fixture::web_repo;
use crate::support::{Env, HTTPS_PORT};
use crate::tls_client::{self, curl, curl_raw};

fn ca_path(env: &Env) -> PathBuf {
    PathBuf::from(env.ok(&["ca", "path"]).trim())
}

#[test]
fn https_previews_verify_against_the_local_ca_each_with_its_own_certificate() {
    let env = Env::shared();
    let dir = web_repo(env, "tlsshop");
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["up", "tlsshop", "main"]);
    env.ok(&["up", "tlsshop", "feature/x"]);
    let ca = ca_path(env);

    // rustls trusting only the local CA: a handshake for the host's name proves
    // the gateway chose that preview's own leaf by SNI.
    let main = tls_client::get(&ca, "main.tlsshop.localhost", "/");
    assert_eq!(
        main.as_ref().map(|(s, b)| (*s, b.trim().to_string())),
        Ok((200, "branch main".to_string())),
        "HTTPS to main, verified against the CA"
    );
    let feature = tls_client::get(&ca, "feature-x.tlsshop.localhost", "/");
    assert_eq!(
        feature.as_ref().map(|(s, b)| (*s, b.trim().to_string())),
        Ok((200, "branch feature/x".to_string())),
        "HTTPS to feature/x, with its own certificate"
    );

    // curl with the CA file, and the subject it was shown.
    let ca_arg = ca.to_str().unwrap();
    let body = curl("main.tlsshop.localhost", "/", &["--cacert", ca_arg]);
    assert_eq!(body.trim(), "branch main");
    let verbose = curl_raw(
        "feature-x.tlsshop.localhost",
        "/",
        &["--cacert", ca_arg, "-v", "-o", "/dev/null"],
    );
    let log = String::from_utf8_lossy(&verbose.stderr).to_string();
    assert!(
        verbose.status.success() && log.contains("CN=feature-x.tlsshop.localhost"),
        "curl sees feature/x's own leaf:\n{log}"
    );

    // h2 by ALPN.
    let version = curl(
        "main.tlsshop.localhost",
        "/",
        &[
            "--cacert",
            ca_arg,
            "--http2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
        ],
    );
    assert_eq!(version.trim(), "2", "curl --http2 negotiates h2");

    // WebSocket over TLS to the fixture's ws-echo service.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let host = "ws.main.tlsshop.localhost";
        let tls = tls_client::connect(&ca, host, &[b"http/1.1"])
            .await
            .unwrap();
        let url = format!("wss://{host}:{}/", *HTTPS_PORT);
        let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
            .await
            .expect("WebSocket upgrade over TLS");
        ws.send(tokio_tungstenite::tungstenite::Message::text("over tls"))
            .await
            .unwrap();
        let echoed = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("an echo within 10 s")
            .unwrap()
            .unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), "over tls");
    });

    env.ok(&["down", "tlsshop", "main"]);
    env.ok(&["down", "tlsshop", "feature/x"]);
    // Removed: the host has no certificate any more and no page of the app.
    let after = curl_raw(
        "main.tlsshop.localhost",
        "/",
        &["-k", "-w", "\n%{http_code}"],
    );
    let out = String::from_utf8_lossy(&after.stdout).to_string();
    assert!(
        out.trim_end().ends_with("404") && !out.contains("branch main"),
        "a removed preview is a 404 over HTTPS too:\n{out}"
    );
    env.ok(&["repo", "rm", "tlsshop"]);
}

#[test]
fn an_unknown_sni_or_host_never_reaches_a_preview() {
    let env = Env::shared();
    let dir = web_repo(env, "sni");
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["up", "sni", "main"]);
    let ca = ca_path(env);

    // An unknown SNI gets the gateway's self-signed fallback, which the CA does not sign.
    let err = tls_client::get(&ca, "nope.sni.localhost", "/");
    assert!(
        err.is_err(),
        "an unknown SNI must not be served a certificate the CA signed: {err:?}"
    );
    // Past the certificate (-k), it is the 404 page, never the app.
    let out = curl_raw("nope.sni.localhost", "/", &["-k", "-w", "\n%{http_code}"]);
    let body = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        body.trim_end().ends_with("404") && !body.contains("branch main"),
        "unknown SNI: 404, not a preview:\n{body}"
    );
    // A known SNI with another Host header does not reach main either.
    let out = curl_raw(
        "main.sni.localhost",
        "/",
        &[
            "--cacert",
            ca.to_str().unwrap(),
            "-H",
            "Host: nope.sni.localhost",
            "-w",
            "\n%{http_code}",
        ],
    );
    let body = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !body.contains("branch main") && !body.trim_end().ends_with("200"),
        "a Host no route has is never forwarded, whatever the SNI:\n{body}"
    );
    // No SNI at all (an IP address): the fallback, then a page of the gateway's own.
    let out = std::process::Command::new("curl")
        .args(["-sS", "-k", "-w", "\n%{http_code}"])
        .arg(format!("https://127.0.0.1:{}/", *HTTPS_PORT))
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !body.contains("branch main")
            && (body.trim_end().ends_with("404")
                || body.contains("Previews routed by this gateway")),
        "no SNI: a page of the gateway's own, never a preview:\n{body}"
    );

    env.ok(&["down", "sni", "main"]);
    env.ok(&["repo", "rm", "sni"]);
}
