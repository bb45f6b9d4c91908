//! Forwarding: by Host header to the route's upstream, bodies streamed both
//! ways, `Upgrade` (WebSocket) connections spliced, X-Forwarded-* set.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::error::GatewayError;
use crate::pages;
use crate::routes::{normalize_host, RouteTable};

/// Response body: the upstream's stream, or a page of ours.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// The proxy's shared state.
#[derive(Clone)]
pub struct Proxy {
    table: RouteTable,
    client: Client<HttpConnector, Incoming>,
    /// `:port` to put in links when not on 80.
    port_suffix: String,
}

/// A body made of `text`.
pub fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

impl Proxy {
    /// A proxy over `table`; `public_port` is the port users reach us on (for links).
    pub fn new(table: RouteTable, public_port: Option<u16>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Proxy {
            table,
            client,
            port_suffix: match public_port {
                Some(80) | None => String::new(),
                Some(p) => format!(":{p}"),
            },
        }
    }

    /// Handles one request; never fails (failures become pages).
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Body>, Infallible> {
        Ok(match self.forward(req, peer).await {
            Ok(resp) => resp,
            Err((e, host)) => self.error_page(&e, host.as_deref()),
        })
    }

    fn error_page(&self, e: &GatewayError, host: Option<&str>) -> Response<Body> {
        let routes: Vec<_> = self.table.snapshot().values().cloned().collect();
        let bare = matches!(host, Some("localhost" | "127.0.0.1"));
        let (status, title) = match e {
            GatewayError::UnknownHost(_) if bare => (StatusCode::OK, "Branchyard".to_string()),
            _ => (
                e.status(),
                format!(
                    "{} {}",
                    e.status().as_u16(),
                    e.status().canonical_reason().unwrap_or("")
                ),
            ),
        };
        let message = if bare {
            "Previews routed by this gateway:".to_string()
        } else {
            e.to_string()
        };
        let body = pages::page(&title, &message, &routes, &self.port_suffix);
        let mut resp = Response::new(full(body));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }

    async fn forward(
        &self,
        mut req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Body>, (GatewayError, Option<String>)> {
        let raw_host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .ok_or((GatewayError::NoHost, None))?;
        let host = normalize_host(&raw_host);
        let route = self
            .table
            .lookup(&host)
            .ok_or_else(|| (GatewayError::UnknownHost(host.clone()), Some(host.clone())))?;
        let fail = |e: GatewayError| (e, Some(host.clone()));

        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri: Uri = format!("http://{}{}", route.upstream, path)
            .parse()
            .map_err(|e| fail(GatewayError::BadRequest(format!("{e}"))))?;
        let upgrade = upgrade_requested(req.headers());
        let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));

        *req.uri_mut() = uri;
        let headers = req.headers_mut();
        strip_hop_by_hop(headers);
        if let Some(proto) = &upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, proto.clone());
        }
        append_forwarded(headers, peer, &raw_host);

        let mut resp = self.client.request(req).await.map_err(|e| {
            fail(GatewayError::Upstream {
                preview: route.preview.clone(),
                upstream: route.upstream.clone(),
                cause: root_cause(&e),
            })
        })?;

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
        Ok(resp.map(|b| b.boxed()))
    }
}

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

fn strip_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| {
            v.split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in HOP_BY_HOP {
        h.remove(n);
    }
    h.remove(header::UPGRADE);
}

fn append_forwarded(h: &mut HeaderMap, peer: SocketAddr, host: &str) {
    let ip = peer.ip().to_string();
    let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert("x-forwarded-for", v);
    }
    h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Ok(v) = HeaderValue::from_str(host) {
        h.insert("x-forwarded-host", v);
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
