//! A preview's states and the one table of allowed transitions between them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a preview is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Recorded, nothing done yet.
    Pending,
    /// Worktree and plan.
    Preparing,
    /// Building images.
    Building,
    /// Creating and starting containers, waiting for health.
    Starting,
    /// Serving.
    Ready,
    /// Still routed, but a service's container died, exited or turned
    /// unhealthy after the preview was ready; the record's `error` says which.
    Degraded,
    /// Something failed; the transitions log says what.
    Failed,
    /// Moving a ready preview to a new head.
    Updating,
    /// Stopping containers.
    Stopping,
    /// Suspended: containers stopped, volumes and worktree kept.
    Stopped,
    /// Tearing down.
    Removing,
    /// Torn down.
    Gone,
}

use State::*;

/// Every allowed `(from, to)` pair; anything else is a bug or a race and is refused.
const ALLOWED: &[(State, State)] = &[
    (Pending, Preparing),
    // A run interrupted before it began.
    (Pending, Failed),
    (Preparing, Building),
    (Preparing, Starting),
    (Preparing, Failed),
    (Building, Starting),
    (Building, Failed),
    (Starting, Ready),
    (Starting, Failed),
    (Ready, Updating),
    (Ready, Stopping),
    // A container of a ready preview died, exited or turned unhealthy
    // (seen by serve's Docker events or a `status` read) ...
    (Ready, Degraded),
    // ... and every service runs (and is healthy) again: a restart policy,
    // the user's `docker start`, or `branchyard start`.
    (Degraded, Ready),
    // `branchyard start` restarts what is down; `up`/`rebuild` converge it;
    // stop and down work as from ready.
    (Degraded, Starting),
    (Degraded, Updating),
    (Degraded, Stopping),
    (Updating, Ready),
    (Updating, Failed),
    // Retrying a failed or suspended preview runs the whole path again.
    (Failed, Preparing),
    (Failed, Stopping),
    (Stopped, Preparing),
    (Stopping, Stopped),
    (Stopping, Failed),
    (Stopped, Starting),
    (Removing, Gone),
    (Removing, Failed),
];

impl State {
    /// Every state, in lifecycle order.
    pub const ALL: [State; 12] = [
        Pending, Preparing, Building, Starting, Ready, Degraded, Failed, Updating, Stopping,
        Stopped, Removing, Gone,
    ];

    /// Whether moving from `self` to `to` is allowed.
    pub fn can_become(self, to: State) -> bool {
        // Removal is always allowed: the user must always be able to get rid of a preview.
        (to == Removing && self != Gone) || ALLOWED.contains(&(self, to))
    }

    /// States in which an operation is under way (the preview is held by some process).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Pending | Preparing | Building | Starting | Updating | Stopping | Removing
        )
    }

    /// The lowercase name used in the store, the CLI and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Pending => "pending",
            Preparing => "preparing",
            Building => "building",
            Starting => "starting",
            Ready => "ready",
            Degraded => "degraded",
            Failed => "failed",
            Updating => "updating",
            Stopping => "stopping",
            Stopped => "stopped",
            Removing => "removing",
            Gone => "gone",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown preview state {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_is_allowed_step_by_step() {
        let path = [
            Pending, Preparing, Building, Starting, Ready, Updating, Ready,
        ];
        for w in path.windows(2) {
            assert!(
                w[0].can_become(w[1]),
                "{} -> {} must be allowed",
                w[0],
                w[1]
            );
        }
    }

    #[test]
    fn suspend_and_resume_are_allowed() {
        for (a, b) in [
            (Ready, Stopping),
            (Stopping, Stopped),
            (Stopped, Starting),
            (Starting, Ready),
        ] {
            assert!(a.can_become(b), "{a} -> {b}");
        }
    }

    #[test]
    fn every_state_but_gone_can_be_removed() {
        for s in State::ALL {
            assert_eq!(s.can_become(Removing), s != Gone, "{s} -> removing");
        }
        assert!(Removing.can_become(Gone));
    }

    #[test]
    fn skipping_steps_or_leaving_gone_is_refused() {
        assert!(!Pending.can_become(Ready), "pending must not jump to ready");
        assert!(
            !Stopped.can_become(Ready),
            "stopped must start before it is ready"
        );
        assert!(!Building.can_become(Stopped));
        for s in State::ALL {
            assert!(!Gone.can_become(s), "gone is final, not -> {s}");
        }
    }

    #[test]
    fn a_ready_preview_degrades_and_recovers() {
        assert!(Ready.can_become(Degraded), "a dead container degrades it");
        assert!(Degraded.can_become(Ready), "every service back heals it");
    }

    #[test]
    fn stop_start_up_and_down_work_from_degraded() {
        for to in [Starting, Updating, Stopping, Removing] {
            assert!(Degraded.can_become(to), "degraded -> {to}");
        }
    }

    #[test]
    fn only_a_ready_preview_degrades() {
        for s in State::ALL {
            assert_eq!(s.can_become(Degraded), s == Ready, "{s} -> degraded");
        }
        assert!(!Degraded.can_become(Failed), "degraded is not a failed run");
        assert!(!Degraded.can_become(Stopped), "it stops through stopping");
    }

    #[test]
    fn names_round_trip() {
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>(), Ok(s));
        }
        assert!("nope".parse::<State>().is_err());
    }
}
