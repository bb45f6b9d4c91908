//! The image each service runs: built from its `build:` section (all builds in
//! parallel, output streamed), or looked up locally and pulled when absent.

use std::collections::HashMap;
use std::time::Instant;

use bollard::query_parameters::CreateImageOptionsBuilder;
use bollard::Docker;
use futures_util::future::try_join_all;
use futures_util::StreamExt;

use super::spec::image_of;
use super::{AppliedLog, OnProgress, Progress, UpOptions};
use crate::compose::model::Project;
use crate::docker::labels::{PROJECT, SERVICE};
use crate::docker::{build_image, describe, DockerError, PreviewLabels};
use crate::events::Step;

/// An image a service runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ServiceImage {
    /// The reference containers are created from.
    pub reference: String,
    /// Its id (`sha256:…`), part of the config hash.
    pub id: String,
}

/// Builds or finds every service's image.
///
/// # Errors
/// [`DockerError::Build`] for the first build that fails (the others are
/// dropped, which cancels them), [`DockerError::ImageMissing`].
pub(super) async fn prepare(
    docker: &Docker,
    p: &Project,
    labels: &PreviewLabels,
    opts: &UpOptions,
    progress: OnProgress<'_>,
) -> Result<HashMap<String, ServiceImage>, DockerError> {
    let log: &AppliedLog = &opts.record;
    let builds = if opts.skip_build {
        0
    } else {
        p.services.values().filter(|s| s.build.is_some()).count()
    };
    if builds > 0 {
        progress(Progress::StepStarted(Step::Build));
    }
    let t = Instant::now();
    // Services sharing an image look it up once.
    let mut lookups: HashMap<String, Vec<&str>> = HashMap::new();
    let mut to_build = Vec::new();
    for (name, svc) in &p.services {
        let reference = image_of(p, name, svc);
        match &svc.build {
            Some(b) if !opts.skip_build => to_build.push((name.as_str(), b, reference)),
            _ => lookups.entry(reference).or_default().push(name),
        }
    }
    let built = try_join_all(
        to_build
            .into_iter()
            .map(|(name, build, reference)| async move {
                let mut image_labels: HashMap<String, String> = labels
                    .extra
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                image_labels.insert(PROJECT.into(), p.name.clone());
                image_labels.insert(SERVICE.into(), name.into());
                let on_line = |line: String| {
                    progress(Progress::Line {
                        service: name.into(),
                        line,
                    })
                };
                let id =
                    build_image(docker, name, build, &reference, &image_labels, &on_line).await?;
                log.update(|a| a.images.push(reference.clone()));
                Ok::<_, DockerError>((name.to_string(), ServiceImage { reference, id }))
            }),
    );
    let found = try_join_all(lookups.into_iter().map(|(reference, services)| async move {
        let first = services.first().copied().unwrap_or_default();
        let on_line = |line: String| {
            progress(Progress::Line {
                service: first.into(),
                line,
            })
        };
        let id = find_or_pull(docker, first, &reference, &on_line).await?;
        Ok::<_, DockerError>(services.into_iter().map(move |s| {
            (
                s.to_string(),
                ServiceImage {
                    reference: reference.clone(),
                    id: id.clone(),
                },
            )
        }))
    }));
    let (built, found) = tokio::try_join!(built, found)?;
    if builds > 0 {
        progress(Progress::StepDone(
            Step::Build,
            format!("{builds} images in {:.1} s", t.elapsed().as_secs_f64()),
        ));
    }
    Ok(built
        .into_iter()
        .chain(found.into_iter().flatten())
        .collect())
}

/// The id of `image`, pulling it when absent (offline this fails clearly).
async fn find_or_pull(
    docker: &Docker,
    service: &str,
    image: &str,
    on_line: &(dyn Fn(String) + Send + Sync),
) -> Result<String, DockerError> {
    if let Ok(i) = docker.inspect_image(image).await {
        return Ok(i.id.unwrap_or_default());
    }
    let missing = |message: String| DockerError::ImageMissing {
        service: service.into(),
        image: image.into(),
        message,
    };
    let opts = CreateImageOptionsBuilder::default()
        .from_image(image)
        .build();
    let mut pull = docker.create_image(Some(opts), None, None);
    while let Some(item) = pull.next().await {
        let info = item.map_err(|e| missing(describe(&e)))?;
        if let Some(message) = info.error_detail.and_then(|d| d.message) {
            return Err(missing(message));
        }
        if let Some(s) = info.status {
            on_line(format!("pull {image}: {s}"));
        }
    }
    docker
        .inspect_image(image)
        .await
        .map(|i| i.id.unwrap_or_default())
        .map_err(|e| missing(describe(&e)))
}
