//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A running preview for every git branch.
#[derive(Debug, Parser)]
#[command(name = "branchyard", version, about)]
pub struct Cli {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Use this docker context for this command (over the docker.context
    /// setting, DOCKER_HOST and DOCKER_CONTEXT); `default` is the docker CLI's default.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register, list, trust and remove repositories.
    #[command(subcommand)]
    Repo(RepoCmd),
    /// List a repository's branches, newest first, with their previews.
    Branches {
        /// Repository name.
        repo: String,
    },
    /// Create a branch's preview, or update it to the branch's head.
    Up {
        /// Repository name.
        repo: String,
        /// Branch name (e.g. feature/x).
        branch: String,
        /// Enable a compose profile (repeatable).
        #[arg(long = "profile")]
        profiles: Vec<String>,
        /// Rebuild images and recreate every container.
        #[arg(long)]
        rebuild: bool,
        /// Overwrite uncommitted changes in the preview's worktree.
        #[arg(long)]
        force: bool,
    },
    /// List previews.
    Ls,
    /// A preview's state, services and transitions.
    Status {
        /// `<branch-slug>.<repo>`, or `<repo> <branch>`.
        #[arg(num_args = 1..=2, required = true)]
        preview: Vec<String>,
        /// Keep printing changes.
        #[arg(long, short)]
        follow: bool,
    },
    /// A service's logs.
    Logs {
        /// `<preview> [service]` or `<repo> <branch> [service]`.
        #[arg(num_args = 1..=3, required = true)]
        args: Vec<String>,
        /// Keep printing new lines.
        #[arg(long, short)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<usize>,
    },
    /// Run a command in a service's container.
    Exec {
        /// `<preview> <service>` or `<repo> <branch> <service>`.
        #[arg(num_args = 2..=3, required = true)]
        args: Vec<String>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// Suspend a preview: containers stopped, volumes and worktree kept.
    Stop(PreviewArg),
    /// Resume a stopped preview.
    Start(PreviewArg),
    /// Rebuild images and recreate a preview's containers.
    Rebuild(PreviewArg),
    /// Remove a preview: containers, network, route and worktree.
    Down {
        /// The preview.
        #[command(flatten)]
        preview: PreviewArg,
        /// Remove its named volumes too.
        #[arg(long)]
        volumes: bool,
        /// Keep the worktree on disk.
        #[arg(long)]
        keep_worktree: bool,
        /// Delete the worktree even if it has uncommitted changes.
        #[arg(long)]
        force: bool,
    },
    /// The resolved compose project exactly as Branchyard would run it (JSON).
    Config {
        /// Repository name and branch.
        #[arg(num_args = 0..=2)]
        target: Vec<String>,
        /// A directory instead of a repo's branch.
        #[arg(long, conflicts_with = "target")]
        dir: Option<PathBuf>,
    },
    /// List orphans (containers, networks, volumes, worktrees, routes); remove them with --yes.
    Gc {
        /// Remove what is listed.
        #[arg(long)]
        yes: bool,
    },
    /// Check Docker (which engine, and who chose it), the gateway and disk use.
    Doctor,
    /// The Docker engine Branchyard uses, and choosing another.
    #[command(subcommand)]
    Engine(EngineCmd),
    /// Run live status, branch following and gateway upkeep in the foreground.
    Serve,
    /// Read or change settings.
    #[command(subcommand)]
    Settings(SettingsCmd),
    /// The local certificate authority for HTTPS previews.
    #[command(subcommand)]
    Ca(CaCmd),
}

/// `branchyard engine …`.
#[derive(Debug, Subcommand)]
pub enum EngineCmd {
    /// The engine in use: its address, who chose it, and what it says about itself.
    Show,
    /// The docker contexts to choose from, the one in use marked.
    Contexts,
    /// Use docker context NAME from now on (`default`: DOCKER_HOST, or the
    /// first well-known socket that answers).
    Use {
        /// The context's name.
        name: String,
        /// Store it even when it does not answer, or when previews live on
        /// another engine (they stay there).
        #[arg(long)]
        force: bool,
    },
}

/// `branchyard ca …`.
#[derive(Debug, Subcommand)]
pub enum CaCmd {
    /// Print the CA certificate's path (created on first use).
    Path,
    /// Install the CA in the system store and browsers' NSS databases.
    Trust,
    /// Remove the CA from those stores.
    Untrust,
}

/// `<branch-slug>.<repo>` or `<repo> <branch>`.
#[derive(Debug, Args)]
pub struct PreviewArg {
    /// `<branch-slug>.<repo>`, or `<repo> <branch>`.
    #[arg(num_args = 1..=2, required = true)]
    pub preview: Vec<String>,
}

/// `branchyard repo …`.
#[derive(Debug, Subcommand)]
pub enum RepoCmd {
    /// Register a git repository.
    Add {
        /// Path to the repository.
        path: PathBuf,
        /// Name used in URLs (default: the folder's name).
        #[arg(long)]
        name: Option<String>,
        /// Allow privileged compose settings (only for code you trust).
        #[arg(long)]
        trusted: bool,
    },
    /// List repositories.
    Ls,
    /// Forget a repository (refuses while it has previews unless --force).
    Rm {
        /// Repository name.
        name: String,
        /// Tear its previews down first.
        #[arg(long)]
        force: bool,
    },
    /// Allow privileged compose settings for a repository.
    Trust {
        /// Repository name.
        name: String,
    },
    /// Refuse privileged compose settings again.
    Untrust {
        /// Repository name.
        name: String,
    },
    /// Change a repository's options.
    Set {
        /// Repository name.
        name: String,
        /// Update previews by themselves when their branch moves.
        #[arg(long, overrides_with = "no_auto_update")]
        auto_update: bool,
        /// Only mark previews outdated when their branch moves.
        #[arg(long)]
        no_auto_update: bool,
        /// Suspend a preview after this long without a request (`30m`, `3s`,
        /// `off`); `serve` does it, and a request wakes it again.
        #[arg(long, value_name = "IDLE")]
        auto_suspend: Option<String>,
    },
}

/// `branchyard settings …`.
#[derive(Debug, Subcommand)]
pub enum SettingsCmd {
    /// Show settings.
    Get,
    /// Change a setting: gateway.http_port, gateway.https_port, gateway.admin_port,
    /// gateway.https (auto|on|off), gateway.redirect_https (on|off), gateway.lan (on|off),
    /// docker.context (a docker context, or default).
    Set {
        /// Setting name.
        key: String,
        /// New value.
        value: String,
    },
}
