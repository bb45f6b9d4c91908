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

/// A command to run in a container, and how.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// The command, exec form.
    pub cmd: Vec<String>,
    /// Who runs it (the container's user when unset).
    pub user: Option<String>,
    /// With full privileges.
    pub privileged: bool,
    /// Where (the container's working directory when unset).
    pub working_dir: Option<String>,
    /// `KEY=VALUE` added to the container's environment.
    pub env: Vec<String>,
    /// With a terminal.
    pub tty: bool,
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
    let req = ExecRequest {
        cmd,
        tty,
        ..ExecRequest::default()
    };
    run(docker, container, &req, on_output)
        .await
        .map_err(|e| DockerError::from_bollard(&format!("running a command in {container}"), e))
}

/// Runs `req` in `container` as [`exec_streaming`] does, keeping Docker's own
/// error (its status says whether the container is gone or stopped).
///
/// # Errors
/// When Docker cannot run it.
pub(crate) async fn run(
    docker: &Docker,
    container: &str,
    req: &ExecRequest,
    on_output: &mut (dyn FnMut(LogLine) + Send),
) -> Result<i64, bollard::errors::Error> {
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(req.cmd.clone()),
                user: req.user.clone(),
                privileged: req.privileged.then_some(true),
                working_dir: req.working_dir.clone(),
                env: (!req.env.is_empty()).then(|| req.env.clone()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(req.tty),
                ..Default::default()
            },
        )
        .await?;
    if let StartExecResults::Attached {
        output: mut out, ..
    } = docker.start_exec(&created.id, None).await?
    {
        while let Some(chunk) = out.next().await {
            on_output(match chunk? {
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
    let inspect = docker.inspect_exec(&created.id).await?;
    Ok(inspect.exit_code.unwrap_or(-1))
}
