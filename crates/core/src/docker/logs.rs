//! Container logs, streamed or as a last-lines excerpt.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use bollard::Docker;
use futures_util::{Stream, StreamExt};
use serde::Serialize;

use super::DockerError;

/// One chunk of log output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// The text (usually one line with its newline).
    pub text: String,
}

/// A container's logs; with `follow` the stream stays open.
pub fn logs(
    docker: &Docker,
    container: &str,
    tail: Option<usize>,
    follow: bool,
) -> impl Stream<Item = Result<LogLine, DockerError>> + use<> {
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .follow(follow)
        .tail(&tail.map(|n| n.to_string()).unwrap_or_else(|| "all".into()))
        .build();
    docker.logs(container, Some(opts)).map(|item| {
        item.map(|out| match out {
            LogOutput::StdErr { message } => LogLine {
                stream: "stderr",
                text: String::from_utf8_lossy(&message).into(),
            },
            other => LogLine {
                stream: "stdout",
                text: String::from_utf8_lossy(other.as_ref()).into(),
            },
        })
        .map_err(|e| DockerError::from_bollard("reading logs", e))
    })
}

/// The last `n` lines a container wrote (stdout and stderr interleaved).
///
/// # Errors
/// When Docker cannot read them.
pub async fn last_lines(docker: &Docker, container: &str, n: usize) -> Result<String, DockerError> {
    let mut s = Box::pin(logs(docker, container, Some(n), false));
    let mut out = String::new();
    while let Some(line) = s.next().await {
        out.push_str(&line?.text);
    }
    Ok(out)
}
