//! The preview's worktree and what it refers to: the branch checked out with
//! the gitignored files it needs carried in (checked before the worktree is
//! touched), and, once the project is loaded, a missing file explained and
//! the source mounts added (see [`crate::compose::source_mounts`]).

use std::path::PathBuf;

use super::up::blocking;
use crate::carry;
use crate::compose::{source_mounts, ComposeError};
use crate::error::{Error, Result};
use crate::git::{self, CheckoutOutcome};
use crate::preview_config::Resolved;

/// What the worktree step needs.
pub(super) struct Checkout {
    /// The user's repository.
    pub repo_path: PathBuf,
    /// The preview's worktree.
    pub worktree: PathBuf,
    /// git's name for it.
    pub name: String,
    /// The commit.
    pub sha: String,
    /// Overwrite uncommitted changes.
    pub force: bool,
    /// The repo is trusted.
    pub trusted: bool,
    /// The manifest of carried files.
    pub manifest: PathBuf,
}

/// What the worktree step did.
pub(super) struct Checked {
    /// The checkout.
    pub checkout: CheckoutOutcome,
    /// The carried files.
    pub carried: carry::Report,
    /// Things to tell the user.
    pub warnings: Vec<String>,
}

/// Checks what to carry (refusing before anything is written), checks the
/// branch out, then carries the files in.
pub(super) async fn checkout_and_carry(c: Checkout) -> Result<Checked> {
    blocking(move || {
        let plan = carry::plan(&carry::Input {
            repo: c.repo_path.clone(),
            sha: c.sha.clone(),
            trusted: c.trusted,
            manifest: c.manifest.clone(),
        })?;
        if c.worktree.exists() {
            carry::before_checkout(&plan, &c.worktree)?;
        }
        let checkout = git::checkout(&c.repo_path, &c.worktree, &c.name, &c.sha, c.force)?;
        let carried = carry::apply(&plan, &c.worktree)?;
        let mut warnings = plan.warnings;
        for k in &carried.kept {
            warnings.push(format!(
                "{k}: kept as it is in the worktree (it was changed after Branchyard copied it, or was there before), so the main working directory's version is not copied over it; delete it to get a fresh copy on the next up"
            ));
        }
        Ok::<_, Error>(Checked {
            checkout,
            carried,
            warnings,
        })
    })
    .await?
}

/// What [`around`] needs.
pub(super) struct Around {
    /// The repo's registered name (refusals name it in their fix).
    pub repo: String,
    /// The preview's worktree.
    pub worktree: PathBuf,
    /// The repo's main working directory.
    pub main: PathBuf,
    /// The repo is trusted.
    pub trusted: bool,
    /// Where the repo's reduced git config is written.
    pub repo_state: PathBuf,
    /// The manifest of carried files.
    pub manifest: PathBuf,
}

/// The loaded project, with a missing file the main working directory has
/// explained, bind sources it has checked, and the source mounts added.
/// Blocking.
pub(super) fn around(loaded: Result<Resolved, ComposeError>, a: &Around) -> Result<Resolved> {
    let mut resolved =
        loaded.map_err(|e| carry::explain_missing(e.in_repo(&a.repo), &a.worktree, &a.main))?;
    carry::check_bind_sources(
        &resolved.project,
        &a.worktree,
        &a.main,
        &mut resolved.warnings,
    )?;
    let tree = source_mounts::inspect(
        &a.worktree,
        a.trusted,
        &a.repo_state,
        carry::links(&a.manifest),
    )
    .map_err(|e| {
        Error::Internal(format!(
            "cannot write the git config for containers in {}: {e}",
            a.repo_state.display()
        ))
    })?;
    source_mounts::apply(&mut resolved.project, &tree);
    Ok(resolved)
}
