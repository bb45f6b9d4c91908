//! Forwarding to the upstream: a kept-alive connection pool, bodies and
//! trailers streamed both ways, `Upgrade` (WebSocket) connections spliced,
//! gRPC over h2c, hop-by-hop headers dropped and X-Forwarded-* set.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::{PathAndQuery, Scheme};
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::error::GatewayError;
use crate::fastpath;
use crate::own::{self, IdlePool};
use crate::proxy::{full, Body, Conn};
use crate::routes::Live;

/// Headers that describe one hop, never forwarded as they are (RFC 9110 §7.6.1).
pub(crate) const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The clients to upstreams: HTTP/1.1 with a keep-alive pool, and h2c (prior
/// knowledge) for gRPC.
#[derive(Debug, Clone)]
pub struct Upstreams {
    h1: Client<HttpConnector, Incoming>,
    h2c: Client<HttpConnector, Incoming>,
    /// Upstream connections of HTTP/1 clients that have gone, for the next ones.
    idle: Arc<IdlePool>,
    /// The same for the fast path's raw connections (see [`crate::fastpath`]).
    pub(crate) fast_idle: Arc<fastpath::Idle>,
}

impl Default for Upstreams {
    fn default() -> Self {
        Self::new()
    }
}

impl Upstreams {
    /// Both clients, with TCP_NODELAY and a 5 s connect timeout.
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let h1 = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .set_host(false)
            .build(connector.clone());
        let h2c = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .http2_only(true)
            .build(connector);
        Upstreams {
            h1,
            h2c,
            idle: Arc::default(),
            fast_idle: Arc::default(),
        }
    }

    /// Sends `req` to `live`'s upstream and returns its answer, streamed.
    ///
    /// # Errors
    /// [`GatewayError::Upstream`] when the upstream cannot be reached or breaks off.
    pub async fn forward(
        &self,
        mut req: Request<Incoming>,
        live: &Live,
        conn: &Conn,
        host: HeaderValue,
        https: bool,
    ) -> Result<Response<Body>, GatewayError> {
        let upstream_err = |cause: String| upstream_error(live, cause);
        if live.replicas.is_empty() {
            return Err(upstream_err("the upstream is not a host:port".into()));
        }
        let grpc = req.version() == Version::HTTP_2
            && req
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
        let upgrade = upgrade_requested(req.headers());
        let dedicated = !grpc && upgrade.is_none() && req.version() <= Version::HTTP_11;
        // hyper_util's pool keeps connections per authority: a request on
        // it (HTTP/2 clients, gRPC, upgrades) takes the next upstream in turn.
        // A dedicated connection is chosen in `own::send`, once per connection.
        let pooled = (!dedicated).then(|| live.replicas.order()[0].clone());
        let mut parts = req.uri().clone().into_parts();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = pooled.clone();
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(PathAndQuery::from_static("/"));
        }
        let uri = if dedicated {
            // A connection of our own is sent the origin form (`/path?query`).
            Uri::from(
                parts
                    .path_and_query
                    .take()
                    .unwrap_or_else(|| PathAndQuery::from_static("/")),
            )
        } else {
            Uri::from_parts(parts).map_err(|e| GatewayError::BadRequest(e.to_string()))?
        };
        let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));

        *req.uri_mut() = uri;
        let headers = req.headers_mut();
        let trailers_te = grpc
            && headers
                .get(header::TE)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
        strip_hop_by_hop(headers);
        if trailers_te {
            // The one TE value HTTP/2 allows; gRPC servers require it.
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
        if let Some(proto) = &upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, proto.clone());
        }
        if !grpc && !headers.contains_key(header::HOST) {
            headers.insert(header::HOST, host.clone());
        }
        append_forwarded(headers, conn, host, https);

        // A pooled request whose connect failed cannot be sent again (its body
        // is gone with it), but its upstream is passed over from then on.
        let pool_err = |e: hyper_util::client::legacy::Error| {
            if let (true, Some(a)) = (e.is_connect(), &pooled) {
                live.replicas.failed(a);
            }
            upstream_err(root_cause(&e))
        };
        let mut resp = if grpc {
            *req.version_mut() = Version::HTTP_2;
            self.h2c.request(req).await.map_err(pool_err)?
        } else if dedicated {
            *req.version_mut() = Version::HTTP_11;
            own::send(req, &conn.upstream, &self.idle, &live.replicas)
                .await
                .map_err(upstream_err)?
        } else {
            *req.version_mut() = Version::HTTP_11;
            self.h1.request(req).await.map_err(pool_err)?
        };

        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_upgrade) = client_upgrade {
                let upstream_upgrade = hyper::upgrade::on(&mut resp);
                tokio::spawn(async move {
                    let (Ok(client), Ok(upstream)) = (client_upgrade.await, upstream_upgrade.await)
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(
                        &mut TokioIo::new(client),
                        &mut TokioIo::new(upstream),
                    )
                    .await;
                });
            }
            let (parts, _) = resp.into_parts();
            return Ok(Response::from_parts(parts, full(Bytes::new())));
        }
        strip_hop_by_hop(resp.headers_mut());
        if grpc {
            return Ok(resp.map(|b| b.boxed()));
        }
        // A small body of known length is read before the head goes out, so
        // head and body leave in one write instead of two (the body arrives
        // from the pool's connection task a moment after the head). Bodies of
        // unknown or larger size stream as they come.
        let small = hyper::body::Body::size_hint(resp.body())
            .exact()
            .is_some_and(|n| n <= SMALL_BODY);
        if !small {
            return Ok(resp.map(|b| b.boxed()));
        }
        let (parts, mut body) = resp.into_parts();
        // Such a body nearly always comes as one frame, kept as it is (no copy).
        let mut bytes = Bytes::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| upstream_err(root_cause(&e)))?;
            if let Ok(data) = frame.into_data() {
                bytes = if bytes.is_empty() {
                    data
                } else {
                    [bytes, data].concat().into()
                };
            }
        }
        Ok(Response::from_parts(parts, full(bytes)))
    }
}

/// The answer when `live`'s upstream cannot be reached or breaks off (`cause`).
pub(crate) fn upstream_error(live: &Live, cause: String) -> GatewayError {
    let route = &live.route;
    GatewayError::Upstream {
        preview: route.preview.clone(),
        upstream: route.all_upstreams().join(", "),
        state: route.state_name().to_string(),
        reason: route.reason.clone(),
        cause,
    }
}

pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest body read whole before answering (see [`Upstreams::forward`]).
const SMALL_BODY: u64 = 16 * 1024;

/// The `Upgrade` protocol when the client asks to switch (WebSocket and others).
fn upgrade_requested(h: &HeaderMap) -> Option<HeaderValue> {
    let conn_upgrade = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    if conn_upgrade {
        h.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// Removes the hop-by-hop headers, those `Connection` names included.
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Most messages carry none: one pass over the names instead of ten removals.
    if !h.keys().any(|k| HOP_BY_HOP.contains(k)) {
        return;
    }
    if h.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = h
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for n in named {
            h.remove(n);
        }
    }
    for n in HOP_BY_HOP {
        h.remove(n);
    }
}

fn append_forwarded(h: &mut HeaderMap, conn: &Conn, host: HeaderValue, https: bool) {
    let xff = match h.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) => HeaderValue::from_str(&format!("{prev}, {}", conn.peer.ip())).ok(),
        None => Some(conn.peer_ip.clone()),
    };
    if let Some(v) = xff {
        h.insert(X_FORWARDED_FOR, v);
    }
    h.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if https { "https" } else { "http" }),
    );
    h.insert(X_FORWARDED_HOST, host);
}

pub(crate) fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
