//! Every way a proxied request can fail, mapped to one HTTP status in one place.

use hyper::StatusCode;

/// Why the gateway answers instead of the preview.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No route for this host.
    #[error("no preview is routed at {0}")]
    UnknownHost(String),
    /// The request had no Host header.
    #[error("the request has no Host header")]
    NoHost,
    /// The upstream could not be reached.
    #[error("preview {preview} is not answering at {upstream}: it may be starting, stopped or crashed ({cause})")]
    Upstream {
        /// Preview id.
        preview: String,
        /// `container:port`.
        upstream: String,
        /// What failed.
        cause: String,
    },
    /// The request could not be rewritten for the upstream.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl ProxyError {
    /// The status a client sees.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::UnknownHost(_) => StatusCode::NOT_FOUND,
            ProxyError::NoHost | ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::Upstream { .. } => StatusCode::BAD_GATEWAY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_status() {
        assert_eq!(ProxyError::UnknownHost("x".into()).status(), 404);
        assert_eq!(ProxyError::NoHost.status(), 400);
        assert_eq!(ProxyError::BadRequest("x".into()).status(), 400);
        let up = ProxyError::Upstream { preview: "p".into(), upstream: "u:1".into(), cause: "refused".into() };
        assert_eq!(up.status(), 502);
    }
}
