//! The `[health] path` probe: `GET` on the routed container itself, at its
//! address on the preview's network (reachable from the Docker host), since
//! the gateway answers with the starting page until the preview is ready.

use std::time::Duration;

use bollard::query_parameters::InspectContainerOptions;
use bollard::Docker;
use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// `GET path` on `container:port` by its address on `network`; the status.
///
/// # Errors
/// In words: no such container, no address yet, or no answer.
pub(super) async fn probe(
    docker: &Docker,
    container: &str,
    network: &str,
    port: u16,
    path: &str,
) -> Result<u16, String> {
    let c = docker
        .inspect_container(container, None::<InspectContainerOptions>)
        .await
        .map_err(|e| format!("{container}: {e}"))?;
    let ip = c
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|n| n.get(network).and_then(|e| e.ip_address.clone()))
        .filter(|ip| !ip.is_empty())
        .ok_or_else(|| format!("{container} has no address on {network} yet"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let req = Request::get(format!("http://{ip}:{port}{path}"))
        .header("host", "localhost")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(5), client.request(req))
        .await
        .map_err(|_| "no answer within 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(resp.status().as_u16())
}
