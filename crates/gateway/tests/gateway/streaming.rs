//! Bodies pass through as they come, both ways, without waiting for the end.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{gateway, http, put_route, read_head, read_until};

#[tokio::test]
async fn bodies_stream_both_ways_before_they_end() {
    let gw = gateway(None).await;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let upstream = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut seen = read_head(&mut s).await;
        // The first request chunk arrives while the client still holds the rest.
        read_until(&mut s, &mut seen, "early-request", "request body streamed").await;
        s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\ne\r\nearly-response\r\n")
            .await
            .unwrap();
        release_rx.await.unwrap();
        read_until(&mut s, &mut seen, "late-request", "request end").await;
        s.write_all(b"d\r\nlate-response\r\n0\r\n\r\n")
            .await
            .unwrap();
    });
    put_route(&gw, "stream.r.localhost", addr).await;

    let mut c = TcpStream::connect(gw.proxy).await.unwrap();
    c.write_all(b"POST / HTTP/1.1\r\nhost: stream.r.localhost\r\ntransfer-encoding: chunked\r\n\r\nd\r\nearly-request\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    read_until(&mut c, &mut got, "early-response", "response body streamed").await;
    release_tx.send(()).unwrap();
    c.write_all(b"c\r\nlate-request\r\n0\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut c, &mut got, "late-response", "response end").await;
    upstream.await.unwrap();
}

#[tokio::test]
async fn a_large_body_streams_through() {
    let gw = gateway(None).await;
    // An upstream that reads the 2 MB request body and answers 1 MB.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut got = read_head(&mut s).await;
        let mut buf = vec![0u8; 65536];
        while got.len() < 2_000_000 {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let body = vec![b'y'; 1_000_000];
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body).await.unwrap();
    });
    put_route(&gw, "big.r.localhost", addr).await;
    let big = "x".repeat(2_000_000);
    let (s, t) = http(gw.proxy, "POST", "/", &[("host", "big.r.localhost")], &big).await;
    assert_eq!(s, 200);
    assert!(
        t.ends_with(&"y".repeat(1000)) && t.len() > 1_000_000,
        "whole response body came back ({} bytes)",
        t.len()
    );
}
