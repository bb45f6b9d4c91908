//! How results and events look in a terminal, or as JSON with `--json`.

use anyhow::Result;
use branchyard_core::docker::endpoint::{EngineInfo, Located};
use branchyard_core::docker::{ExecOutcome, LogLine};
use branchyard_core::engine::{
    BranchView, DockerContext, DoctorReport, EngineReport, Orphan, PreviewStatus, PreviewView,
    UseReport,
};
use branchyard_core::error::ErrorDto;
use branchyard_core::events::{Event, StepStatus};
use branchyard_core::gateway::GatewaySettings;
use branchyard_core::store::{PreviewRecord, RepoRecord};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

fn json_out<T: Serialize + ?Sized>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Prints an error with its code and, for failures, the saved detail.
pub fn error(e: &anyhow::Error) {
    if let Some(core) = e.downcast_ref::<branchyard_core::Error>() {
        let dto = ErrorDto::from(core);
        eprintln!("error: {}", dto.message);
        if !dto.detail.trim().is_empty() {
            eprintln!("{}", dto.detail.trim_end());
        }
    } else {
        eprintln!("error: {e:#}");
    }
}

/// A one-line confirmation.
pub fn done(msg: &str, json: bool) -> Result<()> {
    if json {
        json_out(&serde_json::json!({ "ok": true, "message": msg }))
    } else {
        println!("{msg}");
        Ok(())
    }
}

/// Repositories.
pub fn repos(repos: &[RepoRecord], json: bool) -> Result<()> {
    if json {
        return json_out(repos);
    }
    if repos.is_empty() {
        println!("no repositories yet: add one with `branchyard repo add <path>`");
    }
    for r in repos {
        let mut flags = Vec::new();
        if r.trusted {
            flags.push("trusted");
        }
        if r.auto_update {
            flags.push("auto-update");
        }
        println!("{:<20} {}  {}", r.name, r.path, flags.join(" "));
    }
    Ok(())
}

