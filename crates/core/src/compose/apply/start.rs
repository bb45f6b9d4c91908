//! Creating and starting services: every container is created at once
//! (creating runs nothing), then each one starts as soon as all its
//! `depends_on` conditions hold, independent ones in parallel. The first real
//! failure stops everything still waiting.

use std::collections::HashMap;
use std::sync::Mutex;

use bollard::models::NetworkConnectRequest;
use bollard::query_parameters::CreateContainerOptionsBuilder;
use bollard::Docker;
use futures_util::future::{join_all, try_join_all};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::follow::{Follow, Phase, Target, Wait};
use super::images::ServiceImage;
use super::monitor::Monitor;
use super::resources::NetworkGate;
use super::spec::Spec;
use super::{hooks, AppliedLog, OnProgress, Progress, UpOptions};
use crate::compose::model::{Condition, Project, Service};
use crate::compose::plan::{container_name, Action, Plan, ReplicaPlan, ServicePlan};
use crate::docker::{is_not_found, DockerError, PreviewLabels};
use crate::events::{ServiceState, ServiceStatus};

/// Everything creating and starting the services needs.
pub(super) struct Launch<'a> {
    /// Docker.
    pub docker: &'a Docker,
    /// The project.
    pub project: &'a Project,
    /// Its plan.
    pub plan: &'a Plan,
    /// Labels of the preview.
    pub labels: &'a PreviewLabels,
    /// The image of each service.
    pub images: &'a HashMap<String, ServiceImage>,
    /// Ids of the containers that exist, by container name.
    pub existing: &'a HashMap<String, String>,
    /// The project's event subscription.
    pub monitor: &'a Monitor,
    /// Says when containers may be created and started.
    pub networks: &'a NetworkGate,
    /// Options.
    pub opts: &'a UpOptions,
    /// Progress callback.
    pub progress: OnProgress<'a>,
}

/// Creates and starts every service, each once its dependencies allow, and
/// waits until all have settled. Cancelling `cancel` stops the waiting; a
/// create or start already sent to Docker is let finish, so the record of
/// what exists stays exact.
///
/// # Errors
/// The first service failure, in time order.
pub(super) async fn start_all(
    l: &Launch<'_>,
    cancel: &CancellationToken,
) -> Result<(), DockerError> {
    let channels: HashMap<&str, watch::Sender<Phase>> = l
        .project
        .services
        .keys()
        .map(|k| (k.as_str(), watch::Sender::new(Phase::Waiting)))
        .collect();
    let abort = cancel.child_token();
    let first: Mutex<Option<DockerError>> = Mutex::new(None);
    let tasks = l.project.services.iter().map(|(name, svc)| {
        let (channels, abort, first) = (&channels, &abort, &first);
        async move {
            let tx = &channels[name.as_str()];
            if let Err(e) = service(l, name, svc, tx, channels, abort).await {
                let own = !matches!(e, DockerError::Cancelled);
                if own {
                    // Kept before dependents hear of it: the cause is reported, not its echo.
                    first
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                }
                tx.send_replace(Phase::Failed);
                if own {
                    abort.cancel();
                }
            }
        }
    });
    join_all(tasks).await;
    match first.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None if cancel.is_cancelled() => Err(DockerError::Cancelled),
        None => Ok(()),
    }
}

/// Whether any other service waits on `name` with `cond`.
fn awaited_with(p: &Project, name: &str, cond: Condition) -> bool {
    p.services
        .values()
        .any(|s| s.depends_on.get(name).is_some_and(|d| d.condition == cond))
}

/// Whether a service has a health check of its own.
fn has_health(svc: &Service) -> bool {
    svc.healthcheck
        .as_ref()
        .is_some_and(|h| !h.disable && h.test.first().is_some_and(|t| t != "NONE"))
}

/// Runs `f` unless `abort` fires first ([`DockerError::Cancelled`]).
async fn abortable<T>(
    abort: &CancellationToken,
    f: impl std::future::Future<Output = Result<T, DockerError>>,
) -> Result<T, DockerError> {
    tokio::select! {
        r = f => r,
        () = abort.cancelled() => Err(DockerError::Cancelled),
    }
}

