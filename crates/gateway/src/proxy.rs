//! Answering a proxied request: by Host to the route, then by the route's
//! state either forwarded (see [`crate::forward`]) or answered with a page.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::error::GatewayError;
use crate::events::{now_ms, Events};
use crate::forward::Upstreams;
use crate::own;
use crate::pages::{self, Links, Page};
use crate::routes::{normalize_host, Live, Phase, RouteTable};
use crate::settings::SettingsStore;

/// Response body: the upstream's stream, or a page of ours.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// A body made of `text`.
pub fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

/// What the gateway knows about one client connection, made once per connection.
#[derive(Debug)]
pub struct Conn {
    /// The client's address.
    pub peer: SocketAddr,
    /// The client's IP as a header value, for X-Forwarded-For.
    pub peer_ip: HeaderValue,
    /// `None` on plain HTTP; on HTTPS, the host whose certificate was served
    /// (`Some(None)` when the fallback was).
    pub tls: Option<Option<String>>,
    /// This connection's own upstream connection (HTTP/1 clients only).
    pub upstream: own::Slot,
}

impl Conn {
    /// A connection from `peer`, over TLS when `tls` is given.
    pub fn new(peer: SocketAddr, tls: Option<Option<String>>) -> Self {
        let peer_ip = HeaderValue::from_str(&peer.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        Conn {
            peer,
            peer_ip,
            tls,
            upstream: own::Slot::default(),
        }
    }
}

/// The proxy's shared state.
#[derive(Debug, Clone)]
pub struct Proxy {
    table: RouteTable,
    settings: SettingsStore,
    events: Events,
    upstreams: Upstreams,
    /// `:port` in http links when not 80.
    http_suffix: String,
    /// `:port` in https links and redirects when not 443.
    https_suffix: String,
}

fn suffix(port: Option<u16>, default: u16) -> String {
    match port {
        Some(p) if p != default => format!(":{p}"),
        _ => String::new(),
    }
}

fn html(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn wants_html(req: &Request<Incoming>) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

impl Proxy {
    /// A proxy over `table`; the public ports are the ones users reach (for links).
    pub fn new(
        table: RouteTable,
        settings: SettingsStore,
        events: Events,
        public_port: Option<u16>,
        public_tls_port: Option<u16>,
    ) -> Self {
        Proxy {
            table,
            settings,
            events,
            upstreams: Upstreams::new(),
            http_suffix: suffix(public_port, 80),
            https_suffix: suffix(public_tls_port, 443),
        }
    }

    /// The same proxy with an upstream connection pool of its own (one per worker thread).
    pub fn with_own_pool(&self) -> Self {
        Proxy {
            upstreams: Upstreams::new(),
            ..self.clone()
        }
    }

    /// Handles one request; never fails (failures become pages).
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        conn: &Conn,
    ) -> Result<Response<Body>, Infallible> {
        let https = conn.tls.is_some();
        Ok(match self.answer(req, conn).await {
            Ok(resp) => resp,
            Err((e, host, live)) => self.error_page(&e, host.as_deref(), live.as_deref(), https),
        })
    }

    fn error_page(
        &self,
        e: &GatewayError,
        host: Option<&str>,
        live: Option<&Live>,
        https: bool,
    ) -> Response<Body> {
        let links = Links {
            scheme: if https { "https" } else { "http" },
            port_suffix: if https {
                &self.https_suffix
            } else {
                &self.http_suffix
            },
        };
        let status = e.status();
        let message = e.to_string();
        let heading = format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        let table = self.table.snapshot();
        let routes = table.sorted();
        let mut page = Page {
            title: &heading,
            message: &message,
            ..Page::default()
        };
        let mut status = status;
        match e {
            GatewayError::UnknownHost(_)
            | GatewayError::NoHost
            | GatewayError::Misdirected { .. } => {
                if matches!(host, Some("localhost" | "127.0.0.1"))
                    && !matches!(e, GatewayError::Misdirected { .. })
                {
                    status = StatusCode::OK;
                    page.title = "Branchyard";
                    page.message = "Previews routed by this gateway:";
                }
                page.previews = Some((&routes, links));
            }
            GatewayError::NotReady { .. } => {
                page.title = "Starting up";
                page.refresh = true;
            }
            GatewayError::Failed { .. } => {
                page.title = "Preview failed";
                page.logs = live.map(|l| l.route.logs.as_slice()).unwrap_or(&[]);
            }
            _ => {}
        }
        let mut resp = html(status, pages::render(&page));
        if matches!(e, GatewayError::NotReady { .. }) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }

    /// The serving route for `host`, when an HTTP/1.1 request to it on
    /// `conn` can take the fast path (an upstream to go to, no redirect, no
    /// page, no wake; over TLS only the host the certificate was chosen for).
    pub(crate) fn fast_route(&self, host: &str, conn: &Conn) -> Option<Arc<Live>> {
        let live = self.route_for(host, conn).ok()?;
        if Phase::of(&live.route) != Phase::Serving
            || self.redirects(&live, conn)
            || live.replicas.is_empty()
        {
            return None;
        }
        Some(live)
    }

    /// The route for `host` on `conn`. Over HTTPS only the host the
    /// certificate was chosen for is served, so a shared connection never
    /// reaches another preview.
    fn route_for(&self, host: &str, conn: &Conn) -> Result<Arc<Live>, Refused> {
        match (&conn.tls, self.table.lookup(host)) {
            (None, Some(live)) => Ok(live),
            (Some(Some(sni)), Some(live)) if *sni == live.route.host => Ok(live),
            (Some(Some(sni)), Some(live)) => Err(Refused::Misdirected {
                sni: sni.clone(),
                host: live.route.host.clone(),
            }),
            _ => Err(Refused::Unknown),
        }
    }

    /// Whether a plain-HTTP request for `live` is sent to HTTPS instead.
    fn redirects(&self, live: &Live, conn: &Conn) -> bool {
        conn.tls.is_none() && live.cert.is_some() && self.settings.peek().redirect_https
    }

    /// The page for a request on `conn` whose upstream failed (`cause`).
    pub(crate) fn upstream_failure(
        &self,
        live: &Arc<Live>,
        conn: &Conn,
        cause: String,
    ) -> Response<Body> {
        let e = crate::forward::upstream_error(live, cause);
        self.error_page(&e, Some(&live.route.host), Some(live), conn.tls.is_some())
    }

    /// This worker's idle fast-path upstream connections.
    pub(crate) fn fast_idle(&self) -> Arc<crate::fastpath::Idle> {
        self.upstreams.fast_idle.clone()
    }

    async fn answer(
        &self,
        req: Request<Incoming>,
        conn: &Conn,
    ) -> Result<Response<Body>, (GatewayError, Option<String>, Option<Arc<Live>>)> {
        let host_value = match req.headers().get(header::HOST) {
            Some(h) => h.clone(),
            None => req
                .uri()
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
                .ok_or((GatewayError::NoHost, None, None))?,
        };
        let host_str = host_value
            .to_str()
            .map_err(|_| (GatewayError::NoHost, None, None))?;
        let unknown = || {
            let h = normalize_host(host_str);
            (GatewayError::UnknownHost(h.clone()), Some(h), None)
        };
        let live = self.route_for(host_str, conn).map_err(|r| match r {
            Refused::Unknown => unknown(),
            Refused::Misdirected { sni, host } => {
                (GatewayError::Misdirected { sni, host }, None, None)
            }
        })?;
        live.traffic.hit(now_ms());
        let fail =
            |e: GatewayError, l: &Arc<Live>| (e, Some(l.route.host.clone()), Some(l.clone()));

        if self.redirects(&live, conn) {
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let to = format!("https://{}{}{}", live.route.host, self.https_suffix, path);
            let mut resp = Response::new(full(Bytes::new()));
            *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
            if let Ok(v) = HeaderValue::from_str(&to) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            return Ok(resp);
        }

        let live = match Phase::of(&live.route) {
            Phase::Serving => live,
            Phase::Asleep => {
                let r = &live.route;
                if !live.traffic.woken.swap(true, Ordering::AcqRel) {
                    self.events.wake(&r.preview, &r.host);
                }
                if wants_html(&req) {
                    let e = GatewayError::NotReady {
                        preview: r.preview.clone(),
                        state: "waking up".into(),
                        step: r.step.clone(),
                    };
                    return Err(fail(e, &live));
                }
                self.hold(&live, self.settings.peek().wake_timeout())
                    .await
                    .map_err(|e| fail(e, &live))?
            }
            _ => return Err(fail(not_serving(&live), &live)),
        };
        let https = conn.tls.is_some();
        self.upstreams
            .forward(req, &live, conn, host_value, https)
            .await
            .map_err(|e| fail(e, &live))
    }

    /// Holds a request for a waking preview until its route turns ready (the
    /// ready route), fails or stops (that answer), or `timeout` passes.
    async fn hold(
        &self,
        live: &Arc<Live>,
        timeout: std::time::Duration,
    ) -> Result<Arc<Live>, GatewayError> {
        let started = tokio::time::Instant::now();
        let mut changes = self.table.watch();
        let host = live.route.host.clone();
        loop {
            let now = self
                .table
                .lookup(&host)
                .ok_or_else(|| GatewayError::UnknownHost(host.clone()))?;
            match Phase::of(&now.route) {
                Phase::Serving => return Ok(now),
                Phase::Asleep | Phase::Busy => {}
                _ => return Err(not_serving(&now)),
            }
            let waited = tokio::time::timeout_at(started + timeout, changes.changed()).await;
            // A closed channel (the table is gone) ends the wait too, or this would spin.
            if !matches!(waited, Ok(Ok(()))) {
                return Err(GatewayError::WakeTimeout {
                    preview: live.route.preview.clone(),
                    waited_ms: timeout.as_millis() as u64,
                });
            }
        }
    }
}

/// Why a host is not served on a connection.
enum Refused {
    /// No route (or, over HTTPS, the fallback certificate was served).
    Unknown,
    /// Over HTTPS, another host than the one the certificate was chosen for.
    Misdirected { sni: String, host: String },
}

/// The answer for a route that is not serving.
fn not_serving(live: &Live) -> GatewayError {
    let r = &live.route;
    match Phase::of(r) {
        Phase::Failed => GatewayError::Failed {
            preview: r.preview.clone(),
            reason: r.reason.clone().unwrap_or_else(|| "no reason given".into()),
        },
        Phase::Stopped => GatewayError::Stopped {
            preview: r.preview.clone(),
            repo: r.repo.clone(),
            branch: r.branch.clone(),
        },
        _ => GatewayError::NotReady {
            preview: r.preview.clone(),
            state: r.state_name().to_string(),
            step: r.step.clone(),
        },
    }
}
