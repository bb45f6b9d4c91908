//! The gateway image on the real engine, for a CPU other than the engine's:
//! Docker builds a `FROM scratch` image for any platform without running it,
//! so the aarch64 image is checked here on an x86_64 engine (and vice versa).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bollard::query_parameters::RemoveImageOptionsBuilder;
use bollard::Docker;

use super::super::static_binary_tests::built;
use super::super::{Arch, GatewaySettings, Lookup};
use super::{engine_arch, ensure_image_of, PLATFORM_LABEL, SHA_LABEL};

#[tokio::test]
async fn an_image_for_the_other_cpu_is_built_for_its_platform_and_reused_while_its_binary_is_the_same(
) {
    let docker = Docker::connect_with_local_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .expect("Docker must run for this test");
    let other = match engine_arch(&docker).await.unwrap() {
        Arch::X86_64 => Arch::Aarch64,
        Arch::Aarch64 => Arch::X86_64,
    };
    if built(other).is_none() {
        return;
    }
    let binary = Lookup::from_process().load(other).unwrap();
    let id = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    let settings = GatewaySettings {
        container_name: format!("branchyard-gateway-archtest-{id}"),
        labels: [("dev.branchyard.test".to_string(), "1".to_string())].into(),
        ..GatewaySettings::default()
    };
    let (d, s) = (docker.clone(), settings.clone());
    let outcome = async move {
        let (docker, settings) = (d, s);
        let tag = ensure_image_of(&docker, &settings, &binary).await.unwrap();
        let img = docker.inspect_image(&tag).await.unwrap();
        let labels = img
            .config
            .clone()
            .and_then(|c| c.labels)
            .unwrap_or_default();
        assert_eq!(
            (img.os.as_deref(), img.architecture.as_deref()),
            (Some("linux"), other.platform().strip_prefix("linux/")),
            "the image's own platform is the binary's"
        );
        assert_eq!(
            labels.get(PLATFORM_LABEL).map(String::as_str),
            Some(other.platform())
        );
        assert_eq!(labels.get(SHA_LABEL), Some(&binary.sha));
        let again = ensure_image_of(&docker, &settings, &binary).await.unwrap();
        let img2 = docker.inspect_image(&again).await.unwrap();
        assert_eq!(
            img.id, img2.id,
            "the same binary does not rebuild the image"
        );
    };
    let result = tokio::spawn(outcome).await;
    let rm = RemoveImageOptionsBuilder::default().force(true).build();
    let _ = docker.remove_image(&settings.image(), Some(rm), None).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
