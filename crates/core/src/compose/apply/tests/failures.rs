//! `up` failing: builds, exits, crash loops, missing objects, cancellation.

use std::time::{Duration, Instant};

use bollard::query_parameters::InspectNetworkOptions;
use tokio_util::sync::CancellationToken;

use super::support::*;
use crate::compose::apply::*;
use crate::compose::model::{Build, Condition};
use crate::docker::{list_project_containers, DockerError};

#[tokio::test]
async fn a_failing_build_returns_a_build_error_with_its_log() {
    let docker = docker().await;
    let name = project_name("badbuild");
    let guard = Cleanup::new(&name);
    let dir = guard.path();
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {BASE}\nRUN echo about-to-fail-loudly && exit 3\n"),
    )
    .expect("Dockerfile");
    let mut p = project(&name, &dir);
    let mut web = sh("sleep 3600");
    web.image = None;
    web.build = Some(Build {
        context: dir.clone(),
        dockerfile: "Dockerfile".into(),
        ..Build::default()
    });
    p.services.insert("web".into(), web);
    let err = within(
        60,
        up(
            &docker,
            &p,
            &labels("bad"),
            &opts(),
            &|_| {},
            CancellationToken::new(),
        ),
    )
    .await
    .expect_err("the build fails");
    match &err {
        DockerError::Build {
            service, log_tail, ..
        } => {
            assert_eq!(service, "web");
            assert!(
                log_tail.contains("about-to-fail-loudly"),
                "the log tail shows the build output: {log_tail}"
            );
        }
        other => panic!("expected a build error, got {other:?}"),
    }
    assert_eq!(err.code(), crate::error::Code::Build);
}

#[tokio::test]
async fn a_container_that_exits_at_once_fails_up_with_its_exit_code_and_logs() {
    let docker = docker().await;
    let name = project_name("exits");
    let guard = Cleanup::new(&name);
    let mut p = project(&name, &guard.path());
    p.services.insert("ok".into(), sh("exec sleep 3600"));
    p.services
        .insert("app".into(), sh("echo missing DATABASE_URL >&2; exit 3"));
    let o = opts();
    let err = within(
        30,
        up(
            &docker,
            &p,
            &labels("exits"),
            &o,
            &|_| {},
            CancellationToken::new(),
        ),
    )
    .await
    .expect_err("app exits");
    match &err {
        DockerError::Start {
            service,
            exit_code,
            log_tail,
            ..
        } => {
            assert_eq!(service, "app");
            assert_eq!(*exit_code, Some(3));
            assert!(
                log_tail.contains("missing DATABASE_URL"),
                "its logs explain why: {log_tail}"
            );
        }
        other => panic!("expected a start error, got {other:?}"),
    }
    let created = o.record.snapshot();
    assert_eq!(
        created.containers.len(),
        2,
        "the record lists what to undo: {created:?}"
    );
    within(30, undo(&docker, &created)).await.expect("undo");
    assert!(
        list_project_containers(&docker, &name)
            .await
            .expect("list")
            .is_empty(),
        "undo removed the containers"
    );
}

#[tokio::test]
async fn a_crash_looping_service_fails_up() {
    let docker = docker().await;
    let name = project_name("loop");
    let guard = Cleanup::new(&name);
    let mut p = project(&name, &guard.path());
    let mut app = sh("echo crashing; exit 1");
    app.restart = Some("always".into());
    p.services.insert("app".into(), app);
    let err = within(
        30,
        up(
            &docker,
            &p,
            &labels("loop"),
            &opts(),
            &|_| {},
            CancellationToken::new(),
        ),
    )
    .await
    .expect_err("app keeps crashing");
    assert!(
        matches!(&err, DockerError::Start { message, .. } if message.contains("keeps restarting")),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_external_network_or_image_is_a_clear_error() {
    let docker = docker().await;
    let name = project_name("missing");
    let guard = Cleanup::new(&name);
    let mut p = project(&name, &guard.path());
    p.services.insert("web".into(), sh("sleep 3600"));
    p.networks.insert(
        "default".into(),
        crate::compose::model::Network {
            external: true,
            name: Some(format!("{name}-absent")),
            ..Default::default()
        },
    );
    let err = within(
        30,
        up(
            &docker,
            &p,
            &labels("m"),
            &opts(),
            &|_| {},
            CancellationToken::new(),
        ),
    )
    .await
    .expect_err("no network");
    assert!(
        matches!(
            err,
            DockerError::ExternalMissing {
                kind: "network",
                ..
            }
        ),
        "{err}"
    );

    let mut p = project(&name, &guard.path());
    let mut web = sh("sleep 3600");
    web.image = Some("branchyard-test-absent-image:1".into());
    p.services.insert("web".into(), web);
    let err = within(
        30,
        up(
            &docker,
            &p,
            &labels("m"),
            &opts(),
            &|_| {},
            CancellationToken::new(),
        ),
    )
    .await
    .expect_err("no image");
    assert!(
        err.to_string()
            .contains("is not present locally and could not be pulled"),
        "{err}"
    );
}

#[tokio::test]
async fn cancelling_up_returns_promptly_with_what_it_created_for_undo() {
    let docker = docker().await;
    let name = project_name("cancel");
    let guard = Cleanup::new(&name);
    let mut p = project(&name, &guard.path());
    let mut db = sh("exec sleep 3600");
    // Never healthy: up would wait for the whole health timeout.
    db.healthcheck = Some(ready_file_check());
    p.services.insert("db".into(), db);
    let mut web = sh("exec sleep 3600");
    web.depends_on
        .insert("db".into(), dep(Condition::ServiceHealthy));
    p.services.insert("web".into(), web);
    let o = UpOptions {
        health_timeout: Duration::from_secs(120),
        ..UpOptions::default()
    };
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        trigger.cancel();
    });
    let t = Instant::now();
    let err = within(30, up(&docker, &p, &labels("cancel"), &o, &|_| {}, cancel))
        .await
        .expect_err("cancelled");
    assert!(matches!(err, DockerError::Cancelled), "{err:?}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "returns promptly after the cancel: {:?}",
        t.elapsed()
    );
    let created = o.record.snapshot();
    assert_eq!(created.networks, vec![format!("{name}_default")]);
    assert_eq!(created.containers.len(), 2, "{created:?}");
    within(30, undo(&docker, &created)).await.expect("undo");
    assert!(list_project_containers(&docker, &name)
        .await
        .expect("list")
        .is_empty());
    let nets = docker
        .inspect_network(&format!("{name}_default"), None::<InspectNetworkOptions>)
        .await;
    assert!(nets.is_err(), "undo removed the network it created");
}
