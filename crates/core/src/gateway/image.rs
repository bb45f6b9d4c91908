//! The gateway image: `FROM scratch` around the static binary, rebuilt only
//! when the binary changed (its sha256 is a label on the image).

use std::path::{Path, PathBuf};

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{GatewayError, GatewaySettings};

/// Label holding the sha256 of the binary an image was built from.
const SHA_LABEL: &str = "dev.branchyard.gateway-binary-sha256";

/// The static gateway binary: `$BRANCHYARD_GATEWAY_BIN`, else beside the
/// running executable, else the workspace's musl build (profile `gateway`).
pub fn binary_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BRANCHYARD_GATEWAY_BIN") {
        return PathBuf::from(p);
    }
    if let Some(beside) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("branchyard-gateway-static")))
        .filter(|p| p.exists())
    {
        return beside;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/x86_64-unknown-linux-musl/gateway/branchyard-gateway")
}

/// Builds the gateway image from the binary unless an image of that tag
/// already carries the binary's sha; its tag.
///
/// # Errors
/// Missing binary or a failed build.
pub(super) async fn ensure_image(
    docker: &Docker,
    settings: &GatewaySettings,
) -> Result<String, GatewayError> {
    let tag = settings.image();
    let path = binary_path();
    let binary =
        std::fs::read(&path).map_err(|_| GatewayError::BinaryMissing { path: path.clone() })?;
    let sha = hex::encode(Sha256::digest(&binary));
    if let Ok(img) = docker.inspect_image(&tag).await {
        let labels = img.config.and_then(|c| c.labels).unwrap_or_default();
        if labels.get(SHA_LABEL) == Some(&sha) {
            return Ok(tag);
        }
    }
    tracing::info!(%tag, binary = %path.display(), "building the gateway image");
    let mut labels: Vec<(String, String)> = settings.object_labels().into_iter().collect();
    labels.push((SHA_LABEL.to_string(), sha));
    labels.sort();
    let dockerfile = dockerfile(&labels);
    let tar = context_tar(&dockerfile, &binary).map_err(|e| GatewayError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let opts = BuildImageOptionsBuilder::default()
        .t(&tag)
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
