//! `stop`, `start` and `down` over a running project, and their timing.

use std::time::{Duration, Instant};

use bollard::query_parameters::InspectNetworkOptions;
use tokio_util::sync::CancellationToken;

use super::support::*;
use crate::compose::apply::*;
use crate::compose::model::{Mount, Volume};
use crate::compose::plan::Action;
use crate::docker::exec;

#[tokio::test]
async fn a_named_volume_keeps_its_data_across_stop_and_start() {
    let docker = docker().await;
    let name = project_name("volume");
    let guard = Cleanup::new(&name);
    let mut p = project(&name, &guard.path());
    p.volumes.insert("data".into(), Volume::default());
    let mut db = sh("exec sleep 3600");
    db.volumes = vec![Mount::Volume {
        source: "data".into(),
        target: "/data".into(),
        read_only: false,
    }];
    p.services.insert("db".into(), db);
    let l = labels("volume");
    let applied = within(
        60,
        up(&docker, &p, &l, &opts(), &|_| {}, CancellationToken::new()),
    )
    .await
    .expect("up");
    assert_eq!(applied.volumes, vec![format!("{name}_data")]);
    let c = format!("{name}-db-1");
    exec(
        &docker,
        &c,
        vec!["sh".into(), "-c".into(), "echo kept > /data/f".into()],
        false,
    )
    .await
    .expect("write");

    let t = Instant::now();
    let stopped = within(30, stop(&docker, &name)).await.expect("stop");
    assert_eq!(stopped.containers, vec![c.clone()]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "init: true makes stop prompt"
    );
    assert_eq!(
        inspect(&docker, &c).await.state.and_then(|s| s.running),
        Some(false)
    );
    let started = within(60, start(&docker, &p, &l, Duration::from_secs(30), &|_| {}))
        .await
        .expect("start");
    assert_eq!(
        started.actions["db"],
        Action::Start,
        "the stopped container is started, not recreated"
    );
    let out = exec(&docker, &c, vec!["cat".into(), "/data/f".into()], false)
        .await
        .expect("read");
    assert_eq!(out.output.trim(), "kept");

    within(30, down(&docker, &name, false)).await.expect("down");
    assert!(
        docker.inspect_volume(&format!("{name}_data")).await.is_ok(),
        "down keeps volumes without the flag"
    );
    let report = within(30, down(&docker, &name, true))
        .await
        .expect("down -v");
    assert_eq!(report.volumes, vec![format!("{name}_data")]);
    assert!(
        docker
            .inspect_volume(&format!("{name}_data"))
            .await
            .is_err(),
        "down with volumes removes them"
    );
    let nets = docker
        .inspect_network(&format!("{name}_default"), None::<InspectNetworkOptions>)
        .await;
    assert!(nets.is_err(), "down removes the project's networks");
    within(30, down(&docker, &name, true))
        .await
        .expect("down is idempotent");
}

/// Timing of `up` and `down` of six busybox services (run by hand with
/// `--ignored --nocapture`; scripts/bench-compose.sh compares with docker-compose).
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn six_services_up_and_down_timing() {
    let docker = docker().await;
    for round in 0..5 {
        let name = project_name("bench");
        let guard = Cleanup::new(&name);
        let mut p = project(&name, &guard.path());
        for i in 1..=6 {
            p.services.insert(format!("s{i}"), sh("exec sleep 3600"));
        }
        let t = Instant::now();
        up(
            &docker,
            &p,
            &labels("bench"),
            &opts(),
            &|_| {},
            CancellationToken::new(),
        )
        .await
        .expect("up");
        let up_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        down(&docker, &name, false).await.expect("down");
        println!(
            "round {round}: up {up_s:.3} s, down {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
}
