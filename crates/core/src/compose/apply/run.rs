//! The `up` run: resources, images, plan, then every service started as soon
//! as its dependencies' conditions hold, independent ones in parallel.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{ContainerStateStatusEnum, EndpointSettings, HealthStatusEnum, NetworkConnectRequest};
use bollard::query_parameters::{CreateContainerOptionsBuilder, InspectContainerOptions};
use bollard::Docker;
use futures_util::future::{join_all, try_join_all};
use indexmap::IndexMap;
use tokio::sync::watch;

use super::resources::{self, containers, remove_container};
use super::spec::{config_hash, container_name, image_of, Spec};
use super::{OnProgress, Progress, UpOptions};
use crate::compose::model::{Condition, Project};
use crate::compose::plan::{plan, Action, Existing};
use crate::docker::{build_image, last_lines, DockerError, PreviewLabels};
use crate::events::{ServiceState, ServiceStatus, Step};

/// How long a service without a health check must stay up to count as started.
const SETTLE: Duration = Duration::from_millis(1000);
/// How often a starting container is looked at.
const POLL: Duration = Duration::from_millis(100);

/// Where a service is, as its dependents see it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Waiting,
    Running,
    Healthy,
    Exited(i64),
    Failed(String),
}

pub(super) async fn up(
    docker: &Docker,
    p: &Project,
    labels: &PreviewLabels,
    opts: &UpOptions,
    progress: OnProgress<'_>,
) -> Result<(), DockerError> {
    progress(Progress::StepStarted(Step::Resources));
    resources::ensure(docker, p, labels).await?;
    progress(Progress::StepDone(Step::Resources, format!("{} networks, {} volumes", p.networks.len(), p.volumes.len())));

    // Images: builds in parallel; plain images checked (and pulled if possible).
    let builds = p.services.iter().filter(|(_, s)| s.build.is_some()).count();
    if builds > 0 && !opts.skip_build {
        progress(Progress::StepStarted(Step::Build));
    }
    let t = Instant::now();
    let mut image_labels: HashMap<String, String> = labels.extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    image_labels.insert("com.docker.compose.project".into(), p.name.clone());
    let image_ids: Vec<(String, String, String)> = try_join_all(p.services.iter().map(|(name, svc)| {
        let image = image_of(p, name, svc);
        let image_labels = &image_labels;
        async move {
            let on_line = |line: String| progress(Progress::Line { service: name.clone(), line });
            if let (Some(build), false) = (&svc.build, opts.skip_build) {
                build_image(docker, name, build, &image, image_labels, &on_line).await?;
            }
            let id = resources::image_id(docker, name, &image, &on_line).await?;
            Ok::<_, DockerError>((name.clone(), image, id))
        }
    }))
    .await?;
    if builds > 0 && !opts.skip_build {
        progress(Progress::StepDone(Step::Build, format!("{builds} images in {:.1} s", t.elapsed().as_secs_f64())));
    }

    // Plan against what exists.
    let existing: Vec<Existing> = containers(docker, &p.name)
        .await?
        .into_iter()
        .filter_map(|c| {
            let l = c.labels.unwrap_or_default();
            Some(Existing {
                name: c.names?.first()?.trim_start_matches('/').to_string(),
                service: l.get("com.docker.compose.service")?.clone(),
                hash: l.get("com.docker.compose.config-hash").cloned().unwrap_or_default(),
                running: matches!(c.state, Some(bollard::models::ContainerSummaryStateEnum::RUNNING)),
            })
        })
        .collect();
    let images: HashMap<String, (String, String)> = image_ids.into_iter().map(|(n, img, id)| (n, (img, id))).collect();
    let wanted: IndexMap<String, (String, Vec<String>)> = p
        .services
        .iter()
        .map(|(name, svc)| {
            let id = images.get(name).map(|(_, id)| id.as_str()).unwrap_or("");
            let restart_with = svc.depends_on.iter().filter(|(_, d)| d.restart).map(|(k, _)| k.clone()).collect();
            (name.clone(), (config_hash(svc, id), restart_with))
        })
        .collect();
    let plan = plan(&wanted, &existing, opts.force_recreate);
    for name in &plan.remove {
        remove_container(docker, name).await?;
    }

    // Start in dependency order.
    progress(Progress::StepStarted(Step::Start));
    let t = Instant::now();
    let channels: HashMap<String, (watch::Sender<Phase>, watch::Receiver<Phase>)> =
        p.services.keys().map(|k| (k.clone(), watch::channel(Phase::Waiting))).collect();
    let results = join_all(p.services.iter().map(|(name, svc)| {
        let tx = &channels[name].0;
        let channels = &channels;
        let images = &images;
        let wanted = &wanted;
        let plan = &plan;
        async move {
            let r = async {
                for (dep, d) in &svc.depends_on {
                    let Some((_, rx)) = channels.get(dep) else {
                        if d.required {
                            return Err(DockerError::Other(format!("service {name} depends on {dep}, which is not in the project")));
                        }
                        continue;
                    };
                    wait_for(name, dep, d.condition, rx.clone(), opts.health_timeout).await?;
                }
                let (image, _) = images.get(name).cloned().unwrap_or_default();
                let cname = container_name(&p.name, name);
                let action = plan.services.get(name).copied().unwrap_or(Action::Create);
                if action == Action::Recreate {
                    remove_container(docker, &cname).await?;
                }
                if matches!(action, Action::Create | Action::Recreate) {
                    let spec = Spec {
                        project: p,
                        name,
                        svc,
                        image,
                        hash: wanted[name].0.clone(),
                        labels,
                        state_dir: &opts.state_dir,
                    };
                    create(docker, &spec, &cname).await?;
                }
                if action != Action::Keep {
                    docker
                        .start_container(&cname, None)
                        .await
                        .map_err(|e| DockerError::Other(format!("starting {cname}: {e}")))?;
                }
                watch_service(docker, name, &cname, svc.healthcheck.is_some(), tx, opts.health_timeout, progress).await
            }
            .await;
            if let Err(e) = &r {
                let _ = tx.send(Phase::Failed(e.to_string()));
            }
            r
        }
    }))
    .await;
    // The first real failure (not a "dependency failed" echo) is the reason.
    let mut errors: Vec<DockerError> = results.into_iter().filter_map(Result::err).collect();
    if !errors.is_empty() {
        let pos = errors.iter().position(|e| !e.to_string().contains("dependency")).unwrap_or(0);
        return Err(errors.swap_remove(pos));
    }
    progress(Progress::StepDone(Step::Start, format!("{} services in {:.1} s", p.services.len(), t.elapsed().as_secs_f64())));
    Ok(())
}

