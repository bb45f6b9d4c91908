//! A project's networks and named volumes: created when missing (and
//! recorded, so undo removes exactly those), external ones checked.
//!
//! Networks are made while containers are being created: Docker resolves a
//! container's network when it starts, not when it is created, so creating a
//! bridge network (iptables work in dockerd) is off the critical path. The
//! [`NetworkGate`] says when containers may be created (every network was
//! looked up: no external one is missing) and when they may start (all exist).

use bollard::models::{NetworkCreateRequest, VolumeCreateRequest};
use bollard::Docker;
use futures_util::future::join_all;
use tokio::sync::watch;

use super::spec::{network_name, volume_name};
use super::AppliedLog;
use crate::compose::model::Project;
use crate::docker::{is_not_found, DockerError, PreviewLabels};

/// How far the project's networks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NetState {
    /// Being looked up.
    Pending,
    /// Every network exists or is being created: containers may be created.
    Checked,
    /// Every network exists: containers may start.
    Ready,
    /// A network is missing or could not be created.
    Failed,
}

/// Where services wait for the project's networks.
#[derive(Debug, Clone)]
pub(super) struct NetworkGate(watch::Receiver<NetState>);

/// The side of [`NetworkGate`] that [`networks`] moves forward.
#[derive(Debug)]
pub(super) struct NetworkGateTx(watch::Sender<NetState>);

impl NetworkGate {
    /// A new gate, closed.
    pub(super) fn new() -> (NetworkGateTx, NetworkGate) {
        let (tx, rx) = watch::channel(NetState::Pending);
        (NetworkGateTx(tx), NetworkGate(rx))
    }

    /// Waits until containers may be created.
    ///
    /// # Errors
    /// [`DockerError::Cancelled`] when the networks failed (their own error is reported).
    pub(super) async fn checked(&self) -> Result<(), DockerError> {
        self.reach(NetState::Checked).await
    }

    /// Waits until every network exists (containers may start).
    ///
    /// # Errors
    /// As [`NetworkGate::checked`].
    pub(super) async fn ready(&self) -> Result<(), DockerError> {
        self.reach(NetState::Ready).await
    }

    async fn reach(&self, want: NetState) -> Result<(), DockerError> {
        let mut rx = self.0.clone();
        let reached = rx
            .wait_for(|s| *s == NetState::Failed || *s == NetState::Ready || *s == want)
            .await
            .map(|s| *s);
        match reached {
            Ok(NetState::Failed) | Err(_) => Err(DockerError::Cancelled),
            Ok(_) => Ok(()),
        }
    }
}

impl NetworkGateTx {
    fn set(&self, s: NetState) {
        self.0.send_replace(s);
    }
}

impl Drop for NetworkGateTx {
    fn drop(&mut self) {
        // Never leave a waiter hanging: a sender gone before Ready means failed.
        self.0.send_if_modified(|s| {
            let open = *s != NetState::Ready;
            if open {
                *s = NetState::Failed;
            }
            open
        });
    }
}

/// Creates the networks the services use, in parallel; external ones must
/// exist. Moves `gate` on as it goes. Returns how many it created.
///
/// # Errors
/// [`DockerError::ExternalMissing`], or Docker refusing to create one.
pub(super) async fn networks(
    docker: &Docker,
    p: &Project,
    labels: &PreviewLabels,
    log: &AppliedLog,
    gate: NetworkGateTx,
) -> Result<usize, DockerError> {
    let used: Vec<_> = p
        .networks
        .iter()
        .filter(|(key, _)| {
            p.services.values().any(|s| {
                s.networks.contains_key(*key) && s.privileged_settings.network_mode.is_none()
            })
        })
        .collect();
    let looked_up = join_all(used.iter().map(|(key, net)| async move {
        let name = network_name(p, key);
        match docker.inspect_network(&name, None).await {
            Ok(_) => Ok(None),
            Err(e) if is_not_found(&e) && net.external => Err(DockerError::ExternalMissing {
                kind: "network",
                name,
            }),
            Err(e) if is_not_found(&e) => Ok(Some((key.as_str(), *net, name))),
            Err(e) => Err(DockerError::from_bollard(
                &format!("looking up network {name}"),
                e,
            )),
        }
    }))
    .await;
    let missing: Vec<_> = match looked_up.into_iter().collect::<Result<Vec<_>, _>>() {
        Ok(m) => m.into_iter().flatten().collect(),
        Err(e) => {
            gate.set(NetState::Failed);
            return Err(e);
        }
    };
    gate.set(NetState::Checked);
    // join_all, not try_join_all: a create cut short would still happen in Docker.
    let created = join_all(missing.iter().map(|(key, net, name)| async move {
        let mut l = labels.network(&p.name, key);
        l.extend(net.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let req = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            internal: Some(net.internal),
            labels: Some(l),
            ..Default::default()
        };
        log.update(|a| a.networks.push(name.clone()));
        docker.create_network(req).await.map_err(|e| {
            log.update(|a| a.networks.retain(|n| n != name));
            DockerError::from_bollard(&format!("creating network {name}"), e)
        })
    }))
    .await;
    match created.into_iter().collect::<Result<Vec<_>, _>>() {
        Ok(c) => {
            gate.set(NetState::Ready);
            Ok(c.len())
        }
        Err(e) => {
            gate.set(NetState::Failed);
            Err(e)
        }
    }
}

/// Creates the named volumes that are missing, in parallel; external ones must
/// exist. Returns how many it created. Containers are created only after
/// this: Docker would make a missing volume itself, without our labels.
///
/// # Errors
/// [`DockerError::ExternalMissing`], or Docker refusing to create one.
pub(super) async fn volumes(
    docker: &Docker,
    p: &Project,
    labels: &PreviewLabels,
    log: &AppliedLog,
) -> Result<usize, DockerError> {
    let all = join_all(p.volumes.iter().map(|(key, vol)| async move {
        let name = volume_name(p, key);
        match docker.inspect_volume(&name).await {
            Ok(_) => Ok(false),
            Err(e) if is_not_found(&e) && vol.external => Err(DockerError::ExternalMissing {
                kind: "volume",
                name,
            }),
            Err(e) if is_not_found(&e) => {
                let mut l = labels.volume(&p.name, key);
                l.extend(vol.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                let req = VolumeCreateRequest {
                    name: Some(name.clone()),
                    labels: Some(l),
                    ..Default::default()
                };
                log.update(|a| a.volumes.push(name.clone()));
                docker.create_volume(req).await.map_err(|e| {
                    log.update(|a| a.volumes.retain(|n| n != &name));
                    DockerError::from_bollard(&format!("creating volume {name}"), e)
                })?;
                Ok(true)
            }
            Err(e) => Err(DockerError::from_bollard(
                &format!("looking up volume {name}"),
                e,
            )),
        }
    }))
    .await;
    let all = all
        .into_iter()
        .collect::<Result<Vec<bool>, DockerError>>()?;
    Ok(all.iter().filter(|c| **c).count())
}
