//! Lifecycle hooks (`post_start`, `pre_stop`; compose ≥ 2.30) run in the
//! service's own container through Docker's exec API, as compose runs them.
//!
//! `post_start` hooks run in order right after the container starts and
//! before it counts as started, so dependents wait for them; a hook that
//! exits non-zero fails the service with the end of its output. `pre_stop`
//! hooks run before the container is stopped (stop, down, a replica removed
//! or recreated); a failing one is a warning and the stop goes on. The
//! `pre_stop` hooks travel with the container in a label, so stopping needs
//! only what Docker lists, not the compose files.

use std::collections::HashMap;

use bollard::Docker;
use tracing::Instrument;

use crate::compose::model::Hook;
use crate::docker::labels::PRE_STOP;
use crate::docker::{describe, run_exec, DockerError, ExecRequest};

/// Lines and bytes of a failing hook's output kept for its message (compose's bounds).
const TAIL_LINES: usize = 10;
const TAIL_BYTES: usize = 2048;

/// How one hook ended, when it did not succeed.
#[derive(Debug)]
enum Failure {
    /// It ran and exited non-zero: the code and the end of its output.
    Exited(i64, String),
    /// Docker could not run it: whether the container is gone or stopped, and why.
    NotRun(bool, String),
}

/// The `pre_stop` label value: the hooks as JSON (none when there are none).
pub(super) fn pre_stop_label(hooks: &[Hook]) -> Option<String> {
    (!hooks.is_empty())
        .then(|| serde_json::to_string(hooks).ok())
        .flatten()
}

/// `touch /ready` for messages.
fn shown(h: &Hook) -> String {
    h.command.join(" ")
}

/// The last lines of `text`, within the byte bound.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    let mut out = lines[start..].join("\n");
    if out.len() > TAIL_BYTES {
        let mut cut = out.len() - TAIL_BYTES;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = out[cut..].to_string();
    }
    out
}

/// Runs `hook` in `container` and waits for it.
async fn run(docker: &Docker, container: &str, hook: &Hook, tty: bool) -> Result<(), Failure> {
    let req = ExecRequest {
        cmd: hook.command.clone(),
        user: hook.user.clone(),
        privileged: hook.privileged,
        working_dir: hook.working_dir.clone(),
        env: hook
            .environment
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect(),
        tty,
    };
    let (mut out, mut err) = (String::new(), String::new());
    let code = run_exec(docker, container, &req, &mut |line| {
        if line.stream == "stderr" {
            &mut err
        } else {
            &mut out
        }
        .push_str(&line.text)
    })
    .await
    .map_err(|e| {
        let gone = matches!(
            &e,
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }
        );
        Failure::NotRun(gone, describe(&e))
    })?;
    if code == 0 {
        return Ok(());
    }
    // stderr usually holds the reason; stdout when it is empty.
    let output = if err.trim().is_empty() { out } else { err };
    Err(Failure::Exited(code, tail(&output)))
}

/// Runs `service`'s `post_start` hooks in `container`, in order.
///
/// # Errors
/// [`DockerError::Start`] naming the hook, its exit status and the end of its output.
pub(super) async fn post_start(
    docker: &Docker,
    service: &str,
    container: &str,
    hooks: &[Hook],
    tty: bool,
) -> Result<(), DockerError> {
    for (i, h) in hooks.iter().enumerate() {
        let span = tracing::info_span!("post_start", service, container, hook = i);
        let message = match run(docker, container, h, tty).instrument(span).await {
            Ok(()) => continue,
            Err(Failure::Exited(code, output)) if output.is_empty() => format!(
                "failed its post_start hook `{}` in {container}: it exited with status {code}",
                shown(h)
            ),
            Err(Failure::Exited(code, output)) => format!(
                "failed its post_start hook `{}` in {container}: it exited with status {code}:\n{output}",
                shown(h)
            ),
            Err(Failure::NotRun(_, why)) => format!(
                "failed its post_start hook `{}` in {container}: Docker could not run it: {why}",
                shown(h)
            ),
        };
        return Err(DockerError::Start {
            service: service.to_string(),
            exit_code: None,
            message,
            log_tail: String::new(),
        });
    }
    Ok(())
}

/// Runs the `pre_stop` hooks a running container carries in its labels;
/// returns a warning per hook that failed (one that finds the container
/// already gone or stopped is no failure).
pub(crate) async fn pre_stop(
    docker: &Docker,
    container: &str,
    labels: Option<&HashMap<String, String>>,
) -> Vec<String> {
    let Some(text) = labels.and_then(|l| l.get(PRE_STOP)) else {
        return Vec::new();
    };
    let hooks: Vec<Hook> = match serde_json::from_str(text) {
        Ok(h) => h,
        Err(e) => {
            return vec![format!(
                "{container}: its pre_stop label does not parse ({e}); no hook ran"
            )]
        }
    };
    let mut warnings = Vec::new();
    for h in &hooks {
        match run(docker, container, h, false).await {
            Ok(()) | Err(Failure::NotRun(true, _)) => {}
            Err(Failure::Exited(code, output)) => warnings.push(format!(
                "{container}: pre_stop hook `{}` exited with status {code}{}; stopped anyway",
                shown(h),
                if output.is_empty() {
                    String::new()
                } else {
                    format!(": {output}")
                }
            )),
            Err(Failure::NotRun(false, why)) => warnings.push(format!(
                "{container}: pre_stop hook `{}` could not run ({why}); stopped anyway",
                shown(h)
            )),
        }
    }
    for w in &warnings {
        tracing::warn!(%container, warning = %w, "pre_stop hook failed");
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_hooks_output_is_cut_to_its_last_lines_and_bytes() {
        let long: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        assert_eq!(tail(&long).lines().count(), TAIL_LINES);
        assert!(tail(&long).ends_with("line 30"));
        let wide = "é".repeat(3000);
        let t = tail(&wide);
        assert!(t.len() <= TAIL_BYTES && t.chars().all(|c| c == 'é'));
    }

    #[test]
    fn pre_stop_hooks_travel_as_a_label_only_when_there_are_some() {
        assert_eq!(pre_stop_label(&[]), None);
        let hooks = vec![Hook {
            command: vec!["sh".into(), "-c".into(), "echo bye".into()],
            user: Some("app".into()),
            ..Hook::default()
        }];
        let label = pre_stop_label(&hooks).unwrap();
        assert_eq!(serde_json::from_str::<Vec<Hook>>(&label).unwrap(), hooks);
    }
}