/// One service: create its containers, wait for its dependencies, start
/// them, follow them until settled. Its replicas go side by side; `tx`
/// tells dependents where the service as a whole is ([`merged`]).
async fn service(
    l: &Launch<'_>,
    name: &str,
    svc: &Service,
    tx: &watch::Sender<Phase>,
    channels: &HashMap<&str, watch::Sender<Phase>>,
    abort: &CancellationToken,
) -> Result<(), DockerError> {
    let p = l.project;
    let plan =
        l.plan.services.get(name).ok_or_else(|| {
            DockerError::Other(format!("service {name} is missing from the plan"))
        })?;
    // `network_mode: service:x` joins x's network stack and `volumes_from`
    // takes x's volumes: x's container must be running before this one is created.
    let shares_with = svc
        .privileged_settings
        .network_mode
        .as_deref()
        .and_then(|m| m.strip_prefix("service:"));
    let late = shares_with.is_some() || !svc.volumes_from.is_empty();
    let mut ids: HashMap<u32, String> = plan
        .replicas
        .iter()
        .filter_map(|r| {
            let id = l.existing.get(&container_name(&p.name, name, r.number))?;
            Some((r.number, id.clone()))
        })
        .collect();
    if !late && plan.creating().next().is_some() {
        abortable(abort, l.networks.checked()).await?;
        ids.extend(create_all(l, name, svc, plan).await?);
    }
    let implicit = shares_with.map(|x| (x.to_string(), Condition::ServiceStarted, true));
    let deps = svc
        .depends_on
        .iter()
        .map(|(d, c)| (d.clone(), c.condition, c.required))
        .chain(implicit);
    for (dep, condition, required) in deps {
        // A dependency scaled to 0 runs nothing to wait for, as in compose.
        if p.services.get(&dep).is_some_and(|d| d.replicas() == 0) {
            continue;
        }
        match channels.get(dep.as_str()) {
            Some(dep_tx) => abortable(abort, wait_for(name, &dep, condition, dep_tx.subscribe())).await?,
            None if required => {
                return Err(DockerError::Other(format!(
                    "service {name} depends on {dep}, which is not in the project (is it in a profile that is not enabled?)"
                )))
            }
            None => {}
        }
    }
    if late {
        ids.extend(create_all(l, name, svc, plan).await?);
    }
    abortable(abort, l.networks.ready()).await?;
    let wait = Wait {
        health: has_health(svc) || awaited_with(p, name, Condition::ServiceHealthy),
        exit: awaited_with(p, name, Condition::ServiceCompletedSuccessfully),
        settle: l.opts.settle,
        deadline: Instant::now() + l.opts.health_timeout,
    };
    let target = |r: &ReplicaPlan| {
        let container = container_name(&p.name, name, r.number);
        let id = ids
            .get(&r.number)
            .cloned()
            .unwrap_or_else(|| container.clone());
        Target {
            docker: l.docker,
            service: name,
            number: r.number,
            container,
            id,
            restart: svc.restart.as_deref(),
        }
    };
    match plan.replicas.as_slice() {
        // Nothing runs (`replicas: 0`); nobody waits for it.
        [] => Ok(()),
        [r] => replica(l, svc, r.action, target(r), tx, wait, abort).await,
        many => {
            let txs: Vec<watch::Sender<Phase>> = many
                .iter()
                .map(|_| watch::Sender::new(Phase::Waiting))
                .collect();
            let all = try_join_all(
                many.iter()
                    .zip(&txs)
                    .map(|(r, t)| replica(l, svc, r.action, target(r), t, wait, abort)),
            );
            tokio::pin!(all);
            let mut rxs: Vec<watch::Receiver<Phase>> = txs.iter().map(|t| t.subscribe()).collect();
            loop {
                let phases: Vec<Phase> = rxs.iter_mut().map(|r| *r.borrow_and_update()).collect();
                tx.send_replace(merged(&phases));
                let changed =
                    futures_util::future::select_all(rxs.iter_mut().map(|r| Box::pin(r.changed())));
                tokio::select! {
                    r = &mut all => {
                        let phases: Vec<Phase> = txs.iter().map(|t| *t.borrow()).collect();
                        tx.send_replace(merged(&phases));
                        return r.map(|_| ());
                    }
                    _ = changed => {}
                }
            }
        }
    }
}

/// Where a service of several replicas is, from theirs: failed if one
/// failed, waiting while one waits, healthy or exited when all are (the
/// first non-zero code), else running. So a dependent's condition holds once
/// it holds for every replica, as compose waits for every container.
pub(super) fn merged(phases: &[Phase]) -> Phase {
    if phases.contains(&Phase::Failed) {
        return Phase::Failed;
    }
    if phases.is_empty() || phases.contains(&Phase::Waiting) {
        return Phase::Waiting;
    }
    if phases.iter().all(|p| *p == Phase::Healthy) {
        return Phase::Healthy;
    }
    let codes: Vec<i64> = phases
        .iter()
        .filter_map(|p| match p {
            Phase::Exited(c) => Some(*c),
            _ => None,
        })
        .collect();
    if codes.len() == phases.len() {
        return Phase::Exited(codes.iter().copied().find(|c| *c != 0).unwrap_or(0));
    }
    Phase::Running
}

