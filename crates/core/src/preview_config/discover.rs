//! Finding what to run without `branchyard.toml`: compose's own file names
//! (and the matching override), else a lone `Dockerfile` turned into a
//! one-service project routed on its first `EXPOSE`.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::file::FILE_NAME;
use crate::compose::model::{Build, Project, Service};
use crate::compose::ComposeError;

/// Compose file names, in compose's order of preference.
pub const COMPOSE_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// The first compose file by compose's names, plus its override
/// (`compose.override.y[a]ml` or `docker-compose.override.y[a]ml`); empty when none.
pub fn discover(dir: &Path) -> Vec<PathBuf> {
    let Some(main) = COMPOSE_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
    else {
        return Vec::new();
    };
    let stem = if main
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("docker-"))
    {
        "docker-compose"
    } else {
        "compose"
    };
    let mut files = vec![main];
    if let Some(o) = ["yaml", "yml"]
        .iter()
        .map(|ext| dir.join(format!("{stem}.override.{ext}")))
        .find(|p| p.is_file())
    {
        files.push(o);
    }
    files
}

/// Every file name looked for, for the "nothing to run" message.
pub fn looked_for() -> String {
    let mut names: Vec<&str> = COMPOSE_FILES.to_vec();
    names.extend(["Dockerfile", FILE_NAME]);
    names.join(", ")
}

/// The first port of the first `EXPOSE` line (`80`, `80/tcp`, `${PORT:-8080}`).
fn exposed_port(dockerfile: &str) -> Option<u16> {
    dockerfile.lines().map(str::trim).find_map(|line| {
        let (instruction, rest) = line.split_once(char::is_whitespace)?;
        if !instruction.eq_ignore_ascii_case("EXPOSE") {
            return None;
        }
        rest.split_whitespace().find_map(|token| {
            // A variable with a default: take the default.
            let token = match token.split_once(":-") {
                Some((_, default)) => default.trim_end_matches('}'),
                None => token,
            };
            token
                .split('/')
                .next()?
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
        })
    })
}

/// No compose file: a lone Dockerfile becomes service `app`, built from the
/// worktree and exposing the Dockerfile's first `EXPOSE` port.
///
/// # Errors
/// [`ComposeError::NothingToRun`] without a Dockerfile; [`ComposeError::Invalid`] without `EXPOSE`.
pub fn dockerfile_project(dir: &Path, project_name: &str) -> Result<Project, ComposeError> {
    let df = dir.join("Dockerfile");
    if !df.is_file() {
        return Err(ComposeError::NothingToRun {
            dir: dir.display().to_string(),
            looked_for: looked_for(),
        });
    }
    let text = std::fs::read_to_string(&df).map_err(|e| ComposeError::Io {
        file: df.display().to_string(),
        message: e.to_string(),
    })?;
    let port = exposed_port(&text).ok_or_else(|| ComposeError::Invalid {
        file: df.display().to_string(),
        where_: "Dockerfile".into(),
        key: "EXPOSE".into(),
        message: format!("no EXPOSE line, so Branchyard does not know which port to route: add one (e.g. `EXPOSE 8080`), or a {FILE_NAME} with a [[route]] and a compose file"),
    })?;
    let svc = Service {
        source_file: df.clone(),
        build: Some(Build {
            context: crate::compose::load::paths::canonical(dir),
            dockerfile: "Dockerfile".into(),
            ..Build::default()
        }),
        expose: vec![port],
        // A lone binary as PID 1 often ignores SIGTERM; docker-init makes stop quick.
        init: Some(true),
        networks: [("default".to_string(), Default::default())]
            .into_iter()
            .collect(),
        ..Service::default()
    };
    Ok(Project {
        name: project_name.to_string(),
        working_dir: dir.to_path_buf(),
        config_files: vec![df],
        services: [("app".to_string(), svc)].into_iter().collect(),
        networks: [("default".to_string(), Default::default())]
            .into_iter()
            .collect(),
        volumes: IndexMap::new(),
        secrets: IndexMap::new(),
        configs: IndexMap::new(),
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[&str]) {
        for f in files {
            std::fs::write(dir.join(f), "services: {}\n").unwrap();
        }
    }

    fn names(files: &[PathBuf]) -> Vec<String> {
        files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect()
    }

    #[test]
    fn compose_names_are_tried_in_compose_order_with_the_matching_override() {
        let d = tempfile::tempdir().unwrap();
        assert!(discover(d.path()).is_empty());
        write(
            d.path(),
            &["docker-compose.yml", "docker-compose.override.yml"],
        );
        assert_eq!(
            names(&discover(d.path())),
            vec!["docker-compose.yml", "docker-compose.override.yml"]
        );
        write(d.path(), &["docker-compose.yaml"]);
        assert_eq!(
            names(&discover(d.path())),
            vec!["docker-compose.yaml", "docker-compose.override.yml"]
        );
        write(d.path(), &["compose.yml"]);
        assert_eq!(
            names(&discover(d.path())),
            vec!["compose.yml"],
            "the override must match the main file's family"
        );
        write(
            d.path(),
            &[
                "compose.yaml",
                "compose.override.yml",
                "compose.override.yaml",
            ],
        );
        assert_eq!(
            names(&discover(d.path())),
            vec!["compose.yaml", "compose.override.yaml"]
        );
    }

    #[test]
    fn the_first_expose_port_is_found_in_any_spelling() {
        assert_eq!(
            exposed_port("FROM scratch\nEXPOSE 3000/tcp 4000\n"),
            Some(3000)
        );
        assert_eq!(
            exposed_port("from x\nexpose 8080\nEXPOSE 9000\n"),
            Some(8080)
        );
        assert_eq!(exposed_port("ARG PORT\nEXPOSE ${PORT:-5000}\n"), Some(5000));
        assert_eq!(exposed_port("EXPOSE $PORT\nEXPOSE 81\n"), Some(81));
        assert_eq!(exposed_port("# EXPOSE 80\nFROM x\n"), None);
    }

    #[test]
    fn a_lone_dockerfile_becomes_one_service_built_from_the_worktree() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Dockerfile"), "FROM scratch\nEXPOSE 3000\n").unwrap();
        let p = dockerfile_project(d.path(), "shop--x").unwrap();
        let app = &p.services["app"];
        assert_eq!(
            app.build.as_ref().unwrap().context,
            d.path().canonicalize().unwrap()
        );
        assert_eq!(app.routable_ports(), vec![3000]);
        assert!(app.networks.contains_key("default") && p.networks.contains_key("default"));
        std::fs::write(d.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        let e = dockerfile_project(d.path(), "p").unwrap_err().to_string();
        assert!(e.contains("EXPOSE") && e.contains("branchyard.toml"), "{e}");
    }
}
