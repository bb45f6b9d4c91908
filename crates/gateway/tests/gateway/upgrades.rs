//! `Upgrade` connections (WebSocket) spliced through the gateway.

use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{echoes, gateway, put_route, ws_upstream};

#[tokio::test]
async fn a_websocket_echo_works_through_the_gateway() {
    let gw = gateway(None).await;
    put_route(&gw, "ws.r.localhost", ws_upstream().await).await;
    let mut req = format!("ws://{}/", gw.proxy).into_client_request().unwrap();
    req.headers_mut()
        .insert("host", "ws.r.localhost".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.status(), 101);
    for text in ["ping", "pong"] {
        echoes(&mut ws, text).await;
    }
}