/// One replica, created already when it had to be: start it (unless kept),
/// run its `post_start` hooks, follow it until settled.
async fn replica(
    l: &Launch<'_>,
    svc: &Service,
    action: Action,
    target: Target<'_>,
    tx: &watch::Sender<Phase>,
    wait: Wait,
    abort: &CancellationToken,
) -> Result<(), DockerError> {
    let (name, container) = (target.service, target.container.clone());
    let mut follow = Follow::new(target, tx, l.progress, wait);
    // Subscribe before acting, so no event about this container is missed.
    let mut rx = l.monitor.subscribe();
    follow.arm();
    if action == Action::Keep {
        if !wait.health && !wait.exit {
            // Running, as the plan read it, and nothing to wait for: no inspect.
            follow.started();
            return Ok(());
        }
        if follow.inspect().await?.is_some() {
            return Ok(());
        }
    } else {
        l.docker
            .start_container(&container, None)
            .await
            .map_err(|e| {
                DockerError::from_bollard(&format!("starting {container} (service {name})"), e)
            })?;
        // Before it counts as started, as compose runs them: dependents wait for them.
        hooks::post_start(l.docker, name, &container, &svc.post_start, svc.tty).await?;
        follow.started();
        if wait.health && !has_health(svc) && follow.inspect().await?.is_some() {
            // Only its image's HEALTHCHECK can make it healthy: checked it has one.
            return Ok(());
        }
    }
    abortable(abort, follow.run(&mut rx)).await
}

/// Creates the replicas the plan creates, side by side; their ids by number.
async fn create_all(
    l: &Launch<'_>,
    name: &str,
    svc: &Service,
    plan: &ServicePlan,
) -> Result<Vec<(u32, String)>, DockerError> {
    try_join_all(plan.creating().map(|r| async move {
        Ok::<_, DockerError>((r.number, create(l, name, svc, r.number).await?))
    }))
    .await
}

/// Creates one replica's container and joins it to its other networks; returns its id.
async fn create(
    l: &Launch<'_>,
    name: &str,
    svc: &Service,
    number: u32,
) -> Result<String, DockerError> {
    let cname = container_name(&l.project.name, name, number);
    let spec = Spec {
        project: l.project,
        name,
        svc,
        number,
        image: l
            .images
            .get(name)
            .map(|i| i.reference.clone())
            .unwrap_or_default(),
        hash: l
            .plan
            .services
            .get(name)
            .map(|s| s.config_hash.clone())
            .unwrap_or_default(),
        labels: l.labels,
        state_dir: &l.opts.state_dir,
    };
    let (body, more_networks) = spec.body()?;
    let mut opts = CreateContainerOptionsBuilder::default().name(&cname);
    if let Some(platform) = &svc.platform {
        opts = opts.platform(platform);
    }
    // Recorded before the call: if this run fails or is cancelled meanwhile,
    // undo still knows to remove it.
    let log: &AppliedLog = &l.opts.record;
    log.update(|a| a.containers.push(cname.clone()));
    let opts = opts.build();
    let created = match l
        .docker
        .create_container(Some(opts.clone()), body.clone())
        .await
    {
        // A Docker that checks the network at create time: once it exists, again.
        Err(e) if is_not_found(&e) && e.to_string().contains("network") => {
            l.networks.ready().await?;
            l.docker.create_container(Some(opts), body).await
        }
        r => r,
    }
    .map_err(|e| {
        DockerError::from_bollard(&format!("creating container {cname} (service {name})"), e)
    })?;
    if !more_networks.is_empty() {
        l.networks.ready().await?;
    }
    for (net, endpoint) in more_networks {
        let req = NetworkConnectRequest {
            container: created.id.clone(),
            endpoint_config: Some(endpoint),
        };
        l.docker.connect_network(&net, req).await.map_err(|e| {
            DockerError::from_bollard(&format!("joining {cname} to network {net}"), e)
        })?;
    }
    (l.progress)(Progress::Service(ServiceStatus {
        service: name.to_string(),
        container: cname,
        replica: number,
        state: ServiceState::Created,
        exit_code: None,
        restarts: 0,
        started_at: None,
    }));
    Ok(created.id)
}

/// Waits until `dep` satisfies `cond` for `service`.
async fn wait_for(
    service: &str,
    dep: &str,
    cond: Condition,
    mut rx: watch::Receiver<Phase>,
) -> Result<(), DockerError> {
    let not_started = |why: String| DockerError::Start {
        service: service.to_string(),
        exit_code: None,
        message: format!("was not started: {why}"),
        log_tail: String::new(),
    };
    loop {
        let phase = *rx.borrow_and_update();
        match (cond, phase) {
            (_, Phase::Failed) => return Err(not_started(format!("its dependency {dep} failed"))),
            (Condition::ServiceStarted, Phase::Running | Phase::Healthy | Phase::Exited(_)) => {
                return Ok(())
            }
            (Condition::ServiceHealthy, Phase::Healthy) => return Ok(()),
            (Condition::ServiceHealthy, Phase::Exited(c)) => {
                return Err(not_started(format!(
                    "its dependency {dep} exited (code {c}) before it was healthy"
                )))
            }
            (Condition::ServiceCompletedSuccessfully, Phase::Exited(0)) => return Ok(()),
            (Condition::ServiceCompletedSuccessfully, Phase::Exited(c)) => {
                return Err(not_started(format!(
                    "its dependency {dep} exited with code {c}"
                )))
            }
            _ => {}
        }
        if rx.changed().await.is_err() {
            return Err(not_started(format!("its dependency {dep} never started")));
        }
    }
}
