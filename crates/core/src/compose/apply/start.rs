//! Creating and starting services: every container is created at once
//! (creating runs nothing), then each one starts as soon as all its
//! `depends_on` conditions hold, independent ones in parallel. The first real
//! failure stops everything still waiting.

use std::collections::HashMap;
use std::sync::Mutex;

use bollard::models::{EndpointSettings, NetworkConnectRequest};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use bollard::Docker;
use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::follow::{Follow, Phase, Target, Wait};
use super::images::ServiceImage;
use super::monitor::Monitor;
use super::resources::NetworkGate;
use super::spec::{container_name, Spec};
use super::{AppliedLog, OnProgress, Progress, UpOptions};
use crate::compose::model::{Condition, Project, Service};
use crate::compose::plan::{Action, Plan};
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
    /// Ids of the containers that exist, by service.
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

/// One service: create its container, wait for its dependencies, start it,
/// follow it until settled.
async fn service(
    l: &Launch<'_>,
    name: &str,
    svc: &Service,
    tx: &watch::Sender<Phase>,
    channels: &HashMap<&str, watch::Sender<Phase>>,
    abort: &CancellationToken,
) -> Result<(), DockerError> {
    let p = l.project;
    let container = container_name(&p.name, name);
    let action = l
        .plan
        .services
        .get(name)
        .map_or(Action::Create, |s| s.action);
    let creates = matches!(action, Action::Create | Action::Recreate);
    // `network_mode: service:x` joins x's network stack: x must be running first.
    let shares_with = svc
        .privileged_settings
        .network_mode
        .as_deref()
        .and_then(|m| m.strip_prefix("service:"));
    let mut id = l.existing.get(name).cloned();
    if creates && shares_with.is_none() {
        abortable(abort, l.networks.checked()).await?;
        id = Some(create(l, name, svc).await?);
    }
    let implicit = shares_with.map(|x| (x.to_string(), Condition::ServiceStarted, true));
    let deps = svc
        .depends_on
        .iter()
        .map(|(d, c)| (d.clone(), c.condition, c.required))
        .chain(implicit);
    for (dep, condition, required) in deps {
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
    if creates && shares_with.is_some() {
        id = Some(create(l, name, svc).await?);
    }
    abortable(abort, l.networks.ready()).await?;
    let wait = Wait {
        health: has_health(svc) || awaited_with(p, name, Condition::ServiceHealthy),
        exit: awaited_with(p, name, Condition::ServiceCompletedSuccessfully),
        settle: l.opts.settle,
        deadline: Instant::now() + l.opts.health_timeout,
    };
    let id = id.unwrap_or_else(|| container.clone());
    let target = Target {
        docker: l.docker,
        service: name,
        container: container.clone(),
        id,
        restart: svc.restart.as_deref(),
    };
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
        follow.started();
        if wait.health && !has_health(svc) && follow.inspect().await?.is_some() {
            // Only its image's HEALTHCHECK can make it healthy: checked it has one.
            return Ok(());
        }
    }
    abortable(abort, follow.run(&mut rx)).await
}

/// Creates a service's container and joins it to its other networks; returns its id.
async fn create(l: &Launch<'_>, name: &str, svc: &Service) -> Result<String, DockerError> {
    let cname = container_name(&l.project.name, name);
    let spec = Spec {
        project: l.project,
        name,
        svc,
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
    for (net, aliases) in more_networks {
        let req = NetworkConnectRequest {
            container: created.id.clone(),
            endpoint_config: Some(EndpointSettings {
                aliases: Some(aliases),
                ..Default::default()
            }),
        };
        l.docker.connect_network(&net, req).await.map_err(|e| {
            DockerError::from_bollard(&format!("joining {cname} to network {net}"), e)
        })?;
    }
    (l.progress)(Progress::Service(ServiceStatus {
        service: name.to_string(),
        container: cname,
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
