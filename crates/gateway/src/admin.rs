//! The admin API the engine pushes routes through. Every call but `/healthz`
//! needs `Authorization: Bearer <token>`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::proxy::{full, Body};
use crate::routes::{Route, RouteTable};

/// Admin API state.
#[derive(Clone)]
pub struct Admin {
    table: RouteTable,
    token: String,
}

/// Routes bodies are small: refuse anything huge.
const MAX_BODY: usize = 4 * 1024 * 1024;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn json_error(status: StatusCode, msg: &str) -> Response<Body> {
    reply(status, serde_json::json!({ "error": msg }).to_string())
}

/// Compares without an early exit, so timing does not leak the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Admin {
    /// An admin API over `table` guarded by `token`.
    pub fn new(table: RouteTable, token: String) -> Self {
        Admin { table, token }
    }

    /// Handles one admin request.
    pub async fn handle(&self, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let path = req.uri().path().to_string();
        if path == "/healthz" {
            let n = self.table.snapshot().len();
            return Ok(reply(StatusCode::OK, serde_json::json!({ "ok": true, "routes": n }).to_string()));
        }
        let authorized = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| same(t.as_bytes(), self.token.as_bytes()));
        if !authorized {
            return Ok(json_error(StatusCode::UNAUTHORIZED, "missing or wrong admin token"));
        }
        let method = req.method().clone();
        let host = path.strip_prefix("/routes/").map(str::to_string);
        let body = match read_body(req).await {
            Ok(b) => b,
            Err(r) => return Ok(r),
        };
        let io_err = |e: std::io::Error| json_error(StatusCode::INTERNAL_SERVER_ERROR, &format!("cannot save routes: {e}"));
        Ok(match (method, path.as_str(), host) {
            (Method::GET, "/routes", _) => {
                let list: Vec<Route> = self.table.snapshot().values().cloned().collect();
                reply(StatusCode::OK, serde_json::to_string(&list).unwrap_or_default())
            }
            (Method::PUT, "/routes", _) => match serde_json::from_slice::<Vec<Route>>(&body) {
                Ok(list) => match self.table.replace(list) {
                    Ok(()) => reply(StatusCode::OK, "{}"),
                    Err(e) => io_err(e),
                },
                Err(e) => json_error(StatusCode::BAD_REQUEST, &format!("bad route list: {e}")),
            },
            (Method::PUT, _, Some(host)) => match serde_json::from_slice::<Route>(&body) {
                Ok(mut route) => {
                    route.host = host;
                    match self.table.put(route) {
                        Ok(()) => reply(StatusCode::OK, "{}"),
                        Err(e) => io_err(e),
                    }
                }
                Err(e) => json_error(StatusCode::BAD_REQUEST, &format!("bad route: {e}")),
            },
            (Method::DELETE, _, Some(host)) => match self.table.remove(&host) {
                Ok(_) => reply(StatusCode::OK, "{}"),
                Err(e) => io_err(e),
            },
            _ => json_error(StatusCode::NOT_FOUND, "no such admin endpoint"),
        })
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(json_error(StatusCode::PAYLOAD_TOO_LARGE, &format!("body: {e}"))),
    }
}
