//! Building a service's image from its context directory, streaming output.

use std::collections::HashMap;
use std::path::Path;

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;

use super::DockerError;
use crate::compose::model::Build;

/// Lines of build output kept for the error message.
const TAIL: usize = 30;

/// Builds `build` as `tag`, calling `on_line` with each output line, and
/// returns the new image's id.
///
/// # Errors
/// [`DockerError::Build`] with the build's last lines.
pub async fn build_image(
    docker: &Docker,
    service: &str,
    build: &Build,
    tag: &str,
    labels: &HashMap<String, String>,
    on_line: &(dyn Fn(String) + Send + Sync),
) -> Result<String, DockerError> {
    let ctx = build.context.clone();
    let fail = |message: String, tail: &[String]| DockerError::Build {
        service: service.to_string(),
        message,
        log_tail: tail.join("\n"),
    };
    let tar = tokio::task::spawn_blocking(move || context_tar(&ctx))
        .await
        .map_err(|e| fail(e.to_string(), &[]))?
        .map_err(|e| {
            fail(
                format!(
                    "cannot read the build context {}: {e}",
                    build.context.display()
                ),
                &[],
            )
        })?;
    let args: HashMap<String, String> = build
        .args
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    let mut opts = BuildImageOptionsBuilder::default()
        .t(tag)
        .dockerfile(&build.dockerfile)
        .buildargs(&args)
        .labels(labels)
        .rm(true)
        .forcerm(true);
    if let Some(t) = &build.target {
        opts = opts.target(t);
    }
    let mut stream = docker.build_image(opts.build(), None, Some(bollard::body_full(tar.into())));
    let mut tail: Vec<String> = Vec::new();
    let mut id = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(i) = info.aux.and_then(|a| a.id) {
                    id = Some(i);
                }
                if let Some(text) = info.stream {
                    for line in text.lines().filter(|l| !l.trim().is_empty()) {
                        on_line(line.to_string());
                        tail.push(line.to_string());
                        if tail.len() > TAIL {
                            tail.remove(0);
                        }
                    }
                }
                if let Some(msg) = info.error_detail.and_then(|d| d.message) {
                    return Err(fail(msg, &tail));
                }
            }
            Err(e) => {
                return Err(fail(super::describe(&e), &tail));
            }
        }
    }
    match id {
        Some(id) => Ok(id),
        // Older engines do not send the id: ask for it.
        None => docker
            .inspect_image(tag)
            .await
            .ok()
            .and_then(|i| i.id)
            .ok_or_else(|| {
                fail(
                    format!("the build finished but image {tag} is not there"),
                    &tail,
                )
            }),
    }
}

/// A tar of the build context `dir`, leaving out `.git` and what its
/// `.dockerignore` names.
///
/// # Errors
/// When a file cannot be read.
pub fn context_tar(dir: &Path) -> std::io::Result<Vec<u8>> {
    let ignore = Ignore::load(dir);
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries = std::fs::read_dir(&d)?.collect::<Result<Vec<_>, _>>()?;
        // A stable order keeps the tar, and so the build cache, stable.
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let rel = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .to_string();
            if rel == ".git" || ignore.matches(&rel) {
                continue;
            }
            let ft = entry.file_type()?;
            if ft.is_dir() {
                b.append_dir(&rel, &path)?;
                stack.push(path);
            } else {
                b.append_path_with_name(&path, &rel)?;
            }
        }
    }
    b.into_inner()
}

/// `.dockerignore`: exact paths, folder prefixes, and `*` wildcards.
struct Ignore(Vec<String>);

impl Ignore {
    fn load(dir: &Path) -> Self {
        let text = std::fs::read_to_string(dir.join(".dockerignore")).unwrap_or_default();
        Ignore(
            text.lines()
                .map(|l| {
                    l.trim()
                        .trim_start_matches("./")
                        .trim_end_matches('/')
                        .to_string()
                })
                .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
                .collect(),
        )
    }

    fn matches(&self, rel: &str) -> bool {
        self.0.iter().any(|p| {
            rel == p
                || rel.starts_with(&format!("{p}/"))
                || glob(p, rel)
                || rel.rsplit('/').next().is_some_and(|name| glob(p, name))
        })
    }
}

/// A `*`-only glob match.
fn glob(pattern: &str, s: &str) -> bool {
    if !pattern.contains('*') {
        return false;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = s;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_patterns_match_paths_and_names() {
        let i = Ignore(vec!["target".into(), "*.log".into(), "docs/tmp".into()]);
        assert!(i.matches("target"));
        assert!(i.matches("target/debug/x"));
        assert!(i.matches("a.log"));
        assert!(i.matches("sub/b.log"));
        assert!(i.matches("docs/tmp/x"));
        assert!(!i.matches("src/main.rs"));
        assert!(!i.matches("docs/readme"));
    }

    #[test]
    fn the_context_tar_leaves_out_git_and_ignored_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
        std::fs::write(dir.path().join(".dockerignore"), "*.log\nsecret/\n").expect("write");
        std::fs::write(dir.path().join("app.log"), "x").expect("write");
        std::fs::create_dir_all(dir.path().join("secret")).expect("mkdir");
        std::fs::write(dir.path().join("secret/key"), "x").expect("write");
        std::fs::create_dir_all(dir.path().join(".git")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
        std::fs::write(dir.path().join("src/main.sh"), "echo").expect("write");
        let bytes = context_tar(dir.path()).expect("tar");
        let mut archive = tar::Archive::new(bytes.as_slice());
        let names: Vec<String> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string()
            })
            .collect();
        assert!(names.contains(&"Dockerfile".to_string()), "{names:?}");
        assert!(names.contains(&"src/main.sh".to_string()), "{names:?}");
        for gone in ["app.log", "secret", "secret/key", ".git"] {
            assert!(
                !names.contains(&gone.to_string()),
                "{gone} must be left out: {names:?}"
            );
        }
    }
}
