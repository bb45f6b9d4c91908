//! HTTPS: each host's own certificate by SNI, the fallback for every other
//! name, h2 by ALPN, WebSocket over TLS and gRPC trailers through h2.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Frame};
use rustls_pki_types::CertificateDer;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{
    body_of, echoes, gateway, http_over, put_route_json, tls_connect, upstream, ws_upstream, Ca, Gw,
};

/// Routes `host` to `up` with a leaf from `ca`.
async fn tls_route(gw: &Gw, ca: &Ca, host: &str, up: std::net::SocketAddr) {
    put_route_json(
        gw,
        host,
        serde_json::json!({"upstream": up.to_string(), "preview": host, "repo": "r", "branch": "b", "tls": ca.leaf(host)}),
    )
    .await;
}

/// An HTTP/2 client over an established TLS connection.
async fn h2_over(
    s: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(s),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    send
}

fn leaf_of(s: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> CertificateDer<'static> {
    s.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

#[tokio::test]
async fn https_is_validated_against_the_ca_and_each_sni_gets_its_own_certificate() {
    let gw = gateway(None).await;
    let ca = Ca::new();
    let (a, b) = (upstream("alpha").await, upstream("beta").await);
    tls_route(&gw, &ca, "a.r.localhost", a.addr).await;
    tls_route(&gw, &ca, "b.r.localhost", b.addr).await;
    let client = ca.client(&[b"http/1.1"]);

    let sa = tls_connect(&gw, &client, "a.r.localhost").await.unwrap();
    let cert_a = leaf_of(&sa);
    let t = http_over(sa, "a.r.localhost", "/").await;
    assert!(t.starts_with("HTTP/1.1 200"), "{t}");
    assert!(
        body_of(&t).starts_with("alpha\n"),
        "a's host reaches a: {t}"
    );
    assert!(
        t.to_lowercase().contains("x-forwarded-proto: https"),
        "the app knows it was HTTPS: {t}"
    );

    let sb = tls_connect(&gw, &client, "b.r.localhost").await.unwrap();
    assert_ne!(leaf_of(&sb), cert_a, "b gets its own leaf, not a's");
    let t = http_over(sb, "b.r.localhost", "/").await;
    assert!(body_of(&t).starts_with("beta\n"), "{t}");
}

#[tokio::test]
async fn an_unknown_sni_gets_the_fallback_certificate_and_never_reaches_a_preview() {
    let gw = gateway(None).await;
    let ca = Ca::new();
    let a = upstream("alpha").await;
    tls_route(&gw, &ca, "a.r.localhost", a.addr).await;
    let client = ca.client(&[b"http/1.1"]);
    let refused = tls_connect(&gw, &client, "evil.example").await;
    assert!(
        refused.is_err(),
        "a client trusting the CA rejects the fallback: no preview's certificate is served"
    );

    // A client that accepts anything, to see which certificate comes and what the page says.
    let lax = lax_client();
    let s = tls_connect(&gw, &lax, "evil.example").await.unwrap();
    let served = leaf_of(&s);
    let leaf_a = {
        let sa = tls_connect(&gw, &client, "a.r.localhost").await.unwrap();
        leaf_of(&sa)
    };
    assert_ne!(served, leaf_a, "never another preview's certificate");
    let t = http_over(s, "a.r.localhost", "/").await;
    assert!(
        t.starts_with("HTTP/1.1 404"),
        "unknown SNI is a 404 page even with a known Host: {t}"
    );
    assert!(t.contains("Live previews"), "{t}");
    assert_eq!(
        a.accepted(),
        0,
        "nothing over the fallback reached the upstream"
    );
}

#[tokio::test]
async fn h2_is_negotiated_by_alpn_and_proxied_to_an_http1_upstream() {
    let gw = gateway(None).await;
    let ca = Ca::new();
    tls_route(&gw, &ca, "h2.r.localhost", upstream("two").await.addr).await;
    let s = tls_connect(&gw, &ca.client(&[b"h2", b"http/1.1"]), "h2.r.localhost")
        .await
        .unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut send = h2_over(s).await;
    let req = hyper::Request::get("https://h2.r.localhost/x")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), hyper::Version::HTTP_2);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(text.starts_with("two\nGET /x HTTP/1.1"), "{text}");
    assert!(
        text.to_lowercase().contains("host: h2.r.localhost"),
        "the h1 upstream gets a Host from the h2 authority: {text}"
    );
}

#[tokio::test]
async fn a_websocket_works_over_tls() {
    let gw = gateway(None).await;
    let ca = Ca::new();
    tls_route(&gw, &ca, "ws.r.localhost", ws_upstream().await).await;
    let s = tls_connect(&gw, &ca.client(&[b"http/1.1"]), "ws.r.localhost")
        .await
        .unwrap();
    let req = "wss://ws.r.localhost/".into_client_request().unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(req, s).await.unwrap();
    assert_eq!(resp.status(), 101);
    echoes(&mut ws, "over tls").await;
}

