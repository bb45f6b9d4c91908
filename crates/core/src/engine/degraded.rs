//! Keeping `ready` honest: a ready preview whose container died, exited with
//! an error or turned unhealthy becomes `degraded`, with a reason naming the
//! service and what happened, and turns `ready` again once every service runs
//! (and is healthy) again, whoever brought it back (a restart policy, the
//! user's `docker start`, `branchyard start`).
//!
//! Two observers judge: `serve` on every Docker event of the preview (live,
//! while the app or `branchyard serve` runs), and, when no `serve` runs,
//! `ls`/`status` on what they read anyway (so the CLI alone is honest too). Both only ever move
//! `ready → degraded` and `degraded → ready`, each only from the state they
//! saw ([`crate::store::Store::transition_from`]): an operation that took the
//! preview meanwhile (stop, start, up, down) always wins.

use super::Engine;
use crate::events::{ServiceState, ServiceStatus};
use crate::lifecycle::State;
use crate::store::{PreviewRecord, StoreError};

/// What a preview's containers say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every service runs (healthy where it has a check), or completed with 0.
    Whole,
    /// Something is down: the reason, one clause per service.
    Broken(String),
    /// Nothing is down, but something is still coming up (health starting,
    /// created): neither degrade nor heal on it.
    Unsettled,
}

/// Judges a preview from its services' statuses (removed containers included
/// as [`ServiceState::Removed`]).
pub(crate) fn verdict(services: &[ServiceStatus]) -> Verdict {
    if services.is_empty() {
        return Verdict::Broken("its containers are gone".into());
    }
    // A service of several replicas names the one that is down.
    let scaled: Vec<&str> = services
        .iter()
        .filter(|s| s.replica > 1)
        .map(|s| s.service.as_str())
        .collect();
    let broken: Vec<String> = services
        .iter()
        .filter_map(|s| problem(s, scaled.contains(&s.service.as_str())))
        .collect();
    if !broken.is_empty() {
        return Verdict::Broken(broken.join("; "));
    }
    let settled = services.iter().all(|s| {
        matches!(s.state, ServiceState::Running | ServiceState::Healthy)
            || (s.state == ServiceState::Exited && s.exit_code == Some(0))
    });
    if settled {
        Verdict::Whole
    } else {
        Verdict::Unsettled
    }
}

/// What is wrong with one service's container, in words, if anything;
/// `scaled`: the service runs several replicas, so say which.
fn problem(s: &ServiceStatus, scaled: bool) -> Option<String> {
    let name = if scaled {
        format!("{} replica {}", s.service, s.replica)
    } else {
        s.service.clone()
    };
    match s.state {
        // A one-shot service (migrations, seeding) that completed is fine.
        ServiceState::Exited if s.exit_code == Some(0) => None,
        ServiceState::Exited => Some(match s.exit_code {
            Some(code) => format!("{name} exited with code {code}{}", signal_name(code)),
            None => format!("{name} exited"),
        }),
        ServiceState::OomKilled => Some(format!("{name} was killed for running out of memory")),
        ServiceState::Unhealthy => Some(format!("{name} is unhealthy")),
        ServiceState::Restarting => Some(format!("{name} is restarting after it exited")),
        ServiceState::Removed => Some(format!("{name}'s container was removed")),
        ServiceState::Running
        | ServiceState::Healthy
        | ServiceState::Starting
        | ServiceState::Created => None,
    }
}

/// The replicas `expected` names (a service once per replica, as
/// [`PreviewRecord::services`] records them) that have no container in `seen`.
fn missing(expected: &[String], seen: &[ServiceStatus]) -> Vec<ServiceStatus> {
    let mut out = Vec::new();
    let mut counted: Vec<&str> = Vec::new();
    for name in expected {
        if counted.contains(&name.as_str()) {
            continue;
        }
        counted.push(name);
        let replicas = expected.iter().filter(|n| *n == name).count() as u32;
        for replica in 1..=replicas {
            if !seen
                .iter()
                .any(|s| s.service == *name && s.replica == replica)
            {
                out.push(ServiceStatus {
                    service: name.clone(),
                    container: String::new(),
                    replica,
                    state: ServiceState::Removed,
                    exit_code: None,
                    restarts: 0,
                    started_at: None,
                });
            }
        }
    }
    out
}

/// ` (killed)` for 137 and the like: exit codes above 128 are a signal.
fn signal_name(code: i64) -> &'static str {
    match code {
        130 => " (interrupted)",
        134 => " (aborted)",
        137 => " (killed)",
        139 => " (segmentation fault)",
        143 => " (terminated)",
        _ => "",
    }
}

