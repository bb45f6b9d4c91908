//! Plain HTTP/1.1's fast path (src/fastpath.rs) and its hand-over to hyper:
//! every framing an upstream answers with is relayed whole, a connection
//! goes on after each, and whatever the fast path does not take is served by
//! hyper on the same connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{
    echoes, exchange, gateway, put_route, put_route_json, read_answer, read_head, read_until,
    tls_connect, upstream_with, ws_upstream, Ca, Gw,
};

/// An upstream that answers the n-th request on each connection with
/// `answers[n]` and closes after the last (an empty answer: it hangs up
/// instead); the request heads it saw.
async fn scripted(answers: Vec<&'static [u8]>) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let (answers, log) = (answers.clone(), log.clone());
            tokio::spawn(async move {
                for a in answers {
                    let head = read_head(&mut s).await;
                    if head.is_empty() {
                        return;
                    }
                    log.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).to_string());
                    if a.is_empty() || s.write_all(a).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// Routes `host` to a [`scripted`] upstream; the request heads it saw.
async fn route_to_script(
    gw: &Gw,
    host: &str,
    answers: Vec<&'static [u8]>,
) -> Arc<Mutex<Vec<String>>> {
    let (addr, seen) = scripted(answers).await;
    put_route(gw, host, addr).await;
    seen
}

/// A new connection to the gateway that has sent `raw`.
async fn ask(gw: &Gw, raw: &[u8]) -> TcpStream {
    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    c.write_all(raw).await.unwrap();
    c
}

/// What a [`staged`] upstream does after its second write.
#[derive(Clone, Copy)]
enum Then {
    /// Keeps the connection open, saying nothing more.
    Hold,
    /// Resets the connection.
    Reset,
}

/// An upstream that, on each connection, reads a request head, writes
/// `first`, then a moment later `later`, then does `then`.
async fn staged(first: &'static [u8], later: &'static [u8], then: Then) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                read_head(&mut s).await;
                s.write_all(first).await.unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
                let _ = s.write_all(later).await;
                match then {
                    Then::Hold => tokio::time::sleep(Duration::from_secs(5)).await,
                    Then::Reset => s.set_zero_linger().unwrap(),
                }
            });
        }
    });
    addr
}

/// Routes `host` to `upstream` with a leaf from `ca`, and opens a TLS
/// connection for it (HTTP/1.1 by ALPN).
async fn tls_route(
    gw: &Gw,
    ca: &Ca,
    host: &str,
    upstream: SocketAddr,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    put_route_json(
        gw,
        host,
        serde_json::json!({ "upstream": upstream.to_string(), "preview": host,
            "repo": "r", "branch": "b", "tls": ca.leaf(host) }),
    )
    .await;
    tls_connect(gw, &ca.client(&[b"http/1.1"]), host)
        .await
        .unwrap()
}

/// Reads everything until the gateway closes (fails after 5 s).
async fn read_to_close(c: &mut TcpStream) -> String {
    let mut all = Vec::new();
    timeout(Duration::from_secs(5), c.read_to_end(&mut all))
        .await
        .expect("the gateway closed the connection")
        .unwrap();
    String::from_utf8_lossy(&all).to_string()
}

/// Reads until the text holds `needle`; the text.
async fn text_until(c: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    read_until(c, &mut seen, needle, "the answer").await;
    String::from_utf8_lossy(&seen).to_string()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let gw = gateway(None).await;
    let up = upstream_with("piped", true).await;
    put_route(&gw, "piped.r.localhost", up.addr).await;
    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    c.write_all(
        b"GET /one HTTP/1.1\r\nhost: piped.r.localhost\r\n\r\nGET /two HTTP/1.1\r\nhost: piped.r.localhost\r\n\r\n",
    )
    .await
    .unwrap();
    let (s1, b1) = read_answer(&mut c).await;
    let (s2, b2) = read_answer(&mut c).await;
    assert_eq!((s1, s2), (200, 200));
    assert!(b1.contains("GET /one "), "first answer first: {b1}");
    assert!(b2.contains("GET /two "), "second answer second: {b2}");
}

#[tokio::test]
async fn a_chunked_answer_passes_through_with_its_trailers_and_the_connection_goes_on() {
    let gw = gateway(None).await;
    let _ = route_to_script(&gw, "chunks.r.localhost", vec![
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-sum: 42\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext",
    ]).await;
    let mut c = ask(&gw, b"GET / HTTP/1.1\r\nhost: chunks.r.localhost\r\n\r\n").await;
    let first = text_until(&mut c, "x-sum: 42\r\n\r\n").await;
    assert!(
        first.contains("transfer-encoding: chunked\r\n"),
        "the framing is kept: {first}"
    );
    assert!(
        first.contains("5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n"),
        "the chunks pass as they are: {first}"
    );
    assert!(
        !first.contains("trailer:"),
        "Trailer is hop-by-hop: {first}"
    );
    let (s, body) = exchange(&mut c, "chunks.r.localhost").await;
    assert_eq!((s, body.as_str()), (200, "next"), "the connection goes on");
}