/// Branches, newest first.
pub fn branches(branches: &[BranchView], json: bool) -> Result<()> {
    if json {
        return json_out(branches);
    }
    let now = branchyard_core::store::now_ms() / 1000;
    for b in branches {
        let preview = match (&b.preview, b.state) {
            (Some(id), Some(s)) => format!("{id} ({s})"),
            _ => String::new(),
        };
        println!(
            "{:<32} {:.10} {:>8}  {:<50.50} {}",
            b.branch.name,
            b.branch.head,
            age(now - b.branch.time),
            b.branch.subject,
            preview
        );
    }
    Ok(())
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Previews with their services.
pub fn previews(list: &[PreviewView], json: bool) -> Result<()> {
    if json {
        return json_out(list);
    }
    if list.is_empty() {
        println!("no previews: start one with `branchyard up <repo> <branch>`");
        return Ok(());
    }
    println!(
        "{:<32} {:<10} {:<10} {:<9} {:<44} NOTES",
        "PREVIEW", "STATE", "COMMIT", "SERVICES", "URL"
    );
    for p in list {
        println!(
            "{:<32} {:<10} {:<10.10} {:<9} {:<44} {}",
            p.record.id,
            p.record.state.to_string(),
            p.record.commit_sha.as_deref().unwrap_or("-"),
            services_summary(p),
            p.record.urls.first().map(|u| u.url.as_str()).unwrap_or("-"),
            notes(&p.record)
        );
    }
    Ok(())
}

fn services_summary(p: &PreviewView) -> String {
    use branchyard_core::events::ServiceState::*;
    let up = p
        .services
        .iter()
        .filter(|s| matches!(s.state, Running | Healthy | Starting))
        .count();
    format!("{up}/{} up", p.services.len())
}

fn notes(r: &PreviewRecord) -> String {
    let mut n = Vec::new();
    if r.state == branchyard_core::lifecycle::State::Degraded {
        n.push(format!(
            "{} (`branchyard start {}` restarts it)",
            r.error.as_deref().unwrap_or("a service is down"),
            r.id
        ));
    }
    if let Some(sha) = &r.outdated_sha {
        n.push(format!("outdated (branch at {:.10})", sha));
    }
    if r.branch_gone {
        n.push("branch gone (`branchyard gc` removes it)".to_string());
    }
    n.join(", ")
}

/// `status`: the preview, its services, its transitions.
pub fn status(s: &PreviewStatus, json: bool) -> Result<()> {
    if json {
        return json_out(s);
    }
    let r = &s.view.record;
    println!(
        "{}  {}  ({} @ {})",
        r.id,
        r.state,
        r.branch,
        r.commit_sha.as_deref().unwrap_or("-")
    );
    for u in &r.urls {
        println!("  {} → {}", u.url, u.service);
    }
    let n = notes(r);
    if !n.is_empty() {
        println!("  {n}");
    }
    println!("services:");
    for svc in &s.view.services {
        println!(
            "  {:<16} {:<10} {}{}",
            svc.service,
            format!("{:?}", svc.state).to_lowercase(),
            svc.container,
            svc.exit_code
                .map(|c| format!(" (exit {c})"))
                .unwrap_or_default()
        );
    }
    if !s.view.carried.is_empty() {
        println!("carried from the main working directory:");
        for c in &s.view.carried {
            println!(
                "  {:<32} {:<5} {}{}",
                c.path,
                format!("{:?}", c.mode).to_lowercase(),
                c.origin,
                if c.kept {
                    " (kept: changed in the worktree, no longer refreshed)"
                } else {
                    ""
                }
            );
        }
    }
    match &s.traffic {
        Some(t) => println!(
            "traffic: {} request{}, last at {}",
            t.requests,
            if t.requests == 1 { "" } else { "s" },
            time_of(t.last_request_ms)
        ),
        None => println!("traffic: no request since the gateway started"),
    }
    println!("transitions:");
    for t in &s.transitions {
        transition_line(t.at, t.from, t.to, &t.trigger, &t.detail);
    }
    Ok(())
}

fn transition_line(
    at: i64,
    from: Option<branchyard_core::lifecycle::State>,
    to: branchyard_core::lifecycle::State,
    trigger: &str,
    detail: &str,
) {
    let when = time_of(at);
    let from = from.map(|f| f.to_string()).unwrap_or_else(|| "-".into());
    if from == to.to_string() {
        println!("  {when}  [{trigger}] {}", detail.trim_end());
    } else if detail.is_empty() {
        println!("  {when}  {from} → {to} ({trigger})");
    } else {
        println!("  {when}  {from} → {to} ({trigger}): {}", detail.trim_end());
    }
}

fn time_of(ms: i64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

/// `up` succeeded: the URLs.
pub fn ready(r: &PreviewRecord, json: bool) -> Result<()> {
    if json {
        return json_out(r);
    }
    println!(
        "✔ {} is {} at {:.10}",
        r.id,
        r.state,
        r.commit_sha.as_deref().unwrap_or("-")
    );
    for u in &r.urls {
        println!("  {}", u.url);
    }
    Ok(())
}

/// A preview record.
pub fn record(r: &PreviewRecord, json: bool) -> Result<()> {
    if json {
        return json_out(r);
    }
    println!("{} is {}", r.id, r.state);
    Ok(())
}

/// Prints events as they come (only `preview`'s when given) until aborted.
pub fn follow_events(
    mut rx: broadcast::Receiver<Event>,
    preview: Option<String>,
    json: bool,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if preview.as_deref().is_some_and(|p| e.preview() != Some(p)) {
                        continue;
                    }
                    if json {
                        if let Ok(s) = serde_json::to_string(&e) {
                            println!("{s}");
                        }
                    } else {
                        event(&e);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("({n} events skipped)");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

/// One event as a line.
pub fn event(e: &Event) {
    match e {
        Event::State {
            preview,
            from,
            to,
            detail,
            ..
        } => {
            let from = from.map(|f| f.to_string()).unwrap_or_else(|| "-".into());
            let first = detail.lines().next().unwrap_or("");
            println!(
                "• {preview}: {from} → {to}{}",
                if first.is_empty() {
                    String::new()
                } else {
                    format!(" ({first})")
                }
            );
        }
        Event::Step {
            step,
            status,
            detail,
            ..
        } => {
            let mark = match status {
                StepStatus::Started => "…",
                StepStatus::Done => "✔",
                StepStatus::Failed => "✘",
            };
            if *status == StepStatus::Started && detail.is_empty() {
                println!("  {mark} {}", step.as_str());
            } else {
                println!("  {mark} {} {detail}", step.as_str());
            }
        }
        Event::Output { service, line, .. } => println!("    {service} | {line}"),
        Event::Service { preview, status } => println!(
            "  {preview} {}: {}{}",
            status.service,
            format!("{:?}", status.state).to_lowercase(),
            status
                .exit_code
                .map(|c| format!(" (exit {c})"))
                .unwrap_or_default()
        ),
        Event::Outdated { preview, head } => {
            println!("• {preview}: outdated, branch now at {head:.10}")
        }
        Event::BranchGone { preview } => println!("• {preview}: branch deleted"),
        Event::Warning { message, .. } => eprintln!("warning: {message}"),
    }
}

/// Prints new transitions of `preview` written by any process (e.g. `serve`).
pub fn tail_transitions(
    engine: branchyard_core::Engine,
    preview: String,
    json: bool,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = engine
            .status(&branchyard_core::engine::PreviewRef::Id(preview.clone()))
            .await
            .map(|s| s.transitions.last().map(|t| t.seq).unwrap_or(0))
            .unwrap_or(0);
        loop {
            // SQLite has no cross-process notification; the log is tiny and indexed.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let Ok(s) = engine
                .status(&branchyard_core::engine::PreviewRef::Id(preview.clone()))
                .await
            else {
                continue;
            };
            let since = last;
            for t in s.transitions.iter().filter(|t| t.seq > since) {
                if json {
                    if let Ok(line) = serde_json::to_string(t) {
                        println!("{line}");
                    }
                } else {
                    transition_line(t.at, t.from, t.to, &t.trigger, &t.detail);
                }
                last = t.seq;
            }
        }
    })
}

/// A log line.
pub fn log_line(l: &LogLine, json: bool) -> Result<()> {
    if json {
        return json_out(l);
    }
    print!("{}", l.text);
    if !l.text.ends_with('\n') {
        println!();
    }
    Ok(())
}

/// The output of `exec`.
pub fn exec(out: &ExecOutcome, json: bool) -> Result<()> {
    if json {
        return json_out(out);
    }
    print!("{}", out.output);
    Ok(())
}

/// `gc`'s findings.
pub fn orphans(list: &[Orphan], removed: bool, json: bool) -> Result<()> {
    if json {
        return json_out(list);
    }
    if list.is_empty() {
        println!("nothing to clean up");
        return Ok(());
    }
    for o in list {
        println!("{:<10} {:<48} {}", o.kind, o.name, o.reason);
    }
    if removed {
        println!("removed {} orphans", list.len());
    } else {
        println!(
            "{} orphans: run `branchyard gc --yes` to remove them",
            list.len()
        );
    }
    Ok(())
}

/// `doctor`'s report.
pub fn doctor(r: &DoctorReport, json: bool) -> Result<()> {
    if json {
        return json_out(r);
    }
    let line = |name: &str, v: &std::result::Result<String, String>| match v {
        Ok(s) => println!("✔ {name}: {s}"),
        Err(e) => println!("✘ {name}: {e}"),
    };
    println!("home: {}", r.home);
    line("docker", &r.docker);
    engine_lines(r.endpoint.as_ref(), r.engine.as_ref());
    line("gateway", &r.gateway);
    println!(
        "worktrees: {:.1} MB, {} previews",
        r.worktrees_bytes as f64 / 1e6,
        r.previews
    );
    Ok(())
}

/// The engine's details and the notes on how it was chosen, indented under a ✔/✘ line.
fn engine_lines(endpoint: Option<&Located>, engine: Option<&EngineInfo>) {
    if let Some(i) = engine {
        println!(
            "  engine: {}  ID {}  {} {}/{}  {}",
            i.name,
            i.id,
            i.product.as_deref().unwrap_or("Docker"),
            i.os_type,
            i.architecture,
            i.operating_system
        );
    }
    if let Some(l) = endpoint {
        if engine.is_none() {
            println!(
                "  endpoint: {} (chosen by {})",
                l.endpoint.host, l.endpoint.source
            );
        }
        for n in &l.notes {
            println!("  note: {n}");
        }
    }
}

/// The engine in use (`branchyard engine show`).
pub fn engine(r: &EngineReport, json: bool) -> Result<()> {
    if json {
        return json_out(r);
    }
    match (&r.endpoint, &r.error) {
        (Some(l), None) => println!("✔ {} (chosen by {})", l.endpoint.host, l.endpoint.source),
        (_, Some(e)) => println!("✘ {}", e.message),
        (None, None) => println!("✘ no engine"),
    }
    engine_lines(r.endpoint.as_ref(), r.engine.as_ref());
    if let Some(s) = &r.setting {
        println!("  setting docker.context = {s}");
    }
    Ok(())
}

/// Docker contexts, the one in use starred (as `docker context ls`).
pub fn contexts(list: &[DockerContext], json: bool) -> Result<()> {
    if json {
        return json_out(list);
    }
    for c in list {
        let name = format!("{}{}", c.name, if c.current { " *" } else { "" });
        let mut extra = Vec::new();
        if !c.tls_material.is_empty() {
            extra.push(format!("TLS: {}", c.tls_material.join(" ")));
        }
        if c.skip_tls_verify {
            extra.push("skips TLS verification (refused)".into());
        }
        if let Some(e) = &c.error {
            extra.push(format!("unreadable: {e}"));
        }
        println!(
            "{:<24} {:<44} {:<40} {}",
            name,
            c.host.as_deref().unwrap_or("-"),
            c.description,
            extra.join("; ")
        );
    }
    Ok(())
}

/// What `branchyard engine use` did.
pub fn used(r: &UseReport, json: bool) -> Result<()> {
    if json {
        return json_out(r);
    }
    for l in r.lines() {
        println!("{l}");
    }
    Ok(())
}

/// Settings.
pub fn settings(s: &GatewaySettings, json: bool) -> Result<()> {
    if json {
        return json_out(s);
    }
    let on = |b: bool| if b { "on" } else { "off" };
    println!("gateway.http_port = {}", s.http_port);
    match s.https_port {
        Some(p) => println!("gateway.https_port = {p}"),
        None => println!("gateway.https = off"),
    }
    println!(
        "  (preview URLs are {})",
        if s.https_urls { "https" } else { "http" }
    );
    println!("gateway.redirect_https = {}", on(s.redirect_https));
    println!("gateway.lan = {}", on(s.lan));
    println!("gateway.admin_port = {}", s.admin_port);
    Ok(())
}

/// A changed setting and what the user should know about it.
pub fn setting_changed(key: &str, value: &str, notes: &[String], json: bool) -> Result<()> {
    if json {
        return json_out(
            &serde_json::json!({ "ok": true, "key": key, "value": value, "notes": notes }),
        );
    }
    println!("{key} = {value}");
    for n in notes {
        eprintln!("warning: {n}");
    }
    Ok(())
}

/// What `ca trust|untrust` did and what is left to do by hand.
pub fn trust(r: &branchyard_core::tls::TrustReport, json: bool) -> Result<()> {
    if json {
        return json_out(r);
    }
    for d in &r.done {
        println!("✔ {d}");
    }
    for m in &r.manual {
        println!("to do by hand: {m}");
    }
    if r.done.is_empty() && r.manual.is_empty() {
        println!("nothing to do");
    }
    Ok(())
}