impl Engine {
    /// Moves a ready preview to degraded, or a degraded one back to ready,
    /// as its services' statuses say; `trigger` names the observer. Returns
    /// the new state when it moved (the record is updated to match).
    pub(super) fn judge(
        &self,
        rec: &mut PreviewRecord,
        services: &[ServiceStatus],
        trigger: &str,
    ) -> Option<State> {
        // A replica it runs with no container at all is down too: Docker
        // lists only containers that exist.
        let services: Vec<ServiceStatus> = services
            .iter()
            .cloned()
            .chain(missing(&rec.services, services))
            .collect();
        let (to, detail) = match (rec.state, verdict(&services)) {
            (State::Ready, Verdict::Broken(reason)) => (State::Degraded, reason),
            (State::Degraded, Verdict::Whole) => {
                (State::Ready, "every service runs again".to_string())
            }
            (State::Degraded, Verdict::Broken(reason)) if rec.error.as_ref() != Some(&reason) => {
                // Still degraded, but for another reason now: say the current one.
                match self.store().set_degraded_reason(&rec.id, &reason) {
                    Ok(true) => {
                        rec.error = Some(reason);
                        self.routes_changed(&rec.id);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(preview = %rec.id, error = %e, "cannot record what is down")
                    }
                }
                return None;
            }
            _ => return None,
        };
        match self
            .store()
            .transition_from(&rec.id, rec.state, to, trigger, &detail)
        {
            Ok(t) => {
                tracing::info!(preview = %rec.id, from = %rec.state, to = %to, reason = %detail, "observed");
                rec.state = to;
                rec.error = (to == State::Degraded).then(|| detail.clone());
                self.publish(t);
                Some(to)
            }
            // Another operation moved it first: that one is right.
            Err(e @ StoreError::Refused { .. }) => {
                tracing::debug!(preview = %rec.id, error = %e, "observed change not applied");
                None
            }
            Err(e) => {
                tracing::warn!(preview = %rec.id, error = %e, "cannot record the observed state");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(service: &str, state: ServiceState, exit_code: Option<i64>) -> ServiceStatus {
        replica(service, 1, state, exit_code)
    }

    fn replica(
        service: &str,
        n: u32,
        state: ServiceState,
        exit_code: Option<i64>,
    ) -> ServiceStatus {
        ServiceStatus {
            service: service.into(),
            container: format!("p-{service}-{n}"),
            replica: n,
            state,
            exit_code,
            restarts: 0,
            started_at: None,
        }
    }

    #[test]
    fn running_healthy_and_completed_services_are_whole() {
        let v = verdict(&[
            svc("web", ServiceState::Running, None),
            svc("db", ServiceState::Healthy, None),
            svc("migrate", ServiceState::Exited, Some(0)),
        ]);
        assert_eq!(v, Verdict::Whole);
    }

    #[test]
    fn a_killed_service_is_named_with_its_code_and_signal() {
        let v = verdict(&[
            svc("db", ServiceState::Healthy, None),
            svc("web", ServiceState::Exited, Some(137)),
        ]);
        assert_eq!(
            v,
            Verdict::Broken("web exited with code 137 (killed)".into())
        );
    }

    #[test]
    fn every_broken_service_is_in_the_reason() {
        let v = verdict(&[
            svc("db", ServiceState::Unhealthy, None),
            svc("web", ServiceState::Exited, Some(1)),
            svc("cache", ServiceState::OomKilled, Some(137)),
            svc("jobs", ServiceState::Restarting, None),
            svc("api", ServiceState::Removed, None),
        ]);
        assert_eq!(
            v,
            Verdict::Broken(
                "db is unhealthy; web exited with code 1; cache was killed for running out of memory; \
                 jobs is restarting after it exited; api's container was removed"
                    .into()
            )
        );
    }

    #[test]
    fn a_service_still_starting_neither_degrades_nor_heals() {
        let v = verdict(&[
            svc("web", ServiceState::Running, None),
            svc("db", ServiceState::Starting, None),
        ]);
        assert_eq!(v, Verdict::Unsettled);
    }

    #[test]
    fn one_dead_replica_of_two_degrades_and_is_named() {
        let v = verdict(&[
            replica("web", 1, ServiceState::Running, None),
            replica("web", 2, ServiceState::Exited, Some(137)),
            svc("db", ServiceState::Running, None),
        ]);
        assert_eq!(
            v,
            Verdict::Broken("web replica 2 exited with code 137 (killed)".into())
        );
        let v = verdict(&[
            replica("web", 1, ServiceState::Exited, Some(1)),
            replica("web", 2, ServiceState::Running, None),
        ]);
        assert_eq!(
            v,
            Verdict::Broken("web replica 1 exited with code 1".into())
        );
    }

    #[test]
    fn a_replica_without_a_container_is_missing_and_none_is_expected_for_zero() {
        let expected: Vec<String> = ["web", "web", "db"].map(String::from).to_vec();
        let seen = [replica("web", 1, ServiceState::Running, None)];
        let m = missing(&expected, &seen);
        assert_eq!(
            m.iter()
                .map(|s| (s.service.as_str(), s.replica))
                .collect::<Vec<_>>(),
            vec![("web", 2), ("db", 1)]
        );
        assert!(m.iter().all(|s| s.state == ServiceState::Removed));
        let all: Vec<ServiceStatus> = seen.iter().cloned().chain(m).collect();
        assert_eq!(
            verdict(&all),
            Verdict::Broken(
                "web replica 2's container was removed; db's container was removed".into()
            )
        );
        assert!(
            missing(&[], &seen).is_empty(),
            "a service at replicas: 0 expects nothing"
        );
    }

    #[test]
    fn no_containers_at_all_is_broken() {
        assert_eq!(
            verdict(&[]),
            Verdict::Broken("its containers are gone".into())
        );
    }
}
