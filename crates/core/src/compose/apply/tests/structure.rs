//! Replicas, links, `volumes_from` and lifecycle hooks against real Docker.

use tokio_util::sync::CancellationToken;

use super::support::*;
use crate::compose::apply::*;
use crate::compose::model::{Condition, Hook, Link, Mount, Project, VolumesFrom};
use crate::docker::labels::CONTAINER_NUMBER;
use crate::docker::{exec, list_project_containers, DockerError};

async fn run(docker: &bollard::Docker, p: &Project) -> Result<Applied, DockerError> {
    let rec = Recorder::default();
    let applied = within(
        60,
        up(
            docker,
            p,
            &labels("x.testrepo"),
            &opts(),
            &rec.callback(),
            CancellationToken::new(),
        ),
    )
    .await;
    applied
}

/// The project's containers as `name:number`, sorted.
async fn replicas(docker: &bollard::Docker, project: &str) -> Vec<String> {
    let mut out: Vec<String> = list_project_containers(docker, project)
        .await
        .expect("list")
        .iter()
        .map(|c| {
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .cloned()
                .unwrap_or_default();
            let number = c
                .labels
                .as_ref()
                .and_then(|l| l.get(CONTAINER_NUMBER))
                .cloned()
                .unwrap_or_default();
            format!("{}:{number}", name.trim_start_matches('/'))
        })
        .collect();
    out.sort();
    out
}

fn shell(cmd: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), cmd.into()]
}

#[tokio::test]
async fn replicas_are_numbered_like_compose_and_scale_up_and_down_idempotently() {
    let docker = docker().await;
    let name = project_name("scale");
    let guard = Cleanup::new(&name);
    let mut p = project(&name, &guard.path());
    let mut web = sh("exec sleep 3600");
    web.scale = Some(2);
    p.services.insert("web".into(), web);

    run(&docker, &p).await.expect("up with two replicas");
    assert_eq!(
        replicas(&docker, &name).await,
        vec![format!("{name}-web-1:1"), format!("{name}-web-2:2")]
    );
    let again = run(&docker, &p).await.expect("up again");
    assert!(
        again.containers.is_empty() && again.removed.is_empty(),
        "nothing changes: {again:?}"
    );

    p.services["web"].scale = Some(3);
    let up3 = run(&docker, &p).await.expect("scale to three");
    assert_eq!(
        up3.containers,
        vec![format!("{name}-web-3")],
        "only the new replica is made"
    );
    assert!(up3.removed.is_empty(), "scaling does not recreate: {up3:?}");

    p.services["web"].scale = Some(1);
    let down1 = run(&docker, &p).await.expect("scale to one");
    let mut removed = down1.removed.clone();
    removed.sort();
    assert_eq!(
        removed,
        vec![format!("{name}-web-2"), format!("{name}-web-3")]
    );
    assert_eq!(
        replicas(&docker, &name).await,
        vec![format!("{name}-web-1:1")]
    );

    p.services["web"].scale = Some(0);
    run(&docker, &p).await.expect("scale to none");
    assert!(
        replicas(&docker, &name).await.is_empty(),
        "replicas: 0 runs nothing"
    );
}

#[tokio::test]
async fn a_link_alias_resolves_and_volumes_from_shares_the_volumes() {
    let docker = docker().await;
    let name = project_name("links");
    let guard = Cleanup::new(&name);
    let mut p = project(&name, &guard.path());
    let mut data = sh("echo shared > /data/file; exec sleep 3600");
    data.volumes.push(Mount::Anonymous {
        target: "/data".into(),
    });
    let mut web = sh("exec sleep 3600");
    web.links.push(Link {
        service: "data".into(),
        alias: "database".into(),
    });
    web.volumes_from.push(VolumesFrom {
        service: "data".into(),
        read_only: true,
    });
    // What the loader's relations step adds.
    web.depends_on
        .insert("data".into(), dep(Condition::ServiceStarted));
    p.services.insert("data".into(), data);
    p.services.insert("web".into(), web);
    run(&docker, &p).await.expect("up");

    let web1 = format!("{name}-web-1");
    let ping = exec(&docker, &web1, shell("ping -c1 -W2 database"), false)
        .await
        .expect("exec");
    assert_eq!(
        ping.exit_code, 0,
        "the alias resolves for the linking service: {}",
        ping.output
    );
    let data1 = format!("{name}-data-1");
    let other = exec(&docker, &data1, shell("ping -c1 -W1 database"), false)
        .await
        .expect("exec");
    assert_ne!(
        other.exit_code, 0,
        "only the linking service knows the alias"
    );
    let read = exec(
        &docker,
        &web1,
        shell("cat /data/file && ! touch /data/x 2>/dev/null"),
        false,
    )
    .await
    .expect("exec");
    assert_eq!(
        (read.exit_code, read.output.trim()),
        (0, "shared"),
        "data's volume is mounted, read-only"
    );
}

