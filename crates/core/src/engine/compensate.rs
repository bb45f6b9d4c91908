//! Undoing a saga's effects, and recovering runs a dead process left behind.

use std::path::PathBuf;

use super::up::blocking;
use super::Engine;
use crate::compose::apply;
use crate::error::Result;
use crate::git;
use crate::lifecycle::State;
use crate::reconcile;
use crate::saga::{self, Compensate, Undo};
use crate::store::Lease;

impl Compensate for Engine {
    async fn compensate(&self, undo: &Undo) -> Result<()> {
        match undo {
            Undo::RemoveWorktree {
                repo_path,
                path,
                name,
            } => {
                let (r, p, n) = (PathBuf::from(repo_path), PathBuf::from(path), name.clone());
                // The worktree was created by this very run: nothing of the user's is in it.
                blocking(move || git::remove_worktree(&r, &p, &n, true, &[])).await??;
            }
            Undo::DownProject {
                project,
                volumes_before,
            } => {
                let docker = self.docker().await?;
                // A dead process may have left a create or start in flight in
                // dockerd: sweep again until nothing of the project appears.
                for _ in 0..4 {
                    apply::down(docker, project, false).await?;
                    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
                    if reconcile::service_statuses(docker, project)
                        .await?
                        .is_empty()
                    {
                        break;
                    }
                }
                for v in reconcile::project_volumes(docker, project).await? {
                    if !volumes_before.contains(&v) {
                        reconcile::remove_orphan(
                            docker,
                            &reconcile::Orphaned {
                                kind: "volume",
                                name: v,
                                project: project.clone(),
                            },
                        )
                        .await?;
                    }
                }
            }
            Undo::RemoveRoutes { hosts } => {
                let gateway = self.gateway().await?;
                for h in hosts {
                    gateway.remove_route(h).await?;
                }
            }
            Undo::DisconnectGateway { network } => {
                let gateway = self.gateway().await?;
                let docker = self.docker().await?;
                gateway.disconnect_network(docker, network).await?;
            }
        }
        Ok(())
    }
}

impl Engine {
    /// Undoes what an interrupted run (its process died) had done, and marks
    /// its preview failed, so nothing is left half-created.
    pub(super) async fn recover(&self, lease: &Lease) {
        let span = tracing::info_span!("recover", preview = %lease.preview, op = %lease.op);
        let _g = span.enter();
        let journal = saga::parse_journal(&lease.journal);
        tracing::warn!(undo = journal.len(), "undoing an interrupted run");
        let failures = saga::rollback(&lease.preview, journal, self).await;
        let Ok(Some(rec)) = self.store().preview(&lease.preview) else {
            return;
        };
        if rec.state.is_transient() {
            let mut detail = format!(
                "interrupted: the process running `{}` died; its changes were undone",
                lease.op
            );
            if !failures.is_empty() {
                detail.push_str(&format!(" (could not undo: {})", failures.join("; ")));
            }
            let _ = self.transition(&rec.id, State::Failed, "recovery", &detail);
        }
    }

    /// Finishes or undoes every run whose process died (called on engine start).
    ///
    /// # Errors
    /// Store failure.
    pub async fn recover_interrupted(&self) -> Result<usize> {
        let stale = self.store().stale_leases()?;
        let n = stale.len();
        for lease in stale {
            // Taking the lease makes sure no other process recovers it at the same time.
            if let Ok(Ok(Some(l))) = self.store().acquire_lease(&lease.preview, "recovery") {
                self.recover(&l).await;
                let _ = self.store().release_lease(&lease.preview);
            }
        }
        Ok(n)
    }
}
