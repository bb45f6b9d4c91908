//! The `up` run: resources and images (in parallel), the plan, old containers
//! out, then every service created, started in dependency order and followed
//! until it has settled.

use std::collections::HashMap;
use std::future::Future;
use std::time::Instant;

use bollard::models::{
    ContainerSummary, ContainerSummaryHealthStatusEnum, ContainerSummaryStateEnum,
};
use bollard::Docker;
use futures_util::future::try_join_all;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::images::ServiceImage;
use super::monitor::Monitor;
use super::resources::NetworkGate;
use super::start::{start_all, Launch};
use super::{hooks, images, resources, teardown, OnProgress, Progress, UpOptions};
use crate::compose::model::Project;
use crate::compose::plan::{plan_with, Action, ActualContainer, ActualState, Plan};
use crate::docker::labels::{CONFIG_HASH, CONTAINER_NUMBER, ONEOFF, SERVICE};
use crate::docker::{list_project_containers, DockerError, PreviewLabels};
use crate::events::Step;

/// Runs `up`. Cancellation is honoured between steps and while waiting
/// (builds, removals, dependencies, health), never in the middle of a Docker
/// call that creates something, so the record of what exists stays exact.
pub(super) async fn up(
    docker: &Docker,
    p: &Project,
    labels: &PreviewLabels,
    opts: &UpOptions,
    progress: OnProgress<'_>,
    cancel: &CancellationToken,
) -> Result<(), DockerError> {
    let log = &opts.record;
    progress(Progress::StepStarted(Step::Resources));
    // Resources always run to the end (they are quick, and a create cut short
    // would still happen in Docker); builds stop when resources fail.
    let resources_failed = cancel.child_token();
    let (gate_tx, gate) = NetworkGate::new();
    let failing = |r: Result<usize, DockerError>| {
        if r.is_err() {
            resources_failed.cancel();
        }
        r
    };
    // The step is done when both kinds are: whichever finishes last says so.
    let made = std::sync::Mutex::new((None, None));
    let made_some = |nets: Option<usize>, vols: Option<usize>| {
        let mut m = made.lock().unwrap_or_else(|e| e.into_inner());
        m.0 = nets.or(m.0);
        m.1 = vols.or(m.1);
        if let (Some(n), Some(v)) = *m {
            progress(Progress::StepDone(
                Step::Resources,
                format!("{n} networks and {v} volumes created"),
            ));
        }
    };
    // The networks are made while the containers are created (see resources.rs).
    let networks = async {
        let n = failing(resources::networks(docker, p, labels, log, gate_tx).await)?;
        made_some(Some(n), None);
        Ok::<_, DockerError>(())
    };
    let volumes = async {
        let v = failing(resources::volumes(docker, p, labels, log).await)?;
        made_some(None, Some(v));
        Ok(())
    };
    let images = async {
        tokio::select! {
            r = images::prepare(docker, p, labels, opts, progress).instrument(tracing::info_span!("images")) => r,
            () = resources_failed.cancelled() => Err(DockerError::Cancelled),
        }
    };
    let rest = launch(
        docker,
        p,
        labels,
        opts,
        progress,
        cancel,
        (images, volumes),
        &gate,
    );
    let (networks, rest) = tokio::join!(networks, rest);
    // A network's failure is the cause; what it stopped is its echo.
    networks?;
    rest
}

