//! Running a command in a container.

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::Docker;
use futures_util::StreamExt;
use serde::Serialize;

use super::DockerError;

/// What a command printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecOutcome {
    /// Exit code (-1 when unknown).
    pub exit_code: i64,
    /// stdout and stderr, interleaved.
    pub output: String,
}

/// Runs `cmd` in `container` and waits for it.
///
/// # Errors
/// When Docker cannot run it.
pub async fn exec(docker: &Docker, container: &str, cmd: Vec<String>, tty: bool) -> Result<ExecOutcome, DockerError> {
    let err = |e| DockerError::from_bollard("exec", e);
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(tty),
                ..Default::default()
            },
        )
        .await
        .map_err(err)?;
    let mut output = String::new();
    if let StartExecResults::Attached { output: mut out, .. } = docker.start_exec(&created.id, None).await.map_err(err)? {
        while let Some(chunk) = out.next().await {
            output.push_str(&chunk.map_err(err)?.to_string());
        }
    }
    let inspect = docker.inspect_exec(&created.id).await.map_err(err)?;
    Ok(ExecOutcome {
        exit_code: inspect.exit_code.unwrap_or(-1),
        output,
    })
}
