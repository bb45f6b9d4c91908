//! The gateway on the real Docker engine: a test gateway of its own name and
//! ports serving a busybox httpd through a preview-like network, surviving a
//! `docker restart`, and falling back when its port is taken.
//!
//! Needs Docker and the static binary for the engine's CPU (`scripts/setup`
//! builds it); without the binary the test says so and passes, as there is
//! nothing to put in an image (under CI it fails instead).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, HostConfig, NetworkCreateRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptionsBuilder, RestartContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::image::{engine_arch, PLATFORM_LABEL};
use super::static_binary_tests::built;
use super::{attach, ensure, Gateway, GatewaySettings, Route};

/// Every object this test makes carries it.
const TEST_LABEL: (&str, &str) = ("dev.branchyard.test", "1");
/// The upstream image: busybox alone, FROM scratch.
const BUSYBOX: &str = "branchyard-test-gateway-busybox:1";

/// `GET /` on 127.0.0.1:`port` with `Host: host`; `(status, body)`, or `None`
/// when nothing answers.
pub(super) async fn get(port: u16, host: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let req = format!("GET / HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        status,
        text.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    ))
}

/// Polls [`get`] until the body holds `needle`; how long that took.
async fn until_served(port: u16, host: &str, needle: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = get(port, host).await;
        if got
            .as_ref()
            .is_some_and(|(s, b)| *s == 200 && b.contains(needle))
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{host} on port {port} not served within {within:?}; last: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn build_busybox(docker: &Docker) {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (apt install busybox-static)");
    let dockerfile = format!(
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\",\"--install\",\"-s\",\"/bin\"]\nLABEL {}={}\n",
        TEST_LABEL.0, TEST_LABEL.1
    );
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, mode) in [
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("busybox", &busybox[..], 0o755),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let opts = BuildImageOptionsBuilder::default()
        .t(BUSYBOX)
        .rm(true)
        .build();
    let mut s = docker.build_image(opts, None, Some(bollard::body_full(tar.into())));
    while let Some(item) = s.next().await {
        let info = item.expect("busybox image build");
        assert!(
            info.error_detail.is_none(),
            "busybox image build failed: {info:?}"
        );
    }
}

/// Names of everything the test makes, for the cleanup.
struct Made {
    settings: GatewaySettings,
    upstream_net: String,
    web: String,
}

impl Made {
    async fn clean(&self, docker: &Docker) {
        let force = || {
            Some(
                RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(true)
                    .build(),
            )
        };
        let _ = docker
            .remove_container(&self.settings.container_name, force())
            .await;
        let _ = docker.remove_container(&self.web, force()).await;
        // Another gateway recreated meanwhile joins every route network: let go of it.
        if let Ok(net) = docker.inspect_network(&self.upstream_net, None).await {
            for c in net.containers.unwrap_or_default().into_keys() {
                let req = NetworkDisconnectRequest {
                    container: c,
                    force: Some(true),
                };
                let _ = docker.disconnect_network(&self.upstream_net, req).await;
            }
        }
        let _ = docker.remove_network(&self.upstream_net).await;
        let _ = docker.remove_network(&self.settings.network()).await;
        let _ = docker
            .remove_volume(
                &self.settings.volume(),
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await;
        let rm = || Some(RemoveImageOptionsBuilder::default().force(true).build());
        let _ = docker
            .remove_image(&self.settings.image(), rm(), None)
            .await;
        let _ = docker.remove_image(BUSYBOX, rm(), None).await;
    }
}

#[tokio::test]
async fn a_test_gateway_routes_to_a_container_and_keeps_its_routes_across_a_restart() {
    let docker = Docker::connect_with_local_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .expect("Docker must run for this test");
    let arch = engine_arch(&docker)
        .await
        .expect("this engine's architecture");
    if built(arch).is_none() {
        return;
    }
    let id = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    let made = Made {
        settings: GatewaySettings {
            http_port: 18080,
            admin_port: 18019,
            container_name: format!("branchyard-gateway-coretest-{id}"),
            // Its own home: it must not join networks other tests make and remove.
            labels: [
                (TEST_LABEL.0.to_string(), TEST_LABEL.1.to_string()),
                (crate::reconcile::HOME.to_string(), format!("coretest-{id}")),
            ]
            .into(),
            // HTTPS is the e2e tests' business; this one needs no port for it.
            https_port: None,
            ..GatewaySettings::default()
        },
        upstream_net: format!("bytest-gateway-{id}_default"),
        web: format!("bytest-gateway-{id}-web"),
    };
    let body = tokio::spawn(scenario(
        docker.clone(),
        made.settings.clone(),
        made.upstream_net.clone(),
        made.web.clone(),
    ));
    let outcome = body.await;
    made.clean(&docker).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn scenario(docker: Docker, settings: GatewaySettings, upstream_net: String, web: String) {
    let home = tempfile::tempdir().unwrap();
    build_busybox(&docker).await;

    // A preview-like network with a busybox httpd on it.
    let mut test_labels: HashMap<String, String> = HashMap::from([
        (TEST_LABEL.0.to_string(), TEST_LABEL.1.to_string()),
        (
            "dev.branchyard.route-network".to_string(),
            "true".to_string(),
        ),
    ]);
    if let Some(home) = settings.labels.get(crate::reconcile::HOME) {
        test_labels.insert(crate::reconcile::HOME.to_string(), home.clone());
    }
    docker
        .create_network(NetworkCreateRequest {
            name: upstream_net.clone(),
            labels: Some(test_labels.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let script = "mkdir -p /www && echo hello-from-busybox > /www/index.html && exec httpd -f -p 8000 -h /www";
    let spec = ContainerCreateBody {
        image: Some(BUSYBOX.into()),
        cmd: Some(vec!["sh".into(), "-c".into(), script.into()]),
        labels: Some(HashMap::from([(
            TEST_LABEL.0.to_string(),
            TEST_LABEL.1.to_string(),
        )])),
        host_config: Some(HostConfig {
            init: Some(true),
            network_mode: Some(upstream_net.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&web).build()),
            spec,
        )
        .await
        .unwrap();
    docker.start_container(&web, None).await.unwrap();

    // The gateway comes up on the asked ports, on its own network, not the user's.
    let gw = ensure(&docker, home.path(), &settings)
        .await
        .expect("ensure the test gateway");
    assert_eq!(
        (gw.http_port(), gw.admin_port(), gw.fell_back()),
        (18080, 18019, None),
        "the asked ports were free"
    );
    assert_eq!(gw.url_for("a.b.localhost"), "http://a.b.localhost:18080");
    let inspected = docker
        .inspect_container(&settings.container_name, None)
        .await
        .unwrap();
    let first_id = inspected.id.clone().unwrap();
    let labels = inspected.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(
        labels.get("dev.branchyard.gateway").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        labels.get(TEST_LABEL.0).map(String::as_str),
        Some("1"),
        "the test's label reaches the container"
    );
    // The image holds the binary for this engine's CPU, and says so.
    let arch = engine_arch(&docker).await.unwrap();
    assert_eq!(
        labels.get(PLATFORM_LABEL).map(String::as_str),
        Some(arch.platform())
    );

    // Joining is idempotent; the route serves the container's page.
    gw.connect_network(&docker, &upstream_net).await.unwrap();
    gw.connect_network(&docker, &upstream_net)
        .await
        .expect("joining twice is fine");
    let route = Route {
        host: "web.coretest.localhost".into(),
        upstream: format!("{web}:8000"),
        preview: "web.coretest".into(),
        repo: "coretest".into(),
        branch: "main".into(),
        ..Route::default()
    };
    gw.put_route(&route).await.unwrap();
    assert_eq!(
        gw.routes().await.unwrap(),
        vec![route.clone()],
        "the route reads back as pushed"
    );
    assert_eq!(gw.health().await.unwrap().routes, 1);
    until_served(
        18080,
        "web.coretest.localhost",
        "hello-from-busybox",
        Duration::from_secs(10),
    )
    .await;
    let (status, page) = get(18080, "nowhere.localhost").await.unwrap();
    assert_eq!(status, 404, "an unknown host is not forwarded");
    assert!(
        page.contains("web.coretest.localhost"),
        "the 404 page lists the live route: {page}"
    );

    // A second ensure keeps the container; attach finds it without changes.
    let again = ensure(&docker, home.path(), &settings).await.unwrap();
    assert_eq!(again.http_port(), 18080);
    let kept = docker
        .inspect_container(&settings.container_name, None)
        .await
        .unwrap();
    assert_eq!(
        kept.id.as_deref(),
        Some(first_id.as_str()),
        "nothing changed, so nothing is recreated"
    );
    let attached: Option<Gateway> = attach(&docker, home.path(), &settings).await.unwrap();
    assert_eq!(attached.map(|g| g.admin_port()), Some(18019));
    let stranger = tempfile::tempdir().unwrap();
    assert!(
        attach(&docker, stranger.path(), &settings)
            .await
            .unwrap()
            .is_none(),
        "another home's token is not ours"
    );

    // Restarted, it serves the route again at once from its volume, no engine needed.
    docker
        .restart_container(
            &settings.container_name,
            Some(RestartContainerOptionsBuilder::default().t(1).build()),
        )
        .await
        .unwrap();
    let took = until_served(
        18080,
        "web.coretest.localhost",
        "hello-from-busybox",
        Duration::from_secs(2),
    )
    .await;
    eprintln!("served again {took:?} after docker restart");

    // Its port taken by someone else, the gateway is recreated on a fallback
    // port, rejoins the route network by its label, and still has the route.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let moved = GatewaySettings {
        http_port: taken,
        ..settings.clone()
    };
    let gw = ensure(&docker, home.path(), &moved).await.unwrap();
    let port = gw.fell_back().expect("a taken port falls back");
    assert_eq!(gw.http_port(), port);
    assert_ne!(port, taken);
    let recreated = docker
        .inspect_container(&settings.container_name, None)
        .await
        .unwrap();
    assert_ne!(
        recreated.id.as_deref(),
        Some(first_id.as_str()),
        "new ports mean a new container"
    );
    until_served(
        port,
        "web.coretest.localhost",
        "hello-from-busybox",
        Duration::from_secs(5),
    )
    .await;

    // Leaving is idempotent too; the route then fails as a 502 naming the preview.
    gw.disconnect_network(&docker, &upstream_net).await.unwrap();
    gw.disconnect_network(&docker, &upstream_net)
        .await
        .expect("leaving twice is fine");
    let (status, page) = get(port, "web.coretest.localhost").await.unwrap();
    assert_eq!(status, 502, "{page}");
    assert!(page.contains("web.coretest"), "{page}");
    gw.remove_route("web.coretest.localhost").await.unwrap();
    assert!(gw.routes().await.unwrap().is_empty());
}
