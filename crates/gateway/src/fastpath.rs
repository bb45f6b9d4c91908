//! The HTTP/1.1 fast path (plain, and over TLS): the common request (origin
//! form, a Host with a serving route (over TLS, the one its certificate was
//! chosen for), no body or a small one of known length, nothing
//! hop-by-hop but `Connection: keep-alive|close`) is relayed by hand, in the
//! client connection's own task, over an upstream connection that task owns.
//!
//! Why: through hyper each proxied request built a header map and request
//! and response objects on both sides, and crossed into the upstream
//! connection's task and back; against nginx that cost the gateway 5–10 % of
//! its plain-HTTP throughput (`scripts/bench-gateway.sh`). Here a request head
//! is parsed in place (httparse, as hyper does), rewritten into one buffer
//! and written once; the answer's head is rewritten the same way and goes out
//! with the body bytes that came with it.
//!
//! Everything else is hyper's: at the first request the fast path does not
//! take (an upgrade, a chunked or large request body, `Expect`, HTTP/1.0, an
//! unknown host, a route that is not serving, a malformed or oversized head),
//! the connection is handed to hyper with the bytes read so far, and hyper
//! serves it from that request on. Nothing is parsed twice into different
//! answers: a head the fast path doubts is judged by hyper alone, and
//! request smuggling (`Content-Length` with `Transfer-Encoding`, repeated
//! lengths) never takes the fast path.
//!
//! As with hyper, a client that goes while its request is with the upstream
//! ends that request at once (the upstream connection is dropped).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::FutureExt;
use http_body_util::BodyExt;
use hyper::http::uri::Authority;
use hyper::rt::{Sleep, Timer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::TcpStream;

use crate::chunked::Chunked;
use crate::events::now_ms;
use crate::forward::CONNECT_TIMEOUT;
use crate::idle::{IdleList, Reusable};
use crate::proxy::{Conn, Proxy};
use crate::routes::Live;
use crate::server::{serve_http1, Limits};
use crate::timer::CoarseTimer;

/// Request bodies up to this size are read whole and relayed here; larger ones go to hyper.
const BODY_MAX: usize = 64 * 1024;
/// Headers the fast path parses; a request with more goes to hyper (which has the real limit).
const REQUEST_HEADERS: usize = 64;
/// Most headers in an upstream's answer head.
const RESPONSE_HEADERS: usize = 100;
/// Largest upstream answer head.
const RESPONSE_HEAD_MAX: usize = 64 * 1024;
/// The header deadline while a request is relayed: so far off it never fires.
const UNARMED: Duration = Duration::from_secs(365 * 24 * 3600);

/// Serves one HTTP/1.1 client connection (plain or TLS): by hand while its requests are
/// common ones, then by hyper from the first that is not.
pub(crate) async fn serve<C: ClientIo>(
    mut client: C,
    conn: Arc<Conn>,
    proxy: Arc<Proxy>,
    limits: &Limits,
    timer: CoarseTimer,
) {
    let mut relay = Relay {
        buf: BytesMut::with_capacity(8 * 1024),
        out: Vec::with_capacity(2 * 1024),
        back: Vec::with_capacity(4 * 1024),
        upstream: None,
        idle: proxy.fast_idle(),
        deadline: timer.sleep(limits.header_timeout),
    };
    loop {
        match relay.one(&mut client, &conn, &proxy, limits, &timer).await {
            Next::Again => continue,
            Next::Close => break,
            // Dropped without a clean close, so the client sees it was cut off.
            Next::Cut => return,
            Next::Hyper => {
                relay.park_upstream();
                let rest = relay.buf.split().freeze();
                // Its deadline, armed with this task's waker, would wake the
                // task every tick from its expiry on while hyper serves.
                drop(relay);
                let io = Rewind { rest, io: client };
                return serve_http1(io, conn, proxy, limits, timer).await;
            }
        }
    }
    relay.park_upstream();
    // Over TLS this sends close_notify: without it a client may take an
    // answer that ends with the connection for a cut-off one.
    let _ = tokio::time::timeout(Duration::from_secs(1), client.shutdown()).await;
}

/// What comes after one request.
enum Next {
    /// The next request on this connection.
    Again,
    /// The connection is done.
    Close,
    /// The upstream broke off mid-answer: the connection is dropped, not closed.
    Cut,
    /// hyper serves the connection from the request in the buffer on.
    Hyper,
}

/// One client connection's buffers and upstream connection.
struct Relay {
    /// Bytes from the client not yet relayed.
    buf: BytesMut,
    /// The request going upstream: head and body.
    out: Vec<u8>,
    /// The answer's head going to the client, and the body bytes that came with it.
    back: Vec<u8>,
    upstream: Option<Upstream>,
    idle: Arc<Idle>,
    /// The header-read deadline, re-armed for every request.
    deadline: Pin<Box<dyn Sleep>>,
}

/// A request the fast path takes.
struct Taken {
    live: Arc<Live>,
    /// The head's length, in `buf`.
    head_len: usize,
    /// Head plus body, in `buf`.
    len: usize,
    close: bool,
    head: bool,
    /// Safe to send again when a reused upstream connection turns out closed.
    idempotent: bool,
}

/// What the request head in the buffer is.
enum Judged {
    Take(Taken),
    /// Not all of it has arrived.
    Partial,
    Hyper,
}

/// How an answer's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// What of an answer's body is still to come after the bytes that came with its head.
enum More {
    Nothing,
    Bytes(u64),
    Chunks(Chunked),
    UntilClose,
}

/// How much of `rest` (what came after the head) is body, and what is still to come.
fn in_hand(framing: Framing, rest: &[u8]) -> Result<(usize, More), Failed> {
    Ok(match framing {
        Framing::Empty => (0, More::Nothing),
        Framing::Length(n) => {
            let now = rest.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            match n - now as u64 {
                0 => (now, More::Nothing),
                left => (now, More::Bytes(left)),
            }
        }
        Framing::Chunked => {
            let mut chunks = Chunked::default();
            match chunks.scan(rest).map_err(|_| bad_chunk())? {
                Some(end) => (end, More::Nothing),
                None => (rest.len(), More::Chunks(chunks)),
            }
        }
        Framing::UntilClose => (rest.len(), More::UntilClose),
    })
}

/// An upstream answer's head, rewritten for the client into `Relay::back`.
struct Answer {
    head_len: usize,
    informational: bool,
    framing: Framing,
    /// The upstream connection can carry another request after this answer.
    reusable: bool,
}

impl Relay {
    /// Reads, judges and relays one request.
    async fn one<C: ClientIo>(
        &mut self,
        client: &mut C,
        conn: &Conn,
        proxy: &Proxy,
        limits: &Limits,
        timer: &CoarseTimer,
    ) -> Next {
        if !limits.header_timeout.is_zero() {
            timer.reset(&mut self.deadline, Instant::now() + limits.header_timeout);
        }
        let taken = loop {
            if !self.buf.is_empty() {
                match judge(&self.buf, proxy, conn, limits, &mut self.out) {
                    Judged::Take(t) => break t,
                    Judged::Hyper => return Next::Hyper,
                    Judged::Partial => {}
                }
            }
            if !self.read_client(client, limits).await {
                return Next::Close;
            }
        };
        if taken.len > self.buf.len() && !limits.header_timeout.is_zero() {
            // The body gets a deadline of its own, not what the head left of it.
            timer.reset(&mut self.deadline, Instant::now() + limits.header_timeout);
        }
        while self.buf.len() < taken.len {
            if !self.read_client(client, limits).await {
                return Next::Close;
            }
        }
        // Read whole: no deadline while the upstream answers (a long poll, a stream).
        timer.reset(&mut self.deadline, Instant::now() + UNARMED);
        self.out
            .extend_from_slice(&self.buf[taken.head_len..taken.len]);
        self.buf.advance(taken.len);
        taken.live.traffic.hit(now_ms());
        match self.exchange(client, &taken).await {
            Ok(true) if !taken.close => Next::Again,
            Ok(_) => Next::Close,
            Err(Failed::Client) => Next::Close,
            Err(Failed::Cut) => Next::Cut,
            Err(Failed::Upstream(cause)) => {
                self.upstream = None;
                let page = proxy.upstream_failure(&taken.live, conn, cause);
                match write_page(client, page, taken.close, taken.head).await {
                    Ok(()) if !taken.close => Next::Again,
                    _ => Next::Close,
                }
            }
        }
    }

    /// More bytes from the client before the deadline; `false` at its end, an error or the deadline.
    async fn read_client<C: ClientIo>(&mut self, client: &mut C, limits: &Limits) -> bool {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(8 * 1024);
        }
        let read = if limits.header_timeout.is_zero() {
            client.read_buf(&mut self.buf).await
        } else {
            tokio::select! {
                biased;
                r = client.read_buf(&mut self.buf) => r,
                _ = self.deadline.as_mut() => return false,
            }
        };
        matches!(read, Ok(n) if n > 0)
    }

    /// Sends the request in `out` upstream and relays the answer; `Ok(true)`
    /// when the client connection can carry another request.
    async fn exchange<C: ClientIo>(&mut self, client: &mut C, t: &Taken) -> Result<bool, Failed> {
        let (mut up, mut answer) = self.send(t, client).await?;
        while answer.informational {
            put(client, &self.back).await?;
            up.buf.advance(answer.head_len);
            answer = read_answer(&mut up, t, &mut self.back).await?;
        }
        let rest = &up.buf[answer.head_len..];
        let (now, more) = in_hand(answer.framing, rest)?;
        // Bytes past the answer's end (a forged second answer, say) are dropped with the connection.
        let mut clean = now == rest.len();
        self.back.extend_from_slice(&rest[..now]);
        put(client, &self.back).await?;
        up.buf.clear();
        // The head is out: a failure from here on can only cut the answer off.
        match more {
            More::Nothing => {}
            More::Bytes(n) => clean &= !relay_length(&mut up, client, n).await.map_err(cut)?,
            More::Chunks(c) => clean &= !relay_chunked(&mut up, client, c).await.map_err(cut)?,
            More::UntilClose => {
                relay_until_close(&mut up, client).await.map_err(cut)?;
                return Ok(false);
            }
        }
        if answer.reusable && clean {
            self.upstream = Some(up);
        }
        Ok(true)
    }

    /// Writes `request` on this connection's upstream connection (or an idle
    /// or new one) and reads the answer's head.
    async fn send<C: ClientIo>(
        &mut self,
        t: &Taken,
        client: &mut C,
    ) -> Result<(Upstream, Answer), Failed> {
        let replicas = &t.live.replicas;
        // A new upstream connection takes the next replica in turn: one turn
        // for the idle connection looked for and the connect after it.
        let mut order = Vec::new();
        let candidate = match self.upstream.take() {
            Some(u) if replicas.keeps(&u.authority) => Some(u),
            other => {
                // The route moved on (or that replica died): the connection waits for another client.
                if let Some(u) = other {
                    self.idle.put(u);
                }
                order = replicas.order();
                order.first().and_then(|a| self.idle.take(a))
            }
        };
        if let Some(mut up) = candidate.filter(|u| !u.looks_closed()) {
            // A reused connection the upstream closed meanwhile (its idle
            // timeout, a restart) fails before any answer: sent again on a new
            // one when that is safe, as hyper's pool and nginx do.
            let sent = up.stream.write_all(&self.out).await.is_ok();
            if sent {
                match await_answer(&mut up, t, &mut self.back, &mut self.buf, client).await {
                    Ok(a) => return Ok((up, a)),
                    Err(Failed::Upstream(_)) if up.buf.is_empty() && t.idempotent => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if order.is_empty() {
            order = replicas.order();
        }
        let mut up = replicas
            .connect(&order, Upstream::connect)
            .await
            .map_err(Failed::Upstream)?;
        up.stream
            .write_all(&self.out)
            .await
            .map_err(|e| Failed::Upstream(e.to_string()))?;
        let a = await_answer(&mut up, t, &mut self.back, &mut self.buf, client).await?;
        Ok((up, a))
    }

    /// Puts this connection's upstream connection in the worker's idle list.
    fn park_upstream(&mut self) {
        if let Some(u) = self.upstream.take() {
            self.idle.put(u);
        }
    }
}

/// Why an exchange ended early.
enum Failed {
    /// The client went: nothing more can be written to it.
    Client,
    /// The upstream broke off after part of the answer went out.
    Cut,
    /// The upstream could not be reached or broke off; the root cause.
    Upstream(String),
}

/// A failure once the answer's head is out: the client's answer is cut off.
fn cut(e: Failed) -> Failed {
    match e {
        Failed::Upstream(_) => Failed::Cut,
        other => other,
    }
}

fn bad_chunk() -> Failed {
    Failed::Upstream("the upstream sent a malformed chunked body".into())
}

/// Any client connection: plain TCP, or TLS (HTTP/1.1 by ALPN).
pub(crate) trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ClientIo for T {}

/// Writes `bytes` to the client and flushes them (a TLS stream may hold records back until then).
async fn put<C: ClientIo>(client: &mut C, bytes: &[u8]) -> Result<(), Failed> {
    client.write_all(bytes).await.map_err(|_| Failed::Client)?;
    client.flush().await.map_err(|_| Failed::Client)
}

/// Most bytes a client may send ahead (pipelined) while its request is
/// with the upstream; beyond them the client is not read until the answer.
const AHEAD_MAX: usize = 64 * 1024;

/// [`read_answer`], while watching the client: one that goes (or breaks
/// off) meanwhile is [`Failed::Client`], and the upstream connection is
/// dropped, so a preview that never answers holds no client, and no
/// connection slot, longer than that client waits. Bytes the client sends
/// ahead are kept in `ahead` for the next request.
async fn await_answer<C: ClientIo>(
    up: &mut Upstream,
    t: &Taken,
    back: &mut Vec<u8>,
    ahead: &mut BytesMut,
    client: &mut C,
) -> Result<Answer, Failed> {
    let mut answer = std::pin::pin!(read_answer(up, t, back));
    loop {
        if ahead.len() >= AHEAD_MAX {
            return answer.await;
        }
        if ahead.capacity() - ahead.len() < 1024 {
            ahead.reserve(8 * 1024);
        }
        tokio::select! {
            biased;
            a = &mut answer => return a,
            r = client.read_buf(ahead) => match r {
                Ok(n) if n > 0 => {}
                _ => return Err(Failed::Client),
            },
        }
    }
}

/// Reads until a whole answer head is in `up.buf`, and rewrites it into `out`.
async fn read_answer(up: &mut Upstream, t: &Taken, out: &mut Vec<u8>) -> Result<Answer, Failed> {
    loop {
        if !up.buf.is_empty() {
            if let Some(a) = judge_answer(&up.buf, t, out)? {
                return Ok(a);
            }
        }
        if up.buf.len() > RESPONSE_HEAD_MAX {
            return Err(Failed::Upstream(format!(
                "the upstream's answer head is over {RESPONSE_HEAD_MAX} bytes"
            )));
        }
        up.buf.reserve(8 * 1024);
        match up.stream.read_buf(&mut up.buf).await {
            Ok(0) => {
                return Err(Failed::Upstream(
                    "the upstream closed the connection before answering".into(),
                ))
            }
            Ok(_) => {}
            Err(e) => return Err(Failed::Upstream(e.to_string())),
        }
    }
}

/// Relays the `left` body bytes still to come; `Ok(true)` when the upstream
/// sent more than that (the client gets its answer; the connection is not reused).
async fn relay_length<C: ClientIo>(
    up: &mut Upstream,
    client: &mut C,
    mut left: u64,
) -> Result<bool, Failed> {
    while left > 0 {
        let n = read_some(up).await?;
        let now = n.min(left as usize);
        left -= now as u64;
        put(client, &up.buf[..now]).await?;
        up.buf.clear();
        if now < n {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Relays a chunked body until its end; `Ok(true)` as for [`relay_length`].
async fn relay_chunked<C: ClientIo>(
    up: &mut Upstream,
    client: &mut C,
    mut chunks: Chunked,
) -> Result<bool, Failed> {
    loop {
        let n = read_some(up).await?;
        let end = chunks.scan(&up.buf[..n]).map_err(|_| bad_chunk())?;
        let now = end.unwrap_or(n);
        put(client, &up.buf[..now]).await?;
        up.buf.clear();
        if end.is_some() {
            return Ok(now < n);
        }
    }
}

/// Relays a body that ends when the upstream closes.
async fn relay_until_close<C: ClientIo>(up: &mut Upstream, client: &mut C) -> Result<(), Failed> {
    loop {
        up.buf.reserve(16 * 1024);
        match up.stream.read_buf(&mut up.buf).await {
            Ok(0) => return Ok(()),
            Ok(_) => {
                put(client, &up.buf).await?;
                up.buf.clear();
            }
            Err(e) => return Err(Failed::Upstream(e.to_string())),
        }
    }
}

/// Reads into the (empty) `up.buf`; an error at the upstream's end.
async fn read_some(up: &mut Upstream) -> Result<usize, Failed> {
    up.buf.reserve(16 * 1024);
    match up.stream.read_buf(&mut up.buf).await {
        Ok(0) => Err(Failed::Upstream(
            "the upstream closed the connection mid-answer".into(),
        )),
        Ok(n) => Ok(n),
        Err(e) => Err(Failed::Upstream(e.to_string())),
    }
}

/// Whether header `name` is `lower`, compared case-blind.
fn is(name: &str, lower: &str) -> bool {
    name.len() == lower.len() && name.eq_ignore_ascii_case(lower)
}

/// Whether header `name` is one of [`crate::forward::HOP_BY_HOP`].
fn hop_by_hop(name: &str) -> bool {
    crate::forward::HOP_BY_HOP
        .iter()
        .any(|h| is(name, h.as_str()))
}

/// Whether the request head in `buf` takes the fast path; when it does, its
/// upstream form is in `out`.
fn judge(buf: &[u8], proxy: &Proxy, conn: &Conn, limits: &Limits, out: &mut Vec<u8>) -> Judged {
    let mut headers = [httparse::EMPTY_HEADER; REQUEST_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= limits.max_header_bytes => n,
        Ok(httparse::Status::Partial) if buf.len() < limits.max_header_bytes => {
            return Judged::Partial
        }
        _ => return Judged::Hyper,
    };
    let (Some(method), Some(path), Some(1)) = (req.method, req.path, req.version) else {
        return Judged::Hyper;
    };
    if !path.starts_with('/') || method == "CONNECT" || req.headers.len() > limits.max_headers {
        return Judged::Hyper;
    }
    let mut host = None;
    let mut length = None;
    let mut close = false;
    let mut xff = None;
    for h in req.headers.iter() {
        let n = h.name;
        if is(n, "host") {
            if host.replace(h.value).is_some() {
                return Judged::Hyper;
            }
        } else if is(n, "content-length") {
            if length.is_some() {
                return Judged::Hyper;
            }
            match parse_length(h.value) {
                Some(l) => length = Some(l),
                None => return Judged::Hyper,
            }
        } else if is(n, "connection") {
            for token in h.value.split(|b| *b == b',') {
                match token.trim_ascii() {
                    t if t.eq_ignore_ascii_case(b"close") => close = true,
                    t if t.eq_ignore_ascii_case(b"keep-alive") => {}
                    _ => return Judged::Hyper,
                }
            }
        } else if is(n, "x-forwarded-for") {
            if xff.replace(h.value).is_some() {
                return Judged::Hyper;
            }
        } else if is(n, "expect") || hop_by_hop(n) {
            return Judged::Hyper;
        }
    }
    let Some(host) = host.and_then(|h| std::str::from_utf8(h).ok()) else {
        return Judged::Hyper;
    };
    let body = length.unwrap_or(0);
    if body > BODY_MAX as u64 {
        return Judged::Hyper;
    }
    let Some(live) = proxy.fast_route(host, conn) else {
        return Judged::Hyper;
    };
    out.clear();
    for part in [method.as_bytes(), b" ", path.as_bytes(), b" HTTP/1.1\r\n"] {
        out.extend_from_slice(part);
    }
    for h in req.headers.iter() {
        let n = h.name;
        if is(n, "connection")
            || is(n, "x-forwarded-for")
            || is(n, "x-forwarded-proto")
            || is(n, "x-forwarded-host")
        {
            continue;
        }
        for part in [n.as_bytes(), b": ", h.value, b"\r\n"] {
            out.extend_from_slice(part);
        }
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    if let Some(prev) = xff {
        out.extend_from_slice(prev);
        out.extend_from_slice(b", ");
    }
    for part in [
        conn.peer_ip.as_bytes(),
        if conn.tls.is_some() {
            b"\r\nx-forwarded-proto: https\r\nx-forwarded-host: "
        } else {
            b"\r\nx-forwarded-proto: http\r\nx-forwarded-host: "
        },
        host.as_bytes(),
        b"\r\n\r\n",
    ] {
        out.extend_from_slice(part);
    }
    Judged::Take(Taken {
        live,
        head_len,
        len: head_len + body as usize,
        close,
        head: method == "HEAD",
        idempotent: matches!(
            method,
            "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
        ),
    })
}

/// A `Content-Length` value: digits only (no sign, no list).
fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Whether the answer head in `buf` is whole; when it is, its client form is in `out`.
fn judge_answer(buf: &[u8], t: &Taken, out: &mut Vec<u8>) -> Result<Option<Answer>, Failed> {
    let bad = |why: &str| Failed::Upstream(format!("the upstream's answer is malformed: {why}"));
    let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(bad(&e.to_string())),
    };
    let (Some(code), Some(version)) = (resp.code, resp.version) else {
        return Err(bad("no status"));
    };
    if code < 100 {
        return Err(bad("a status below 100"));
    }
    if code == 101 {
        return Err(bad("101 Switching Protocols without an upgrade asked for"));
    }
    let mut length = None;
    let mut chunked = None;
    let mut close = version == 0;
    let mut named: Vec<&str> = Vec::new();
    let mut dated = false;
    for h in resp.headers.iter() {
        let n = h.name;
        dated |= is(n, "date");
        if is(n, "content-length") {
            let l = parse_length(h.value).ok_or_else(|| bad("content-length"))?;
            if length.is_some_and(|prev| prev != l) {
                return Err(bad("two content-lengths"));
            }
            length = Some(l);
        } else if is(n, "transfer-encoding") {
            let last = h.value.rsplit(|b| *b == b',').next().unwrap_or(b"");
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if is(n, "connection") {
            for token in h.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    // HTTP/1.0 upstreams are not kept alive here at all.
                } else if let Ok(name) = std::str::from_utf8(token) {
                    // The framing is relayed as it is, so its headers must stay.
                    if !is(name, "content-length") && !is(name, "transfer-encoding") {
                        named.push(name);
                    }
                }
            }
        }
    }
    let informational = code < 200;
    let framing = if informational || t.head || code == 204 || code == 304 {
        Framing::Empty
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::UntilClose,
            (None, Some(l)) => Framing::Length(l),
            (None, None) => Framing::UntilClose,
        }
    };
    let to_client_close = t.close || framing == Framing::UntilClose;
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    // httparse took exactly three digits.
    out.extend_from_slice(&[
        b'0' + (code / 100) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(resp.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in resp.headers.iter() {
        let n = h.name;
        // Transfer-Encoding aside: a chunked answer's framing is relayed as it is.
        let hop = (hop_by_hop(n) && !is(n, "transfer-encoding"))
            || named.iter().any(|m| m.eq_ignore_ascii_case(n))
            // The framing the client gets is the one relayed: chunked passes
            // through as it is; a length next to it is dropped (RFC 9112 §6.3).
            || (is(n, "content-length") && chunked.is_some());
        if hop {
            continue;
        }
        for part in [n.as_bytes(), b": ", h.value, b"\r\n"] {
            out.extend_from_slice(part);
        }
    }
    if !dated && !informational {
        // RFC 9110 §6.6.1: a proxy adds the Date an origin left out (hyper does too).
        out.extend_from_slice(b"date: ");
        http_date(out);
        out.extend_from_slice(b"\r\n");
    }
    if to_client_close && !informational {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Some(Answer {
        head_len,
        informational,
        framing,
        reusable: !close && framing != Framing::UntilClose,
    }))
}

/// Appends the current HTTP date, formatted once a second per thread.
fn http_date(out: &mut Vec<u8>) {
    thread_local! {
        static CACHED: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
    }
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs || c.1.is_empty() {
            *c = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(c.1.as_bytes());
    });
}

/// Writes one of our pages (an upstream failure) in HTTP/1.1.
async fn write_page<C: ClientIo>(
    client: &mut C,
    page: hyper::Response<crate::proxy::Body>,
    close: bool,
    head: bool,
) -> io::Result<()> {
    let (parts, body) = page.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(512 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(parts.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (k, v) in &parts.headers {
        for part in [k.as_str().as_bytes(), b": ", v.as_bytes(), b"\r\n"] {
            out.extend_from_slice(part);
        }
    }
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head {
        out.extend_from_slice(&body);
    }
    client.write_all(&out).await?;
    client.flush().await
}

/// A raw upstream HTTP/1.1 connection and the bytes read from it.
pub(crate) struct Upstream {
    stream: TcpStream,
    authority: Authority,
    buf: BytesMut,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("authority", &self.authority)
            .finish()
    }
}

impl Upstream {
    /// A new connection (TCP_NODELAY) within the connect timeout.
    async fn connect(authority: Authority) -> Result<Upstream, String> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(authority.as_str()))
            .await
            .map_err(|_| format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()))?
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        Ok(Upstream {
            stream,
            authority,
            buf: BytesMut::with_capacity(16 * 1024),
        })
    }

    /// The idle upstream closed its end or sent something unasked (a 408,
    /// say), as the reactor last saw it (no syscall): not to be reused.
    fn looks_closed(&self) -> bool {
        // A read that filled the buffer leaves the readiness set, so now and
        // then a sound connection is let go too; that costs a reconnect.
        matches!(
            self.stream.ready(Interest::READABLE).now_or_never(),
            Some(Ok(r)) if r.is_readable() || r.is_read_closed()
        )
    }
}

/// Idle upstream connections of one worker thread, for the fast path.
pub(crate) type Idle = IdleList<Upstream>;

impl Reusable for Upstream {
    fn authority(&self) -> &Authority {
        &self.authority
    }

    fn gone(&self) -> bool {
        self.looks_closed()
    }
}

/// A client connection with the bytes the fast path read but did not relay
/// put back in front, for hyper.
struct Rewind<C> {
    rest: Bytes,
    io: C,
}

impl<C: ClientIo> AsyncRead for Rewind<C> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.rest.is_empty() {
            let n = self.rest.len().min(buf.remaining());
            buf.put_slice(&self.rest[..n]);
            self.rest.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<C: ClientIo> AsyncWrite for Rewind<C> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
