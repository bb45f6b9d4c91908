//! The admin API the engine pushes routes through. Every call but `/healthz`
//! needs `Authorization: Bearer <token>`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::error::GatewayError;
use crate::events::{self, Events};
use crate::proxy::{full, Body};
use crate::routes::{Route, RouteTable};
use crate::settings::{GatewayConfig, SettingsStore};

/// Admin API state.
#[derive(Clone)]
pub struct Admin {
    table: RouteTable,
    settings: SettingsStore,
    events: Events,
    token: String,
}

/// Routes bodies are small: refuse anything huge.
const MAX_BODY: usize = 4 * 1024 * 1024;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn json_error(e: &GatewayError) -> Response<Body> {
    reply(
        e.status(),
        serde_json::json!({ "error": e.to_string() }).to_string(),
    )
}

/// Compares without an early exit, so timing does not leak the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Admin {
    /// An admin API over `table` and `settings`, streaming `events`, guarded by `token`.
    pub fn new(table: RouteTable, settings: SettingsStore, events: Events, token: String) -> Self {
        Admin {
            table,
            settings,
            events,
            token,
        }
    }

    /// Handles one admin request; failures become JSON `{"error": …}` answers
    /// with the status [`GatewayError::status`] gives.
    pub async fn handle(&self, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        Ok(match self.answer(req).await {
            Ok(resp) => resp,
            Err(e) => {
                tracing::debug!(error = %e, "admin request refused");
                json_error(&e)
            }
        })
    }

    async fn answer(&self, req: Request<Incoming>) -> Result<Response<Body>, GatewayError> {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        if path == "/healthz" {
            let n = self.table.snapshot().hosts.len();
            return Ok(reply(
                StatusCode::OK,
                serde_json::json!({ "ok": true, "routes": n }).to_string(),
            ));
        }
        let authorized = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| same(t.as_bytes(), self.token.as_bytes()));
        if !authorized {
            return Err(GatewayError::Unauthorized);
        }
        let host = path
            .strip_prefix("/routes/")
            .filter(|h| !h.is_empty())
            .map(str::to_string);
        let body = read_body(req).await?;
        let done = || reply(StatusCode::OK, "{}");
        match (&method, path.as_str(), host) {
            (&Method::GET, "/events", _) => {
                use futures_util::StreamExt;
                let stream = self
                    .events
                    .stream()
                    .map(|line| Ok::<_, hyper::Error>(hyper::body::Frame::data(line)));
                let mut r = Response::new(BodyExt::boxed(http_body_util::StreamBody::new(stream)));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-ndjson"),
                );
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                Ok(r)
            }
            (&Method::GET, "/stats", _) => Ok(reply(
                StatusCode::OK,
                serde_json::to_string(&events::stats(&self.table)).unwrap_or_default(),
            )),
            (&Method::GET, "/config", _) => Ok(reply(
                StatusCode::OK,
                serde_json::to_string(&*self.settings.get())
                    .map_err(|e| GatewayError::BadRoute(e.to_string()))?,
            )),
            (&Method::PUT, "/config", _) => {
                let next: GatewayConfig = serde_json::from_slice(&body).map_err(|e| {
                    GatewayError::BadRoute(format!(
                        "PUT /config takes {{\"redirect_https\":bool,\"wake_timeout_ms\":n}}: {e}"
                    ))
                })?;
                self.settings.set(next)?;
                Ok(done())
            }
            (&Method::GET, "/routes", _) => {
                let snap = self.table.snapshot();
                let list: Vec<&Route> = snap.sorted();
                let text = serde_json::to_string(&list)
                    .map_err(|e| GatewayError::BadRoute(e.to_string()))?;
                Ok(reply(StatusCode::OK, text))
            }
            (&Method::PUT, "/routes", _) => {
                let list: Vec<Route> = serde_json::from_slice(&body).map_err(|e| {
                    GatewayError::BadRoute(format!("PUT /routes takes a JSON list of routes: {e}"))
                })?;
                self.table.replace(list)?;
                Ok(done())
            }
            (&Method::PUT, _, Some(host)) => {
                let mut route: Route = serde_json::from_slice(&body).map_err(|e| {
                    GatewayError::BadRoute(format!(
                        "PUT /routes/{host} takes {{\"upstream\":\"name:port\",…}}: {e}"
                    ))
                })?;
                route.host = host;
                self.table.put(route)?;
                Ok(done())
            }
            (&Method::DELETE, _, Some(host)) => {
                self.table.remove(&host)?;
                Ok(done())
            }
            _ => Err(GatewayError::NoEndpoint {
                method: method.to_string(),
                path,
            }),
        }
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, GatewayError> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(GatewayError::TooLarge(format!(
            "{e} (limit {MAX_BODY} bytes)"
        ))),
    }
}
