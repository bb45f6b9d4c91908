//! Every way a request to the gateway can fail, proxied or admin, mapped to
//! one HTTP status in one place so each failure becomes a clean answer.

use hyper::StatusCode;

/// Why the gateway answers itself instead of the preview (or refuses an admin call).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No route for this host.
    #[error(
        "no preview is routed at {0}: run `branchyard status` to see the previews and their URLs"
    )]
    UnknownHost(String),
    /// The request had no Host header.
    #[error("the request has no Host header: the gateway routes by host name")]
    NoHost,
    /// The upstream could not be reached.
    #[error("{}", upstream_text(.preview, .upstream, .state, .reason.as_deref(), .cause))]
    Upstream {
        /// Preview id.
        preview: String,
        /// `container:port`.
        upstream: String,
        /// The preview's lifecycle state (`ready`, `updating`, `degraded`).
        state: String,
        /// What the engine says is down, when it is degraded.
        reason: Option<String>,
        /// What failed.
        cause: String,
    },
    /// The request could not be rewritten for the upstream.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// An admin call without the right bearer token.
    #[error("missing or wrong admin token: send `Authorization: Bearer <token>` (the engine keeps it in gateway.token)")]
    Unauthorized,
    /// An admin call with a body that is not a route (or a list of them).
    #[error("bad route: {0}")]
    BadRoute(String),
    /// An admin body over the size limit.
    #[error("admin request body too large: {0}")]
    TooLarge(String),
    /// An admin path or method the API does not have.
    #[error("no admin endpoint {method} {path}: the API has GET/PUT /routes, PUT/DELETE /routes/<host>, GET/PUT /config, GET /events, GET /stats, GET /healthz")]
    NoEndpoint {
        /// The method asked for.
        method: String,
        /// The path asked for.
        path: String,
    },
    /// The preview is on its way (or going away): the page reloads itself.
    #[error("preview {preview} is {state}{}: this page reloads itself and opens the app once it is ready", step.as_deref().map(|s| format!(" ({s})")).unwrap_or_default())]
    NotReady {
        /// Preview id.
        preview: String,
        /// Its lifecycle state.
        state: String,
        /// The current step, when the engine sent one.
        step: Option<String>,
    },
    /// The preview failed to come up.
    #[error("preview {preview} failed: {reason}; fix it and run `branchyard up` again, or see `branchyard logs`")]
    Failed {
        /// Preview id.
        preview: String,
        /// What the engine said went wrong.
        reason: String,
    },
    /// The preview is stopped and is not woken by requests.
    #[error("preview {preview} is stopped: start it with `branchyard up {repo} {branch}` or from the app")]
    Stopped {
        /// Preview id.
        preview: String,
        /// Its repository.
        repo: String,
        /// Its branch.
        branch: String,
    },
    /// A woken preview did not turn ready within the wake timeout.
    #[error("preview {preview} was woken but is not ready after {waited_ms} ms: see `branchyard status` and `branchyard logs`")]
    WakeTimeout {
        /// Preview id.
        preview: String,
        /// How long the request was held.
        waited_ms: u64,
    },
    /// An HTTPS request whose Host is not the name its connection was opened for.
    #[error(
        "this HTTPS connection was opened for {sni}, not {host}: open https://{host}/ directly"
    )]
    Misdirected {
        /// The SNI of the connection.
        sni: String,
        /// The Host asked for.
        host: String,
    },
    /// The route table could not be saved; the change was not applied.
    #[error("cannot save the route table to {path}: {cause} (the change was not applied)")]
    Persist {
        /// The state file.
        path: String,
        /// What failed.
        cause: String,
    },
}