#[tokio::test]
async fn an_answer_that_ends_with_its_connection_reaches_the_client_whole_then_the_client_is_closed(
) {
    let gw = gateway(None).await;
    let _ = route_to_script(
        &gw,
        "unframed.r.localhost",
        vec![b"HTTP/1.1 200 OK\r\nx-kind: unframed\r\n\r\nall of it"],
    )
    .await;
    let mut c = ask(&gw, b"GET / HTTP/1.1\r\nhost: unframed.r.localhost\r\n\r\n").await;
    let text = read_to_close(&mut c).await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.contains("connection: close\r\n"),
        "the client is told: {text}"
    );
    assert!(text.ends_with("\r\n\r\nall of it"), "{text}");
}

#[tokio::test]
async fn a_head_request_gets_the_head_alone_and_the_connection_goes_on() {
    let gw = gateway(None).await;
    let _ = route_to_script(
        &gw,
        "head.r.localhost",
        vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        ],
    )
    .await;
    let mut c = ask(&gw, b"HEAD / HTTP/1.1\r\nhost: head.r.localhost\r\n\r\n").await;
    let head = text_until(&mut c, "\r\n\r\n").await;
    assert!(head.contains("content-length: 1000\r\n"), "{head}");
    let (s, body) = exchange(&mut c, "head.r.localhost").await;
    assert_eq!(
        (s, body.as_str()),
        (200, "ok"),
        "no body was awaited after the HEAD"
    );
}