async fn create(docker: &Docker, spec: &Spec<'_>, cname: &str) -> Result<(), DockerError> {
    let (body, more_networks) = spec.body()?;
    let mut opts = CreateContainerOptionsBuilder::default().name(cname);
    if let Some(platform) = &spec.svc.platform {
        opts = opts.platform(platform);
    }
    docker
        .create_container(Some(opts.build()), body)
        .await
        .map_err(|e| DockerError::Other(format!("creating {cname}: {e}")))?;
    for (net, aliases) in more_networks {
        docker
            .connect_network(
                &net,
                NetworkConnectRequest {
                    container: cname.to_string(),
                    endpoint_config: Some(EndpointSettings { aliases: Some(aliases), ..Default::default() }),
                },
            )
            .await
            .map_err(|e| DockerError::Other(format!("joining {cname} to {net}: {e}")))?;
    }
    Ok(())
}

/// Waits until `dep` satisfies `cond` for `service`.
async fn wait_for(
    service: &str,
    dep: &str,
    cond: Condition,
    mut rx: watch::Receiver<Phase>,
    limit: Duration,
) -> Result<(), DockerError> {
    let fail = |message: String| DockerError::Start { service: service.to_string(), message, log_tail: String::new() };
    let r = tokio::time::timeout(limit, async {
        loop {
            let phase = rx.borrow_and_update().clone();
            match (cond, &phase) {
                (_, Phase::Failed(why)) => return Err(fail(format!("was not started: its dependency {dep} failed ({why})"))),
                (Condition::ServiceStarted, Phase::Running | Phase::Healthy | Phase::Exited(_)) => return Ok(()),
                (Condition::ServiceHealthy, Phase::Healthy) => return Ok(()),
                (Condition::ServiceCompletedSuccessfully, Phase::Exited(0)) => return Ok(()),
                (Condition::ServiceCompletedSuccessfully, Phase::Exited(c)) => {
                    return Err(fail(format!("was not started: its dependency {dep} exited with code {c}")))
                }
                (Condition::ServiceHealthy, Phase::Exited(c)) => {
                    return Err(fail(format!("was not started: its dependency {dep} exited with code {c} before it was healthy")))
                }
                _ => {}
            }
            if rx.changed().await.is_err() {
                return Err(fail(format!("was not started: its dependency {dep} never started")));
            }
        }
    })
    .await;
    r.unwrap_or_else(|_| Err(fail(format!("timed out waiting for its dependency {dep} ({cond:?})"))))
}