/// The words of [`GatewayError::Upstream`]: what the engine knows (a
/// degraded preview names what is down and how to restart it), then what the
/// gateway saw.
fn upstream_text(
    preview: &str,
    upstream: &str,
    state: &str,
    reason: Option<&str>,
    cause: &str,
) -> String {
    if state == "degraded" {
        let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
        return format!(
            "preview {preview} is degraded{why} and {upstream} is not answering ({cause}): restart it with `branchyard start {preview}` or from the app, or see `branchyard status {preview}` and `branchyard logs {preview}`"
        );
    }
    format!(
        "preview {preview} is {state} but {upstream} is not answering ({cause}): it may be starting, stopped or crashed; see `branchyard status` and `branchyard logs`"
    )
}

impl GatewayError {
    /// The status a client sees: the one place failures meet HTTP.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::UnknownHost(_) => StatusCode::NOT_FOUND,
            GatewayError::NoHost | GatewayError::BadRequest(_) | GatewayError::BadRoute(_) => {
                StatusCode::BAD_REQUEST
            }
            GatewayError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            GatewayError::Unauthorized => StatusCode::UNAUTHORIZED,
            GatewayError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::NoEndpoint { .. } => StatusCode::NOT_FOUND,
            GatewayError::Persist { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::NotReady { .. } | GatewayError::Stopped { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            GatewayError::Failed { .. } => StatusCode::BAD_GATEWAY,
            GatewayError::WakeTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Misdirected { .. } => StatusCode::MISDIRECTED_REQUEST,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_status() {
        let cases = [
            (GatewayError::UnknownHost("x".into()), 404),
            (GatewayError::NoHost, 400),
            (GatewayError::BadRequest("x".into()), 400),
            (
                GatewayError::Upstream {
                    preview: "p".into(),
                    upstream: "u:1".into(),
                    state: "ready".into(),
                    reason: None,
                    cause: "refused".into(),
                },
                502,
            ),
            (GatewayError::Unauthorized, 401),
            (GatewayError::BadRoute("x".into()), 400),
            (GatewayError::TooLarge("x".into()), 413),
            (
                GatewayError::NoEndpoint {
                    method: "POST".into(),
                    path: "/x".into(),
                },
                404,
            ),
            (
                GatewayError::Persist {
                    path: "/data/routes.json".into(),
                    cause: "read-only".into(),
                },
                500,
            ),
            (
                GatewayError::NotReady {
                    preview: "p".into(),
                    state: "starting".into(),
                    step: None,
                },
                503,
            ),
            (
                GatewayError::Failed {
                    preview: "p".into(),
                    reason: "exit 1".into(),
                },
                502,
            ),
            (
                GatewayError::Stopped {
                    preview: "p".into(),
                    repo: "r".into(),
                    branch: "b".into(),
                },
                503,
            ),
            (
                GatewayError::WakeTimeout {
                    preview: "p".into(),
                    waited_ms: 1,
                },
                504,
            ),
            (
                GatewayError::Misdirected {
                    sni: "a".into(),
                    host: "b".into(),
                },
                421,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(e.status(), code, "{e}");
        }
    }

    #[test]
    fn an_upstream_failure_names_the_preview_and_says_it_may_be_starting() {
        let e = GatewayError::Upstream {
            preview: "feature-x.shop".into(),
            upstream: "web:80".into(),
            state: "ready".into(),
            reason: None,
            cause: "connection refused".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("feature-x.shop is ready") && text.contains("starting"),
            "{text}"
        );
    }

    #[test]
    fn a_degraded_upstream_names_the_state_what_is_down_and_the_fix() {
        let e = GatewayError::Upstream {
            preview: "feature-x.shop".into(),
            upstream: "web:80".into(),
            state: "degraded".into(),
            reason: Some("web exited with code 137 (killed)".into()),
            cause: "connection refused".into(),
        };
        assert_eq!(e.status(), 502);
        assert_eq!(
            e.to_string(),
            "preview feature-x.shop is degraded (web exited with code 137 (killed)) and web:80 is not answering (connection refused): restart it with `branchyard start feature-x.shop` or from the app, or see `branchyard status feature-x.shop` and `branchyard logs feature-x.shop`"
        );
    }
}
