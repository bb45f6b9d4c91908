//! Running a command in a container, collected or streamed as it prints.

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::Docker;
use futures_util::StreamExt;
use serde::Serialize;

use super::{DockerError, LogLine};

/// What a command printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecOutcome {
    /// Exit code (-1 when unknown).
    pub exit_code: i64,
    /// stdout and stderr, interleaved.
    pub output: String,
}

/// Runs `cmd` in `container` and waits for it, collecting its output.
///
/// # Errors
/// When Docker cannot run it (no such container, not running, no such binary).
pub async fn exec(
    docker: &Docker,
    container: &str,
    cmd: Vec<String>,
    tty: bool,
) -> Result<ExecOutcome, DockerError> {
    let mut output = String::new();
    let exit_code = exec_streaming(docker, container, cmd, tty, &mut |line| {
        output.push_str(&line.text)
    })
    .await?;
    Ok(ExecOutcome { exit_code, output })
}

/// Runs `cmd` in `container`, handing each chunk of output to `on_output` as
/// it comes (for a CLI that prints live), and returns the exit code.
///
/// # Errors
/// When Docker cannot run it.
pub async fn exec_streaming(
    docker: &Docker,
    container: &str,
    cmd: Vec<String>,
    tty: bool,
    on_output: &mut (dyn FnMut(LogLine) + Send),
) -> Result<i64, DockerError> {
    let err = |e| DockerError::from_bollard(&format!("running a command in {container}"), e);
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
    if let StartExecResults::Attached {
        output: mut out, ..
    } = docker.start_exec(&created.id, None).await.map_err(err)?
    {
        while let Some(chunk) = out.next().await {
            on_output(match chunk.map_err(err)? {
                LogOutput::StdErr { message } => LogLine {
                    stream: "stderr",
                    text: String::from_utf8_lossy(&message).into(),
                },
                other => LogLine {
                    stream: "stdout",
                    text: String::from_utf8_lossy(other.as_ref()).into(),
                },
            });
        }
    }
    let inspect = docker.inspect_exec(&created.id).await.map_err(err)?;
    Ok(inspect.exit_code.unwrap_or(-1))
}
