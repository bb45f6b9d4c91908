//! `up`: dependency order, compose v2 names and labels, re-planning.

use bollard::query_parameters::InspectNetworkOptions;
use tokio_util::sync::CancellationToken;

use super::support::*;
use crate::compose::apply::*;
use crate::compose::model::{Build, Condition};
use crate::compose::plan::Action;
use crate::docker::{exec, list_project_containers};

#[tokio::test]
async fn up_starts_a_healthy_dependency_first_with_compose_v2_names_labels_and_no_published_ports()
{
    let docker = docker().await;
    let name = project_name("order");
    let guard = Cleanup::new(&name);
    let dir = guard.path();
    std::fs::write(
        dir.join("Dockerfile"),
        format!("FROM {BASE}\nRUN echo built > /built\n"),
    )
    .expect("Dockerfile");
    let mut p = project(&name, &dir);
    let mut db = sh("sleep 0.5; touch /tmp/ready; exec sleep 3600");
    db.healthcheck = Some(ready_file_check());
    db.expose = vec![5432];
    let mut web = sh("cat /built; exec sleep 3600");
    web.image = None;
    web.build = Some(Build {
        context: dir.clone(),
        dockerfile: "Dockerfile".into(),
        ..Build::default()
    });
    web.ports = vec![8080];
    web.depends_on
        .insert("db".into(), dep(Condition::ServiceHealthy));
    p.services.insert("db".into(), db);
    p.services.insert("web".into(), web);

    let rec = Recorder::default();
    let applied = within(
        60,
        up(
            &docker,
            &p,
            &labels("x.testrepo"),
            &opts(),
            &rec.callback(),
            CancellationToken::new(),
        ),
    )
    .await
    .expect("up succeeds");

    let states = rec.states();
    let healthy = states
        .iter()
        .position(|s| s == "db:Healthy")
        .expect("db became healthy");
    let web_started = states
        .iter()
        .position(|s| s.starts_with("web:Running"))
        .expect("web started");
    assert!(
        healthy < web_started,
        "web waits for db to be healthy: {states:?}"
    );
    assert_eq!(applied.containers.len(), 2);
    assert_eq!(applied.networks, vec![format!("{name}_default")]);
    assert_eq!(
        applied.images,
        vec![format!("{name}-web")],
        "compose v2's default image name"
    );

    let c = inspect(&docker, &format!("{name}-web-1")).await;
    let l = c
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    for (k, v) in [
        ("com.docker.compose.project", name.as_str()),
        ("com.docker.compose.service", "web"),
        ("com.docker.compose.container-number", "1"),
        ("com.docker.compose.oneoff", "False"),
        ("com.docker.compose.version", "2.29.0"),
        ("dev.branchyard.managed", "true"),
        ("dev.branchyard.preview", "x.testrepo"),
        ("dev.branchyard.branch", "feature/x"),
        ("dev.branchyard.test", "1"),
    ] {
        assert_eq!(l.get(k).map(String::as_str), Some(v), "label {k}");
    }
    assert_eq!(
        l["com.docker.compose.project.working_dir"],
        dir.display().to_string()
    );
    assert_eq!(l["com.docker.compose.config-hash"].len(), 64);
    let host = c.host_config.clone().unwrap_or_default();
    assert!(
        host.port_bindings
            .unwrap_or_default()
            .values()
            .all(|b| b.as_ref().is_none_or(Vec::is_empty)),
        "no host port is published"
    );
    let exposed = c.config.and_then(|c| c.exposed_ports).unwrap_or_default();
    assert!(
        exposed.iter().any(|p| p == "8080/tcp"),
        "ports are exposed, not published: {exposed:?}"
    );
    let net = c
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default();
    let endpoint = net
        .get(&format!("{name}_default"))
        .expect("on the default network");
    assert!(
        endpoint
            .aliases
            .clone()
            .unwrap_or_default()
            .contains(&"web".to_string()),
        "the service name is an alias"
    );
    let n = docker
        .inspect_network(&format!("{name}_default"), None::<InspectNetworkOptions>)
        .await
        .expect("network");
    let nl = n.labels.unwrap_or_default();
    assert_eq!(nl["com.docker.compose.network"], "default");
    assert_eq!(nl["dev.branchyard.route-network"], "true");
    let out = exec(
        &docker,
        &format!("{name}-web-1"),
        vec!["cat".into(), "/built".into()],
        false,
    )
    .await
    .expect("exec");
    assert_eq!(
        out.output.trim(),
        "built",
        "web runs the image built from its context"
    );

    let report = within(30, down(&docker, &name, false)).await.expect("down");
    assert_eq!(report.containers.len(), 2);
    assert!(list_project_containers(&docker, &name)
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn a_second_up_keeps_what_did_not_change_recreates_what_did_and_removes_what_is_gone() {
    let docker = docker().await;
    let name = project_name("replan");
    let guard = Cleanup::new(&name);
    let mut p = project(&name, &guard.path());
    p.services.insert("a".into(), sh("exec sleep 3600"));
    p.services.insert("b".into(), sh("exec sleep 3600"));
    p.services.insert("c".into(), sh("exec sleep 3600"));
    let (l, cb) = (labels("replan"), |_| {});
    within(
        60,
        up(&docker, &p, &l, &opts(), &cb, CancellationToken::new()),
    )
    .await
    .expect("first up");
    let id_of = |c: bollard::models::ContainerInspectResponse| c.id.unwrap_or_default();
    let a_before = id_of(inspect(&docker, &format!("{name}-a-1")).await);

    let again = within(
        60,
        up(&docker, &p, &l, &opts(), &cb, CancellationToken::new()),
    )
    .await
    .expect("second up");
    assert!(
        again.actions.values().all(|a| *a == Action::Keep),
        "nothing changed: {:?}",
        again.actions
    );
    assert!(
        again.containers.is_empty() && again.networks.is_empty(),
        "nothing created: {again:?}"
    );

    p.services
        .get_mut("b")
        .expect("b")
        .environment
        .insert("CHANGED".into(), Some("1".into()));
    p.services.shift_remove("c");
    let third = within(
        60,
        up(&docker, &p, &l, &opts(), &cb, CancellationToken::new()),
    )
    .await
    .expect("third up");
    assert_eq!(third.actions["a"], Action::Keep);
    assert_eq!(third.actions["b"], Action::Recreate);
    assert!(third.removed.contains(&format!("{name}-c-1")), "{third:?}");
    assert_eq!(
        id_of(inspect(&docker, &format!("{name}-a-1")).await),
        a_before,
        "a was kept"
    );
    let env = inspect(&docker, &format!("{name}-b-1"))
        .await
        .config
        .and_then(|c| c.env)
        .unwrap_or_default();
    assert!(
        env.contains(&"CHANGED=1".to_string()),
        "b runs its new definition"
    );
    assert_eq!(
        list_project_containers(&docker, &name)
            .await
            .expect("list")
            .len(),
        2,
        "c's container is gone"
    );
}

#[tokio::test]
async fn a_one_shot_job_completes_before_the_service_that_waits_for_it() {
    let docker = docker().await;
    let name = project_name("oneshot");
    let guard = Cleanup::new(&name);
    let mut p = project(&name, &guard.path());
    p.services
        .insert("migrate".into(), sh("sleep 0.3; echo migrated"));
    let mut app = sh("exec sleep 3600");
    app.depends_on.insert(
        "migrate".into(),
        dep(Condition::ServiceCompletedSuccessfully),
    );
    p.services.insert("app".into(), app);
    let rec = Recorder::default();
    within(
        60,
        up(
            &docker,
            &p,
            &labels("oneshot"),
            &opts(),
            &rec.callback(),
            CancellationToken::new(),
        ),
    )
    .await
    .expect("up");
    let states = rec.states();
    let done = states
        .iter()
        .position(|s| s == "migrate:Exited")
        .expect("migrate exited");
    let app = states
        .iter()
        .position(|s| s == "app:Running")
        .expect("app running");
    assert!(done < app, "app starts after migrate completed: {states:?}");
}