#[tokio::test]
async fn a_small_request_body_reaches_the_upstream_whole() {
    let gw = gateway(None).await;
    let seen = route_to_script(
        &gw,
        "post.r.localhost",
        vec![b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n"],
    )
    .await;
    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    c.write_all(
        b"POST /form HTTP/1.1\r\nhost: post.r.localhost\r\ncontent-length: 11\r\n\r\nhello",
    )
    .await
    .unwrap();
    // The rest of the body comes a moment later, in its own packet.
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.write_all(b" world").await.unwrap();
    let (s, _) = read_answer(&mut c).await;
    assert_eq!(s, 201);
    let seen = seen.lock().unwrap().join("");
    assert!(
        seen.ends_with("\r\n\r\nhello world"),
        "the upstream got the whole body: {seen}"
    );
}

#[tokio::test]
async fn a_request_the_fast_path_does_not_take_is_served_by_hyper_on_the_same_connection() {
    let gw = gateway(None).await;
    let up = upstream_with("mixed", true).await;
    put_route(&gw, "mixed.r.localhost", up.addr).await;
    put_route(&gw, "ws.r.localhost", ws_upstream().await).await;
    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    let (s, body) = exchange(&mut c, "mixed.r.localhost").await;
    assert_eq!(s, 200, "{body}");
    // A chunked request body is hyper's; the connection is handed over.
    c.write_all(b"POST /c HTTP/1.1\r\nhost: mixed.r.localhost\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        .await
        .unwrap();
    let (s, body) = read_answer(&mut c).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.starts_with("mixed\nPOST /c HTTP/1.1"), "{body}");
    // An unknown host on the same connection gets hyper's page.
    let (s, _) = exchange(&mut c, "nobody.r.localhost").await;
    assert_eq!(s, 404);

    // A WebSocket after a fast request, on one connection.
    let mut w = TcpStream::connect(gw.proxy).await.unwrap();
    let (s, _) = exchange(&mut w, "mixed.r.localhost").await;
    assert_eq!(s, 200);
    let mut req = "ws://ws.r.localhost/".into_client_request().unwrap();
    req.headers_mut()
        .insert("host", "ws.r.localhost".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::client_async(req, w).await.unwrap();
    assert_eq!(resp.status(), 101);
    echoes(&mut ws, "after a fast request").await;
}

#[tokio::test]
async fn requests_that_could_be_smuggled_never_reach_an_upstream() {
    let gw = gateway(None).await;
    let up = upstream_with("smuggle", true).await;
    put_route(&gw, "smuggle.r.localhost", up.addr).await;
    for (why, head) in [
        (
            "two different lengths",
            "content-length: 4\r\ncontent-length: 40\r\n",
        ),
        ("a signed length", "content-length: +4\r\n"),
        ("a length list", "content-length: 4, 40\r\n"),
    ] {
        let mut c = TcpStream::connect(gw.proxy).await.unwrap();
        let req = format!("POST / HTTP/1.1\r\nhost: smuggle.r.localhost\r\n{head}\r\nabcd");
        c.write_all(req.as_bytes()).await.unwrap();
        let text = read_to_close(&mut c).await;
        assert!(
            text.starts_with("HTTP/1.1 400"),
            "{why}: refused, got {text:?}"
        );
    }
    assert_eq!(up.accepted(), 0, "no such request reached the upstream");
}

#[tokio::test]
async fn a_kept_alive_upstream_connection_that_was_closed_meanwhile_is_replaced_without_an_error() {
    let gw = gateway(None).await;
    // It answers one request per connection and then hangs up without saying
    // so, as an upstream's idle timeout would.
    let seen = route_to_script(
        &gw,
        "hangup.r.localhost",
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"],
    )
    .await;
    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    for i in 0..4 {
        let (s, body) = exchange(&mut c, "hangup.r.localhost").await;
        assert_eq!((s, body.as_str()), (200, "ok"), "request {i}");
    }
    assert_eq!(
        seen.lock().unwrap().len(),
        4,
        "each request reached it once"
    );
}

#[tokio::test]
async fn a_request_met_by_a_hang_up_is_sent_again_only_when_that_is_safe() {
    let gw = gateway(None).await;
    // Each connection answers its first request and hangs up on the second
    // as it arrives: the race of a kept-alive connection's idle timeout.
    let seen = route_to_script(
        &gw,
        "race.r.localhost",
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", b""],
    )
    .await;
    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    assert_eq!(exchange(&mut c, "race.r.localhost").await.0, 200);
    let (s, body) = exchange(&mut c, "race.r.localhost").await;
    assert_eq!((s, body.as_str()), (200, "ok"), "a GET is sent again");
    assert_eq!(seen.lock().unwrap().len(), 3, "the GET went out twice");

    c.write_all(b"POST /pay HTTP/1.1\r\nhost: race.r.localhost\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let (s, page) = read_answer(&mut c).await;
    assert_eq!(s, 502, "a POST is not sent twice: {page}");
    let posts = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h.starts_with("POST"))
        .count();
    assert_eq!(posts, 1, "the POST went out once");
}

#[tokio::test]
async fn an_unreachable_upstream_gets_the_failure_page_and_the_connection_goes_on() {
    let gw = gateway(None).await;
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_addr = gone.local_addr().unwrap();
    drop(gone);
    put_route(&gw, "down.r.localhost", gone_addr).await;
    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    let (s, page) = exchange(&mut c, "down.r.localhost").await;
    assert_eq!(s, 502, "{page}");
    assert!(
        page.contains("down.r.localhost"),
        "the page names it: {page}"
    );
    let up = upstream_with("back", true).await;
    put_route(&gw, "down.r.localhost", up.addr).await;
    let (s, body) = exchange(&mut c, "down.r.localhost").await;
    assert_eq!(
        s, 200,
        "the same connection reaches it once it is back: {body}"
    );
}

#[tokio::test]
async fn what_an_idle_upstream_sends_unasked_is_never_taken_for_the_next_answer() {
    let gw = gateway(None).await;
    // Later, its idle timeout: a 408 nobody asked for, and the connection left open.
    let addr = staged(
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n",
        Then::Hold,
    )
    .await;
    put_route(&gw, "stale.r.localhost", addr).await;
    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    for i in 0..2 {
        let (s, body) = exchange(&mut c, "stale.r.localhost").await;
        assert_eq!((s, body.as_str()), (200, "ok"), "request {i}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn over_tls_a_kept_alive_connection_is_relayed_for_its_own_host_alone() {
    let gw = gateway(None).await;
    let ca = Ca::new();
    let up = upstream_with("secure", true).await;
    drop(tls_route(&gw, &ca, "b.r.localhost", up.addr).await);
    let mut s = tls_route(&gw, &ca, "a.r.localhost", up.addr).await;
    for i in 0..3 {
        let (code, body) = exchange(&mut s, "a.r.localhost").await;
        assert_eq!(code, 200, "request {i}: {body}");
        assert!(
            body.contains("x-forwarded-proto: https\r\n"),
            "the upstream is told it was HTTPS: {body}"
        );
    }
    assert_eq!(up.accepted(), 1, "one upstream connection for them all");
    // Another host on this connection is refused (by hyper, handed the connection).
    let (code, _) = exchange(&mut s, "b.r.localhost").await;
    assert_eq!(code, 421, "a connection opened for a is never relayed to b");
}

#[tokio::test]
async fn bytes_an_upstream_sends_past_its_answer_never_reach_the_client_as_another() {
    let gw = gateway(None).await;
    // The rest of the body comes later, with a forged second answer after it.
    let addr = staged(
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello",
        b"worldHTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nsmuggled",
        Then::Hold,
    )
    .await;
    put_route(&gw, "forged.r.localhost", addr).await;
    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    for i in 0..2 {
        let (s, body) = exchange(&mut c, "forged.r.localhost").await;
        assert_eq!(
            (s, body.as_str()),
            (200, "helloworld"),
            "request {i} gets its own answer"
        );
    }
}

#[tokio::test]
async fn over_tls_an_answer_that_ends_with_its_connection_ends_with_close_notify() {
    let gw = gateway(None).await;
    let (addr, _) = scripted(vec![b"HTTP/1.1 200 OK\r\n\r\nuntil the end"]).await;
    let mut s = tls_route(&gw, &Ca::new(), "end.r.localhost", addr).await;
    s.write_all(b"GET / HTTP/1.1\r\nhost: end.r.localhost\r\n\r\n")
        .await
        .unwrap();
    let mut all = Vec::new();
    // rustls reports a connection closed without close_notify as an error.
    timeout(Duration::from_secs(5), s.read_to_end(&mut all))
        .await
        .unwrap()
        .expect("a clean TLS close");
    assert!(String::from_utf8_lossy(&all).ends_with("until the end"));
}

#[tokio::test]
async fn an_answer_naming_its_framing_in_connection_keeps_its_framing() {
    let gw = gateway(None).await;
    let _ = route_to_script(
        &gw,
        "named.r.localhost",
        vec![
            b"HTTP/1.1 200 OK\r\nconnection: transfer-encoding, x-hop\r\nx-hop: 1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext",
        ],
    )
    .await;
    let mut c = ask(&gw, b"GET / HTTP/1.1\r\nhost: named.r.localhost\r\n\r\n").await;
    let first = text_until(&mut c, "0\r\n\r\n").await;
    assert!(first.contains("transfer-encoding: chunked\r\n"), "{first}");
    assert!(
        !first.contains("x-hop"),
        "a named header is dropped: {first}"
    );
    let (s, body) = exchange(&mut c, "named.r.localhost").await;
    assert_eq!((s, body.as_str()), (200, "next"));
}

#[tokio::test]
async fn a_failure_page_for_a_head_request_has_no_body() {
    let gw = gateway(None).await;
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_addr = gone.local_addr().unwrap();
    drop(gone);
    put_route(&gw, "headless.r.localhost", gone_addr).await;
    let mut c = ask(
        &gw,
        b"HEAD / HTTP/1.1\r\nhost: headless.r.localhost\r\n\r\n",
    )
    .await;
    let head = text_until(&mut c, "\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 502"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "nothing after the head: {head}");
    // Had a body followed the head, this answer would start inside it.
    let (s, page) = exchange(&mut c, "headless.r.localhost").await;
    assert_eq!(s, 502);
    assert!(page.contains("headless.r.localhost"), "{page}");
}

#[tokio::test]
async fn a_client_that_leaves_while_the_upstream_thinks_ends_that_upstream_request() {
    let gw = gateway(None).await;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (gone_tx, gone_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        read_head(&mut s).await;
        // Never answers; tells when the gateway hangs up.
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.unwrap_or(0);
        let _ = gone_tx.send(n);
    });
    put_route(&gw, "thinking.r.localhost", addr).await;
    let c = ask(
        &gw,
        b"GET /slow HTTP/1.1\r\nhost: thinking.r.localhost\r\n\r\n",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(c);
    let n = timeout(Duration::from_secs(3), gone_rx)
        .await
        .expect("the upstream connection is dropped when the client goes")
        .unwrap();
    assert_eq!(n, 0, "the upstream saw the end, not more bytes");
}

#[tokio::test]
async fn a_status_below_100_is_refused() {
    let gw = gateway(None).await;
    let _ = route_to_script(&gw, "odd.r.localhost", vec![b"HTTP/1.1 099 Odd\r\n\r\n"]).await;
    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    let (s, _) = exchange(&mut c, "odd.r.localhost").await;
    assert_eq!(s, 502);
}

#[tokio::test]
async fn over_tls_an_answer_the_upstream_cuts_off_is_not_closed_cleanly() {
    let gw = gateway(None).await;
    // A reset, not an end: the answer was cut off.
    let addr = staged(b"HTTP/1.1 200 OK\r\n\r\npart of it", b"", Then::Reset).await;
    let mut s = tls_route(&gw, &Ca::new(), "cut.r.localhost", addr).await;
    s.write_all(b"GET / HTTP/1.1\r\nhost: cut.r.localhost\r\n\r\n")
        .await
        .unwrap();
    let mut all = Vec::new();
    let read = timeout(Duration::from_secs(5), s.read_to_end(&mut all))
        .await
        .unwrap();
    assert!(
        read.is_err(),
        "a cut-off answer must not end like a whole one"
    );
    assert!(String::from_utf8_lossy(&all).ends_with("part of it"));
}