#[tokio::test]
async fn grpc_goes_to_the_upstream_over_h2c_and_its_trailers_come_back() {
    let gw = gateway(None).await;
    let ca = Ca::new();
    let up = grpc_upstream().await;
    tls_route(&gw, &ca, "grpc.r.localhost", up).await;
    let s = tls_connect(&gw, &ca.client(&[b"h2"]), "grpc.r.localhost")
        .await
        .unwrap();
    let mut send = h2_over(s).await;
    let req = hyper::Request::post("https://grpc.r.localhost/pkg.Svc/Call")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(b"\0\0\0\0\x05hello")))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected
        .trailers()
        .cloned()
        .expect("trailers came through");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(
        trailers["x-seen"], "HTTP/2.0 te=trailers",
        "the upstream was spoken to over h2 with te: trailers"
    );
    assert_eq!(
        &collected.to_bytes()[..],
        b"\0\0\0\0\x05hello",
        "echoed body"
    );
}

/// An h2c (prior knowledge) server that echoes the body and ends with gRPC trailers.
async fn grpc_upstream() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let seen = format!(
                            "{:?} te={}",
                            req.version(),
                            req.headers()
                                .get("te")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-")
                        );
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let mut trailers = hyper::HeaderMap::new();
                        trailers.insert("grpc-status", "0".parse().unwrap());
                        trailers.insert("x-seen", seen.parse().unwrap());
                        let frames = futures_util::stream::iter(vec![
                            Ok::<_, std::convert::Infallible>(Frame::data(body)),
                            Ok(Frame::trailers(trailers)),
                        ]);
                        let resp = hyper::Response::builder()
                            .header("content-type", "application/grpc")
                            .body(http_body_util::StreamBody::new(frames))
                            .unwrap();
                        Ok::<_, std::convert::Infallible>(resp)
                    },
                );
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                        .await;
            });
        }
    });
    addr
}

/// A client that accepts any certificate (to look at the fallback).
fn lax_client() -> tokio_rustls::TlsConnector {
    #[derive(Debug)]
    struct AnyCert;
    impl rustls::client::danger::ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &rustls_pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls_pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            rustls::crypto::ring::default_provider()
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(std::sync::Arc::new(AnyCert))
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
}

#[tokio::test]
async fn with_redirect_https_plain_http_to_a_tls_host_gets_308_to_https() {
    let gw = gateway(None).await;
    let ca = Ca::new();
    let up = upstream("app").await;
    tls_route(&gw, &ca, "sec.r.localhost", up.addr).await;
    crate::support::put_route(&gw, "plain.r.localhost", up.addr).await;
    let (s, t) =
        crate::support::http(gw.proxy, "GET", "/a?b", &[("host", "sec.r.localhost")], "").await;
    assert_eq!(s, 200, "no redirect until the setting is on: {t}");
    let (s, t) = crate::support::admin(&gw, "PUT", "/config", r#"{"redirect_https":true}"#).await;
    assert_eq!(s, 200, "{t}");
    let (s, t) =
        crate::support::http(gw.proxy, "GET", "/a?b", &[("host", "sec.r.localhost")], "").await;
    assert_eq!(s, 308, "{t}");
    assert!(
        t.to_lowercase()
            .contains("location: https://sec.r.localhost/a?b"),
        "{t}"
    );
    let (s, _) =
        crate::support::http(gw.proxy, "GET", "/", &[("host", "plain.r.localhost")], "").await;
    assert_eq!(s, 200, "a host without TLS stays on HTTP");
}

#[tokio::test]
async fn an_h2_request_over_the_header_limit_gets_431_and_never_reaches_the_upstream() {
    let gw = gateway(None).await;
    let ca = Ca::new();
    let up = upstream("big").await;
    tls_route(&gw, &ca, "big.r.localhost", up.addr).await;
    let s = tls_connect(&gw, &ca.client(&[b"h2"]), "big.r.localhost")
        .await
        .unwrap();
    let mut send = h2_over(s).await;
    let big = "x".repeat(20 * 1024);
    let req = hyper::Request::get("https://big.r.localhost/")
        .header("x-big", big.as_str())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = send.send_request(req).await;
    let resp = answer.expect("an answer, not a reset");
    assert_eq!(
        resp.status(),
        431,
        "20 KiB of headers are over the 16 KiB limit"
    );
    assert_eq!(up.accepted(), 0, "the upstream never saw it");
    // The connection stays usable for requests within the limit.
    let ok = hyper::Request::get("https://big.r.localhost/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send.send_request(ok).await.unwrap().status(), 200);
}