/// Everything after the images and volumes (which it awaits): the plan, old
/// containers out, then the services created and started, each start once
/// the networks exist.
#[allow(clippy::too_many_arguments)]
async fn launch(
    docker: &Docker,
    p: &Project,
    labels: &PreviewLabels,
    opts: &UpOptions,
    progress: OnProgress<'_>,
    cancel: &CancellationToken,
    (images, volumes): (
        impl Future<Output = Result<HashMap<String, ServiceImage>, DockerError>>,
        impl Future<Output = Result<(), DockerError>>,
    ),
    gate: &NetworkGate,
) -> Result<(), DockerError> {
    let log = &opts.record;
    let (volumes, images, existing) =
        tokio::join!(volumes, images, list_project_containers(docker, &p.name));
    volumes?;
    checkpoint(cancel)?;
    let (images, existing) = (images?, existing?);

    let actual = actual_containers(&existing);
    let image_ids: HashMap<String, String> = images
        .iter()
        .map(|(s, i)| (s.clone(), i.id.clone()))
        .collect();
    let plan = plan_with(p, &actual, &image_ids, opts.force_recreate);
    log.update(|a| {
        a.actions = plan
            .services
            .iter()
            .map(|(n, s)| (n.clone(), s.action))
            .collect()
    });
    tracing::info!(plan = ?log.snapshot().actions, remove = ?plan.remove, "plan");

    progress(Progress::StepStarted(Step::Start));
    let t = Instant::now();
    let monitor = Monitor::start(docker, &p.name);

    // Out with the old: containers of gone services, replicas past the
    // scale, and those being replaced, each after its pre_stop hooks.
    let old = plan.replaced(&p.name);
    let labels_of: HashMap<String, (&ContainerSummary, String)> = existing
        .iter()
        .filter_map(|c| {
            let name = c
                .names
                .as_ref()?
                .first()?
                .trim_start_matches('/')
                .to_string();
            let service = c.labels.as_ref()?.get(SERVICE).cloned().unwrap_or_default();
            Some((name, (c, service)))
        })
        .collect();
    let removals = try_join_all(old.iter().map(|name| async {
        if let Some((c, service)) = labels_of.get(name) {
            if c.state == Some(ContainerSummaryStateEnum::RUNNING) {
                for line in hooks::pre_stop(docker, name, c.labels.as_ref()).await {
                    progress(Progress::Line {
                        service: service.clone(),
                        line,
                    });
                }
            }
        }
        teardown::remove_container(docker, name).await?;
        log.update(|a| a.removed.push(name.clone()));
        Ok::<_, DockerError>(())
    }));
    tokio::select! {
        r = removals => r?,
        () = cancel.cancelled() => return Err(DockerError::Cancelled),
    };
    checkpoint(cancel)?;

    let ids: HashMap<String, String> = existing
        .iter()
        .filter(|c| c.labels.as_ref().is_some_and(|l| l.contains_key(SERVICE)))
        .filter_map(|c| {
            let name = c.names.as_ref()?.first()?.trim_start_matches('/');
            Some((name.to_string(), c.id.clone()?))
        })
        .collect();
    let launch = Launch {
        docker,
        project: p,
        plan: &plan,
        labels,
        images: &images,
        existing: &ids,
        monitor: &monitor,
        networks: gate,
        opts,
        progress,
    };
    let started = start_all(&launch, cancel)
        .instrument(tracing::info_span!("start"))
        .await;
    checkpoint(cancel)?;
    started?;
    progress(Progress::StepDone(
        Step::Start,
        summary(&plan, t.elapsed().as_secs_f64()),
    ));
    Ok(())
}

fn checkpoint(cancel: &CancellationToken) -> Result<(), DockerError> {
    if cancel.is_cancelled() {
        return Err(DockerError::Cancelled);
    }
    Ok(())
}

/// The containers a plan is made against (one-off `run` containers left out).
fn actual_containers(existing: &[ContainerSummary]) -> Vec<ActualContainer> {
    existing
        .iter()
        .filter_map(|c| {
            let l = c.labels.as_ref()?;
            if l.get(ONEOFF).is_some_and(|v| v == "True") {
                return None;
            }
            Some(ActualContainer {
                name: c
                    .names
                    .as_ref()?
                    .first()?
                    .trim_start_matches('/')
                    .to_string(),
                service: l.get(SERVICE)?.clone(),
                // Compose's own label; a container without one is not a replica of ours.
                number: l
                    .get(CONTAINER_NUMBER)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                config_hash: l.get(CONFIG_HASH).cloned().unwrap_or_default(),
                state: match c.state {
                    Some(ContainerSummaryStateEnum::RUNNING) if unhealthy(c) => {
                        ActualState::Unhealthy
                    }
                    Some(ContainerSummaryStateEnum::RUNNING) => ActualState::Running,
                    Some(ContainerSummaryStateEnum::RESTARTING) => ActualState::Restarting,
                    _ => ActualState::Stopped,
                },
            })
        })
        .collect()
}

/// A running container whose health check fails: in the summary's `health`
/// on newer engines, only in its status text (`Up 2 minutes (unhealthy)`) on
/// older ones such as Debian 12's.
fn unhealthy(c: &ContainerSummary) -> bool {
    c.health.as_ref().and_then(|h| h.status) == Some(ContainerSummaryHealthStatusEnum::UNHEALTHY)
        || c.status
            .as_deref()
            .is_some_and(|s| s.contains("(unhealthy)"))
}

/// `3 created, 1 recreated, 2 kept in 0.8 s`.
fn summary(plan: &Plan, secs: f64) -> String {
    let count = |a: Action| plan.services.values().filter(|s| s.action == a).count();
    let mut parts = Vec::new();
    for (a, word) in [
        (Action::Create, "created"),
        (Action::Recreate, "recreated"),
        (Action::Start, "started"),
        (Action::Keep, "kept"),
    ] {
        if count(a) > 0 {
            parts.push(format!("{} {word}", count(a)));
        }
    }
    if !plan.remove.is_empty() {
        parts.push(format!("{} removed", plan.remove.len()));
    }
    format!("{} in {secs:.1} s", parts.join(", "))
}
