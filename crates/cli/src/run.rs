//! Runs one command against the engine.

use std::process::ExitCode;

use anyhow::{bail, Result};
use branchyard_core::engine::{DownOptions, EngineOptions, PreviewRef, UpOptions};
use branchyard_core::paths::Home;
use branchyard_core::Engine;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::args::{CaCmd, Cli, Command, EngineCmd, PreviewArg, RepoCmd, SettingsCmd};
use crate::print;

/// Runs `cli`; the exit code says whether it worked.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let options = EngineOptions {
        docker_context: cli.context.clone(),
    };
    let engine = Engine::open_with(Home::from_env()?, options)?;
    let json = cli.json;
    // A run whose process died (killed, crashed) is undone before anything else.
    match engine.recover_interrupted().await {
        Ok(0) => {}
        Ok(n) => eprintln!("recovered {n} interrupted run(s): their changes were undone"),
        Err(e) => eprintln!("warning: could not recover interrupted runs: {e}"),
    }
    match cli.command {
        Command::Repo(cmd) => repo(&engine, cmd, json).await?,
        Command::Branches { repo } => print::branches(&engine.branches(&repo).await?, json)?,
        Command::Up {
            repo,
            branch,
            profiles,
            rebuild,
            force,
        } => {
            let cancel = CancellationToken::new();
            let opts = UpOptions {
                profiles,
                rebuild,
                force,
                cancel: cancel.clone(),
                extra_labels: extra_labels()?,
            };
            let printer = print::follow_events(engine.subscribe(), None, json);
            // Ctrl-C cancels the run; what it created is undone before we exit.
            let on_ctrl_c = tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    cancel.cancel();
                }
            });
            let result = engine.up(&repo, &branch, &opts).await;
            on_ctrl_c.abort();
            printer.abort();
            let rec = result?;
            print::ready(&rec, json)?;
        }
        Command::Ls => {
            let list = engine.list().await?;
            print::previews(&list, json)?;
            if !list.is_empty() {
                // Without the previews' engine, their services cannot be shown: say why.
                if let Err(e) = engine.docker().await {
                    eprintln!("warning: services are not shown: {e}");
                }
            }
        }
        Command::Status { preview, follow } => {
            let r = preview_ref(&preview);
            print::status(&engine.status(&r).await?, json)?;
            if follow {
                let id = engine.find_preview(&r)?.id;
                let cancel = CancellationToken::new();
                let printer = print::follow_events(engine.subscribe(), Some(id.clone()), json);
                let tail = print::tail_transitions(engine.clone(), id, json);
                let follow = engine.follow_services(cancel.clone());
                tokio::select! {
                    r = follow => r?,
                    _ = tokio::signal::ctrl_c() => {}
                }
                cancel.cancel();
                printer.abort();
                tail.abort();
            }
        }
        Command::Logs { args, follow, tail } => {
            let (r, rest) = split_preview(&args);
            let service = rest.first().map(String::as_str);
            let mut stream = Box::pin(engine.logs(&r, service, tail, follow).await?);
            while let Some(line) = stream.next().await {
                print::log_line(&line?, json)?;
            }
        }
        Command::Exec { args, cmd } => {
            let (r, rest) = split_preview(&args);
            let Some(service) = rest.first() else {
                bail!("name the service to run in: branchyard exec <preview> <service> -- <cmd>");
            };
            let out = engine.exec(&r, service, cmd).await?;
            print::exec(&out, json)?;
            return Ok(ExitCode::from(out.exit_code.clamp(0, 255) as u8));
        }
        Command::Stop(p) => print::record(&engine.stop(&one(&p)).await?, json)?,
        Command::Start(p) => {
            let printer = print::follow_events(engine.subscribe(), None, json);
            let rec = engine.start(&one(&p)).await;
            printer.abort();
            print::ready(&rec?, json)?;
        }
        Command::Rebuild(p) => {
            let printer = print::follow_events(engine.subscribe(), None, json);
            let rec = engine.rebuild(&one(&p)).await;
            printer.abort();
            print::ready(&rec?, json)?;
        }
        Command::Down {
            preview,
            volumes,
            keep_worktree,
            force,
        } => {
            let r = one(&preview);
            let id = engine.find_preview(&r)?.id;
            engine
                .down(
                    &r,
                    DownOptions {
                        volumes,
                        keep_worktree,
                        force,
                    },
                )
                .await?;
            print::done(&format!("removed {id}"), json)?;
        }
        Command::Config { target, dir } => {
            let resolved = match (dir, target.as_slice()) {
                (Some(d), _) => engine.config_dir(&d).await?,
                (None, [repo, branch]) => engine.config(repo, branch).await?,
                _ => bail!(
                    "give a repo and a branch (`branchyard config shop main`) or --dir <path>"
                ),
            };
            println!("{}", serde_json::to_string_pretty(&resolved)?);
        }
        Command::Gc { yes } => {
            let orphans = engine.gc(yes).await?;
            print::orphans(&orphans, yes, json)?;
        }
        Command::Doctor => {
            let report = engine.doctor().await?;
            print::doctor(&report, json)?;
            if !report.ok() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Engine(EngineCmd::Show) => {
            let report = engine.engine_report().await;
            print::engine(&report, json)?;
            if report.error.is_some() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Engine(EngineCmd::Contexts) => print::contexts(&engine.docker_contexts()?, json)?,
        Command::Engine(EngineCmd::Use { name, force }) => {
            print::used(&engine.use_context(&name, force).await?, json)?
        }
        Command::Serve => {
            let cancel = CancellationToken::new();
            let printer = print::follow_events(engine.subscribe(), None, json);
            let c = cancel.clone();
            tokio::spawn(async move {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
                }
                c.cancel();
            });
            eprintln!("branchyard serve: following Docker and git; Ctrl-C to stop");
            let r = engine.serve(cancel).await;
            printer.abort();
            r?;
        }
        Command::Ca(CaCmd::Path) => println!("{}", engine.ca()?.cert_path().display()),
        Command::Ca(CaCmd::Trust) => print::trust(&engine.ca_trust()?, json)?,
        Command::Ca(CaCmd::Untrust) => print::trust(&engine.ca_untrust()?, json)?,
        Command::Settings(SettingsCmd::Get) => {
            let s = engine.gateway_settings()?;
            print::settings(&s, json)?;
            if !json {
                let context = engine
                    .stored_settings()?
                    .remove(branchyard_core::engine::CONTEXT_SETTING)
                    .flatten();
                println!(
                    "docker.context = {}",
                    context.as_deref().unwrap_or("(not set: DOCKER_HOST, DOCKER_CONTEXT, the current context, then the usual sockets)")
                );
            }
        }
        Command::Settings(SettingsCmd::Set { key, value }) => {
            let notes = engine.change_setting(&key, &value).await?;
            print::setting_changed(&key, &value, &notes, json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn repo(engine: &Engine, cmd: RepoCmd, json: bool) -> Result<()> {
    match cmd {
        RepoCmd::Add {
            path,
            name,
            trusted,
        } => {
            let r = engine.add_repo(&path, name.as_deref(), trusted).await?;
            print::repos(std::slice::from_ref(&r), json)?;
        }
        RepoCmd::Ls => print::repos(&engine.repos()?, json)?,
        RepoCmd::Rm { name, force } => {
            engine.remove_repo(&name, force).await?;
            print::done(&format!("removed repo {name}"), json)?;
        }
        RepoCmd::Trust { name } => print::repos(&[engine.set_trusted(&name, true)?], json)?,
        RepoCmd::Untrust { name } => print::repos(&[engine.set_trusted(&name, false)?], json)?,
        RepoCmd::Set {
            name,
            auto_update,
            no_auto_update,
            auto_suspend,
        } => {
            if auto_update && no_auto_update
                || (!auto_update && !no_auto_update && auto_suspend.is_none())
            {
                bail!("say --auto-update, --no-auto-update or --auto-suspend <IDLE>");
            }
            if let Some(idle) = auto_suspend {
                let secs = branchyard_core::engine::settings::parse_idle(&idle)?;
                engine.set_auto_suspend(&name, secs)?;
                let msg = match secs {
                    Some(s) => format!(
                        "{name}: previews are suspended after {} without a request (by `branchyard serve` or the app); a request wakes them",
                        branchyard_core::engine::settings::format_idle(s)
                    ),
                    None => format!("{name}: auto-suspend off"),
                };
                if !auto_update && !no_auto_update {
                    return print::done(&msg, json);
                }
                if !json {
                    println!("{msg}");
                }
            }
            print::repos(&[engine.set_auto_update(&name, auto_update)?], json)?;
        }
    }
    Ok(())
}

fn one(p: &PreviewArg) -> PreviewRef {
    preview_ref(&p.preview)
}

fn preview_ref(words: &[String]) -> PreviewRef {
    PreviewRef::parse(&words[0], words.get(1).map(String::as_str))
}

/// `<id> rest…` when the first word is an id (has a dot), else `<repo> <branch> rest…`.
fn split_preview(args: &[String]) -> (PreviewRef, &[String]) {
    if args[0].contains('.') || args.len() == 1 {
        (PreviewRef::Id(args[0].clone()), &args[1..])
    } else {
        (PreviewRef::parse(&args[0], Some(&args[1])), &args[2..])
    }
}

/// `BRANCHYARD_EXTRA_LABELS=k=v,k2=v2`: labels added to everything `up` creates
/// (tests and CI mark their objects with it so a sweep can find them).
fn extra_labels() -> Result<indexmap::IndexMap<String, String>> {
    let mut out = indexmap::IndexMap::new();
    if let Ok(spec) = std::env::var("BRANCHYARD_EXTRA_LABELS") {
        for pair in spec.split(',').filter(|p| !p.is_empty()) {
            let Some((k, v)) = pair.split_once('=') else {
                bail!("BRANCHYARD_EXTRA_LABELS: {pair:?} is not key=value");
            };
            out.insert(k.to_string(), v.to_string());
        }
    }
    Ok(out)
}