#[tokio::test]
async fn post_start_runs_before_the_service_counts_as_started() {
    let docker = docker().await;
    let name = project_name("poststart");
    let guard = Cleanup::new(&name);
    let shared = guard.path().join("shared");
    std::fs::create_dir_all(&shared).expect("dir");
    let bind = Mount::Bind {
        source: shared.clone(),
        target: "/shared".into(),
        read_only: false,
    };
    let mut p = project(&name, &guard.path());
    let mut api = sh("exec sleep 3600");
    api.volumes.push(bind.clone());
    api.post_start.push(Hook {
        command: shell("sleep 0.5; echo $GREETING > /shared/hooked"),
        environment: [("GREETING".to_string(), Some("hello".to_string()))].into(),
        ..Hook::default()
    });
    // It exits (and fails up) if it starts before api's hook is done.
    let mut web = sh("test -f /shared/hooked || exit 3; exec sleep 3600");
    web.volumes.push(bind);
    web.depends_on
        .insert("api".into(), dep(Condition::ServiceStarted));
    p.services.insert("api".into(), api);
    p.services.insert("web".into(), web);
    run(&docker, &p).await.expect("up waits for the hook");
    assert_eq!(
        std::fs::read_to_string(shared.join("hooked"))
            .expect("the hook ran")
            .trim(),
        "hello",
        "with its environment"
    );
}

#[tokio::test]
async fn a_failing_post_start_fails_up_with_its_output() {
    let docker = docker().await;
    let name = project_name("hookfail");
    let guard = Cleanup::new(&name);
    let mut p = project(&name, &guard.path());
    let mut web = sh("exec sleep 3600");
    web.post_start.push(Hook {
        command: shell("echo starting; echo no config here >&2; exit 4"),
        ..Hook::default()
    });
    p.services.insert("web".into(), web);
    let e = run(&docker, &p).await.expect_err("the hook fails");
    let msg = e.to_string();
    assert!(
        matches!(e, DockerError::Start { .. })
            && msg.contains("post_start")
            && msg.contains("status 4")
            && msg.ends_with("status 4:\nno config here"),
        "the hook, its status and its stderr: {msg}"
    );
}

#[tokio::test]
async fn pre_stop_runs_before_a_stop_and_a_failing_one_is_a_warning() {
    let docker = docker().await;
    let name = project_name("prestop");
    let guard = Cleanup::new(&name);
    let shared = guard.path().join("shared");
    std::fs::create_dir_all(&shared).expect("dir");
    let mut p = project(&name, &guard.path());
    let mut web = sh("exec sleep 3600");
    web.volumes.push(Mount::Bind {
        source: shared.clone(),
        target: "/shared".into(),
        read_only: false,
    });
    web.pre_stop.push(Hook {
        command: shell("touch /shared/stopping"),
        ..Hook::default()
    });
    web.pre_stop.push(Hook {
        command: shell("echo cannot flush >&2; exit 2"),
        ..Hook::default()
    });
    p.services.insert("web".into(), web);
    run(&docker, &p).await.expect("up");
    let stopped = within(30, stop(&docker, &name)).await.expect("stop");
    assert!(
        shared.join("stopping").exists(),
        "the hook ran before the stop"
    );
    assert_eq!(stopped.containers, vec![format!("{name}-web-1")]);
    assert!(
        stopped.warnings.len() == 1 && stopped.warnings[0].contains("cannot flush"),
        "the failing hook is a warning: {:?}",
        stopped.warnings
    );
    let st = inspect(&docker, &format!("{name}-web-1")).await;
    assert_eq!(
        st.state.and_then(|s| s.running),
        Some(false),
        "stopped anyway"
    );
}