/// Follows a started container until it is settled: healthy (with a check),
/// up for [`SETTLE`] (without), or exited; publishes each phase.
async fn watch_service(
    docker: &Docker,
    service: &str,
    cname: &str,
    has_health: bool,
    tx: &watch::Sender<Phase>,
    limit: Duration,
    progress: OnProgress<'_>,
) -> Result<(), DockerError> {
    let start = Instant::now();
    let mut last: Option<ServiceState> = None;
    loop {
        let c = docker
            .inspect_container(cname, None::<InspectContainerOptions>)
            .await
            .map_err(|e| DockerError::Other(format!("inspecting {cname}: {e}")))?;
        let st = c.state.unwrap_or_default();
        let health = st.health.as_ref().and_then(|h| h.status);
        let code = st.exit_code.unwrap_or(0);
        let (state, phase) = match (st.status, health) {
            (Some(ContainerStateStatusEnum::RUNNING), Some(HealthStatusEnum::HEALTHY)) => (ServiceState::Healthy, Phase::Healthy),
            (Some(ContainerStateStatusEnum::RUNNING), Some(HealthStatusEnum::UNHEALTHY)) => (ServiceState::Unhealthy, Phase::Running),
            (Some(ContainerStateStatusEnum::RUNNING), Some(HealthStatusEnum::STARTING)) => (ServiceState::Starting, Phase::Running),
            (Some(ContainerStateStatusEnum::RUNNING), _) => (ServiceState::Running, Phase::Running),
            (Some(ContainerStateStatusEnum::RESTARTING), _) => (ServiceState::Restarting, Phase::Running),
            (Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD), _) => (ServiceState::Exited, Phase::Exited(code)),
            _ => (ServiceState::Created, Phase::Waiting),
        };
        if last != Some(state) {
            last = Some(state);
            progress(Progress::Service(ServiceStatus {
                service: service.to_string(),
                container: cname.to_string(),
                state,
                exit_code: matches!(state, ServiceState::Exited).then_some(code),
                restarts: c.restart_count.unwrap_or(0),
                started_at: st.started_at.clone(),
            }));
        }
        let restarts = c.restart_count.unwrap_or(0);
        let fail = |message: String| async move {
            let log_tail = last_lines(docker, cname, 30).await.unwrap_or_default();
            Err(DockerError::Start { service: service.to_string(), message, log_tail })
        };
        match &phase {
            Phase::Exited(0) => {
                let _ = tx.send(phase.clone());
                return Ok(());
            }
            Phase::Exited(c) => {
                let _ = tx.send(phase.clone());
                return fail(format!("exited with code {c}")).await;
            }
            _ if state == ServiceState::Restarting || restarts > 0 => {
                return fail(format!("keeps restarting ({restarts} restarts)")).await;
            }
            Phase::Healthy => {
                let _ = tx.send(Phase::Healthy);
                return Ok(());
            }
            Phase::Running if !has_health => {
                let _ = tx.send(Phase::Running);
                if start.elapsed() >= SETTLE {
                    return Ok(());
                }
            }
            Phase::Running if state == ServiceState::Unhealthy => {
                return fail("is unhealthy: its healthcheck fails".to_string()).await;
            }
            _ => {
                let _ = tx.send(phase.clone());
            }
        }
        if start.elapsed() > limit {
            return fail(format!("did not become healthy within {} s", limit.as_secs())).await;
        }
        tokio::time::sleep(POLL).await;
    }
}
