//! The gateway image: `FROM scratch` around the static binary for the
//! engine's architecture, rebuilt only when the binary changed (its sha256
//! and platform are labels on the image).

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;

use super::binary::{Arch, GatewayBinary, Lookup};
use super::{GatewayError, GatewaySettings};

/// Label holding the sha256 of the binary an image was built from.
const SHA_LABEL: &str = "dev.branchyard.gateway-binary-sha256";
/// Label holding the platform the image was built for (`linux/arm64`).
pub(super) const PLATFORM_LABEL: &str = "dev.branchyard.gateway-platform";

/// The CPU architecture of the engine `docker` talks to.
///
/// # Errors
/// Docker unreachable, or an engine the gateway cannot run on.
pub(super) async fn engine_arch(docker: &Docker) -> Result<Arch, GatewayError> {
    let info = docker.info().await.map_err(|e| GatewayError::Docker {
        action: "reading the engine's architecture (docker info)".into(),
        message: e.to_string(),
    })?;
    Arch::for_engine(info.os_type.as_deref(), info.architecture.as_deref())
}

/// Builds the gateway image for the engine's architecture unless an image
/// of that tag already carries the binary's sha; its tag.
///
/// # Errors
/// An unsupported engine, a missing binary or a failed build.
pub(super) async fn ensure_image(
    docker: &Docker,
    settings: &GatewaySettings,
) -> Result<String, GatewayError> {
    let arch = engine_arch(docker).await?;
    let binary = Lookup::from_process().load(arch)?;
    ensure_image_of(docker, settings, &binary).await
}

/// Builds the gateway image around `binary`, for its platform, unless the
/// image of that tag is already that.
pub(super) async fn ensure_image_of(
    docker: &Docker,
    settings: &GatewaySettings,
    binary: &GatewayBinary,
) -> Result<String, GatewayError> {
    let tag = settings.image();
    let platform = binary.arch.platform();
    if let Ok(img) = docker.inspect_image(&tag).await {
        let labels = img.config.and_then(|c| c.labels).unwrap_or_default();
        if labels.get(SHA_LABEL) == Some(&binary.sha)
            && labels.get(PLATFORM_LABEL).map(String::as_str) == Some(platform)
        {
            return Ok(tag);
        }
    }
    tracing::info!(%tag, %platform, binary = %binary.place, "building the gateway image");
    let mut labels: Vec<(String, String)> = settings.object_labels().into_iter().collect();
    labels.push((SHA_LABEL.to_string(), binary.sha.clone()));
    labels.push((PLATFORM_LABEL.to_string(), platform.to_string()));
    labels.sort();
    let dockerfile = dockerfile(&labels);
    let tar = context_tar(&dockerfile, &binary.bytes).map_err(|e| GatewayError::Io {
        path: binary.place.path.display().to_string(),
        message: e.to_string(),
    })?;
    // The platform makes the image's OS/architecture say what the binary is,
    // whatever the engine would assume for `FROM scratch`.
    let opts = BuildImageOptionsBuilder::default()
        .t(&tag)
        .platform(platform)
        .rm(true)
        .forcerm(true)
        .build();
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(tar.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| GatewayError::Docker {
            action: "building the gateway image".into(),
            message: e.to_string(),
        })?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(GatewayError::Docker {
                action: "building the gateway image".into(),
                message: err,
            });
        }
    }
    Ok(tag)
}

/// The Dockerfile: the static binary alone, its labels quoted as JSON strings.
fn dockerfile(labels: &[(String, String)]) -> String {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
        .collect();
    format!(
        "FROM scratch\nCOPY branchyard-gateway /branchyard-gateway\nEXPOSE 80 2019\nLABEL {}\nENTRYPOINT [\"/branchyard-gateway\"]\n",
        labels.join(" ")
    )
}

fn context_tar(dockerfile: &str, binary: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        b.append_data(&mut h, name, data)
    };
    add("Dockerfile", dockerfile.as_bytes(), 0o644)?;
    add("branchyard-gateway", binary, 0o755)?;
    b.into_inner()
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;
