//! A tiny client for the gateway's admin API on 127.0.0.1.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::GatewayError;

/// What `/healthz` says.
#[derive(Debug, Clone, Deserialize)]
pub struct GatewayHealth {
    /// Always true when it answers.
    pub ok: bool,
    /// Routes it serves.
    pub routes: usize,
}

/// The admin API of one gateway.
#[derive(Clone)]
pub(super) struct AdminClient {
    base: String,
    token: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl AdminClient {
    pub(super) fn new(port: u16, token: String) -> Self {
        let mut c = HttpConnector::new();
        c.set_connect_timeout(Some(Duration::from_secs(2)));
        AdminClient {
            base: format!("http://127.0.0.1:{port}"),
            token,
            client: Client::builder(TokioExecutor::new()).build(c),
        }
    }

    /// Sends one request; `Ok((status, body))`.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, String), GatewayError> {
        let req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| GatewayError::Admin(e.to_string()))?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .map_err(|_| GatewayError::Admin(format!("{path}: no answer within 10 s")))?
            .map_err(|e| GatewayError::Admin(format!("{path}: {e}")))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| GatewayError::Admin(e.to_string()))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).to_string()))
    }

    /// Like [`Self::call`], but a non-2xx answer is an error.
    pub(super) async fn ok(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<String, GatewayError> {
        let (status, text) = self.call(method, path, body).await?;
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            Err(GatewayError::Admin(format!(
                "{path} answered {status}: {text}"
            )))
        }
    }

    /// Opens `GET path` and returns the body as it streams (for `/events`).
    pub(super) async fn stream(&self, path: &str) -> Result<hyper::body::Incoming, GatewayError> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .body(Full::new(Bytes::new()))
            .map_err(|e| GatewayError::Admin(e.to_string()))?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .map_err(|_| GatewayError::Admin(format!("{path}: no answer within 10 s")))?
            .map_err(|e| GatewayError::Admin(format!("{path}: {e}")))?;
        if !resp.status().is_success() {
            return Err(GatewayError::Admin(format!(
                "{path} answered {}",
                resp.status()
            )));
        }
        Ok(resp.into_body())
    }

    pub(super) async fn health(&self) -> Result<GatewayHealth, GatewayError> {
        let text = self.ok(Method::GET, "/healthz", None).await?;
        serde_json::from_str(&text).map_err(|e| GatewayError::Admin(format!("/healthz: {e}")))
    }
}

impl AdminClient {
    /// `GET path` with a Host header (used to probe routes through the proxy).
    pub(super) async fn call_host(
        &self,
        host: &str,
        path: &str,
    ) -> Result<(u16, String), GatewayError> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("{}{path}", self.base))
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .map_err(|e| GatewayError::Admin(e.to_string()))?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .map_err(|_| GatewayError::Admin(format!("{host}{path}: no answer within 10 s")))?
            .map_err(|e| GatewayError::Admin(format!("{host}{path}: {e}")))?;
        Ok((resp.status().as_u16(), String::new()))
    }
}
