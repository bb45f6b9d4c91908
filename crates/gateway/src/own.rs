//! Upstream connections owned by one client connection that hyper serves
//! (HTTP/1.1 over TLS, and plain HTTP from the first request the fast path
//! of [`crate::fastpath`] hands over).
//!
//! HTTP/1 requests on one client connection come one after another, so each
//! such connection keeps an upstream connection to itself and reuses it for
//! every request: no pool lookup, lock or checkout per request. The shared
//! pool of `hyper_util` cost about a tenth of the gateway's CPU per request
//! (`scripts/bench-gateway.sh`). When the client goes, its upstream
//! connection joins a small idle list of the worker thread, so short-lived
//! clients (`curl`, a browser's extra connections) do not open one each.
//! HTTP/2 clients, gRPC and upgrades use hyper_util's pool instead.

use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::http::uri::Authority;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use crate::forward::{root_cause, CONNECT_TIMEOUT};
use crate::idle::{IdleList, Reusable};
use crate::replicas::Replicas;

/// An upstream HTTP/1 connection and where it goes.
#[derive(Debug)]
pub struct Owned {
    authority: Authority,
    sender: http1::SendRequest<Incoming>,
    /// Where it goes when its client does.
    home: Arc<IdlePool>,
}

/// The client connection's own upstream connection, if it has one yet.
#[derive(Debug, Default)]
pub struct Slot(Mutex<Option<Owned>>);

impl Slot {
    fn take(&self) -> Option<Owned> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }

    /// Only called with the slot empty: [`send`] takes its connection out first.
    fn keep(&self, o: Owned) {
        if let Ok(mut s) = self.0.lock() {
            *s = Some(o);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(o) = self.take() {
            o.home.clone().put(o);
        }
    }
}

/// Idle upstream connections of one worker thread, for hyper's path.
pub type IdlePool = IdleList<Owned>;

impl Reusable for Owned {
    fn authority(&self) -> &Authority {
        &self.authority
    }

    fn gone(&self) -> bool {
        self.sender.is_closed()
    }

    /// Not ready yet: its last answer is still being read (its task lags a little).
    fn ready(&self) -> bool {
        self.sender.is_ready()
    }
}

/// Sends `req` (origin form, Host set) on `slot`'s connection while it goes
/// to one of `replicas`; else on an idle one of `pool` to the next replica in
/// turn, else on a new one, to the first replica that answers.
///
/// # Errors
/// The root cause, when no connection can be made or the upstream breaks off.
pub async fn send(
    req: Request<Incoming>,
    slot: &Slot,
    pool: &Arc<IdlePool>,
    replicas: &Replicas,
) -> Result<Response<Incoming>, String> {
    let mut held = slot.take();
    if let Some(o) = held.take_if(|o| !replicas.keeps(&o.authority)) {
        // The route moved on (or that replica died): the connection waits for another client.
        o.home.clone().put(o);
    }
    // A new upstream connection takes the next replica in turn: one turn
    // for the idle connection looked for and the connect after it.
    let order = if held.is_some() {
        Vec::new()
    } else {
        replicas.order()
    };
    let idle = order.first().and_then(|a| pool.take(a));
    let mut req = req;
    for candidate in [held, idle] {
        let Some(mut o) = candidate else { continue };
        if o.sender.ready().await.is_err() {
            continue;
        }
        match o.sender.try_send_request(req).await {
            Ok(resp) => {
                slot.keep(o);
                return Ok(resp);
            }
            // Closed before the request went out (the upstream's idle timeout,
            // a restarted container): sent again, as hyper's pool would.
            Err(mut e) => match e.take_message() {
                Some(r) => req = r,
                None => return Err(root_cause(e.error())),
            },
        }
    }
    let order = if order.is_empty() {
        replicas.order()
    } else {
        order
    };
    let mut o = replicas.connect(&order, |a| connect(a, pool)).await?;
    let resp = o
        .sender
        .send_request(req)
        .await
        .map_err(|e| root_cause(&e))?;
    slot.keep(o);
    Ok(resp)
}

/// A new upstream connection (TCP_NODELAY), driven by a task of its own.
async fn connect(authority: Authority, pool: &Arc<IdlePool>) -> Result<Owned, String> {
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect(authority.as_str()),
    )
    .await
    .map_err(|_| format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()))?
    .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| root_cause(&e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Owned {
        authority,
        sender,
        home: pool.clone(),
    })
}
