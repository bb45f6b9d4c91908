//! compose-go's include facts (`loader/include_test.go`, research §4 I1–I13),
//! ported to real files in temp dirs and loaded through [`super::super::load`].

use std::path::{Path, PathBuf};

use crate::compose::error::ComposeError;
use crate::compose::load::{load, LoadOptions};
use crate::compose::model::{Mount, Project};
use crate::error::Code;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
}

/// A temp root (canonical) holding the files; the project lives in `project`.
fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().canonicalize().unwrap();
    write(&root, files);
    (d, root)
}

fn opts(root: &Path, project: &str, files: &[&str]) -> LoadOptions {
    let dir = root.join(project);
    LoadOptions {
        project_name: "p".into(),
        working_dir: dir.clone(),
        files: files.iter().map(|f| dir.join(f)).collect(),
        env: Default::default(),
        env_file: None,
        profiles: Vec::new(),
        trusted: false,
        confine_to: root.to_path_buf(),
    }
}

fn load_at(root: &Path, project: &str, files: &[&str]) -> Result<Project, ComposeError> {
    load(&opts(root, project, files))
}

fn bind_source(p: &Project, service: &str) -> PathBuf {
    match &p.services[service].volumes[0] {
        Mount::Bind { source, .. } => source.clone(),
        other => panic!("not a bind: {other:?}"),
    }
}

#[test]
fn i1_a_short_include_resolves_paths_against_the_included_files_folder() {
    let (_d, root) = tree(&[
        (
            "compose.yaml",
            "include: [sub/included.yaml]\nservices:\n  web: {image: web}\n",
        ),
        (
            "sub/included.yaml",
            "services:\n  included:\n    build: .\n    volumes: ['./:/mnt']\n",
        ),
    ]);
    let p = load_at(&root, "", &["compose.yaml"]).unwrap();
    let inc = &p.services["included"];
    assert_eq!(inc.build.as_ref().unwrap().context, root.join("sub"));
    assert_eq!(bind_source(&p, "included"), root.join("sub"));
    assert_eq!(
        inc.source_file,
        root.join("sub/included.yaml"),
        "messages name the included file"
    );
    assert!(p.services.contains_key("web"));
}

#[test]
fn i2_project_directory_and_path_resolve_against_the_including_project() {
    let (_d, root) = tree(&[
        (
            "include/compose.yaml",
            "include:\n  - project_directory: ../subdir\n    path: ./dir/compose.yaml\n",
        ),
        (
            "include/dir/compose.yaml",
            "services:\n  imported:\n    build: {dockerfile_name: x}\n    volumes: [{type: bind, source: compose-test-extends-imported.yaml, target: /mnt}]\n    env_file: [extra.env]\n",
        ),
        ("subdir/extra.env", "FROM_EXTRA=1\n"),
        ("subdir/compose-test-extends-imported.yaml", ""),
    ]);
    // `dockerfile_name` is not a key: the build key set is not this test's concern.
    let text = std::fs::read_to_string(root.join("include/dir/compose.yaml")).unwrap();
    std::fs::write(
        root.join("include/dir/compose.yaml"),
        text.replace("{dockerfile_name: x}", "{dockerfile: Dockerfile}"),
    )
    .unwrap();
    let p = load_at(&root, "include", &["compose.yaml"]).unwrap();
    let s = &p.services["imported"];
    assert_eq!(s.build.as_ref().unwrap().context, root.join("subdir"));
    assert_eq!(
        bind_source(&p, "imported"),
        root.join("subdir/compose-test-extends-imported.yaml")
    );
    assert_eq!(s.env_files, vec![root.join("subdir/extra.env")]);
    assert_eq!(s.environment["FROM_EXTRA"].as_deref(), Some("1"));
}

fn i3_files(parent_env: &str) -> (tempfile::TempDir, PathBuf) {
    tree(&[
        (
            "compose.yaml",
            "include:\n  - path: ./subdir/imported.yaml\n    env_file: ./subdir/extra.env\n",
        ),
        (
            "subdir/imported.yaml",
            "services:\n  imported:\n    image: ${SOURCE:-imported}\n    env_file: [extra.env]\n",
        ),
        ("subdir/extra.env", "SOURCE=extends\n"),
        (".env", parent_env),
    ])
}

#[test]
fn i3_the_includes_env_file_interpolates_its_files() {
    let (_d, root) = i3_files("");
    let p = load_at(&root, "", &["compose.yaml"]).unwrap();
    let s = &p.services["imported"];
    assert_eq!(s.image.as_deref(), Some("extends"));
    assert_eq!(s.environment["SOURCE"].as_deref(), Some("extends"));
}

#[test]
fn i4_the_including_projects_variables_win_over_the_includes_env_file() {
    let (_d, root) = i3_files("SOURCE=override\n");
    let p = load_at(&root, "", &["compose.yaml"]).unwrap();
    assert_eq!(p.services["imported"].image.as_deref(), Some("override"));
}

#[test]
fn i5_an_includes_env_file_is_seen_by_its_services_only() {
    let (_d, root) = tree(&[
        (
            "compose.yaml",
            "include:\n  - path: [./module/compose.yml]\n    env_file: [./custom.env]\nservices:\n  a: {image: a, environment: [VAR_NAME]}\n",
        ),
        ("custom.env", "VAR_NAME=value\n"),
        (
            "module/compose.yml",
            "services:\n  b: {image: b, environment: [VAR_NAME]}\n  c: {image: c, environment: [VAR_NAME]}\n",
        ),
    ]);
    let p = load_at(&root, "", &["compose.yaml"]).unwrap();
    assert_eq!(p.services["a"].environment["VAR_NAME"], None);
    assert_eq!(
        p.services["b"].environment["VAR_NAME"].as_deref(),
        Some("value")
    );
    assert_eq!(
        p.services["c"].environment["VAR_NAME"].as_deref(),
        Some("value")
    );
}

#[test]
fn i6_a_missing_env_file_is_an_error_dev_null_is_skipped_and_dot_env_is_the_default() {
    let (_d, root) = tree(&[
        (
            "compose.yaml",
            "include:\n  - path: sub/c.yaml\n    env_file: missing.env\n",
        ),
        ("sub/c.yaml", "services:\n  s: {image: '${IMG:-none}'}\n"),
        ("sub/.env", "IMG=from-dot-env\n"),
    ]);
    let e = load_at(&root, "", &["compose.yaml"]).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ComposeError::Include { .. }), "{msg}");
    assert!(
        msg.contains("missing.env") && msg.contains("compose.yaml"),
        "{msg}"
    );
    write(
        &root,
        &[(
            "compose.yaml",
            "include:\n  - path: sub/c.yaml\n    env_file: /dev/null\n",
        )],
    );
    let p = load_at(&root, "", &["compose.yaml"]).unwrap();
    assert_eq!(
        p.services["s"].image.as_deref(),
        Some("none"),
        "/dev/null: no variables"
    );
    write(&root, &[("compose.yaml", "include: [sub/c.yaml]\n")]);
    let p = load_at(&root, "", &["compose.yaml"]).unwrap();
    assert_eq!(p.services["s"].image.as_deref(), Some("from-dot-env"));
}

#[test]
fn i7_an_include_cycle_is_an_error_naming_the_chain() {
    let (_d, root) = tree(&[
        (
            "compose.yaml",
            "include: [a.yaml]\nservices: {web: {image: x}}\n",
        ),
        ("a.yaml", "include: [b/b.yaml]\n"),
        ("b/b.yaml", "include: [../a.yaml]\n"),
    ]);
    let e = load_at(&root, "", &["compose.yaml"]).unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.code(), Code::Config);
    assert!(msg.contains("cycle"), "{msg}");
    let chain = format!(
        "{} → {} → {} → {}",
        root.join("compose.yaml").display(),
        root.join("a.yaml").display(),
        root.join("b/b.yaml").display(),
        root.join("a.yaml").display()
    );
    assert!(msg.contains(&chain), "the whole chain is named: {msg}");
    write(
        &root,
        &[(
            "self.yaml",
            "include: [self.yaml]\nservices: {x: {image: x}}\n",
        )],
    );
    let msg = load_at(&root, "", &["self.yaml"]).unwrap_err().to_string();
    assert!(msg.contains("cycle"), "a file including itself: {msg}");
}

#[test]
fn i8_the_same_file_included_twice_through_two_paths_loads_once() {
    let (_d, root) = tree(&[
        ("compose.yaml", "include: [x.yaml, y.yaml]\n"),
        ("x.yaml", "services:\n  imported: {image: nginx}\n"),
        (
            "y.yaml",
            "include: [x.yaml]\nservices:\n  other: {image: other}\n",
        ),
    ]);
    let p = load_at(&root, "", &["compose.yaml"]).unwrap();
    assert_eq!(p.services.len(), 2);
    assert_eq!(p.services["imported"].image.as_deref(), Some("nginx"));
}

#[test]
fn i9_a_later_compose_file_overrides_an_included_service() {
    let (_d, root) = tree(&[
        ("compose.yaml", "include: [imported.yaml]\n"),
        ("imported.yaml", "services:\n  imported: {image: nginx}\n"),
        (
            "override.yaml",
            "services:\n  imported: {image: overridden}\n",
        ),
    ]);
    let p = load_at(&root, "", &["compose.yaml", "override.yaml"]).unwrap();
    assert_eq!(p.services["imported"].image.as_deref(), Some("overridden"));
}

#[test]
fn i10_a_conflict_merges_the_including_definition_over_the_included_one() {
    let (_d, root) = tree(&[
        (
            "compose.yaml",
            "include: [bar.yaml]\nservices:\n  bar:\n    image: busybox\n    environment: !override [ZOT=QIX]\n",
        ),
        ("bar.yaml", "services:\n  bar:\n    image: bar\n    environment: [FOO=BAR]\n    init: true\n"),
    ]);
    let p = load_at(&root, "", &["compose.yaml"]).unwrap();
    let bar = &p.services["bar"];
    assert_eq!(bar.image.as_deref(), Some("busybox"));
    assert_eq!(
        bar.environment.iter().collect::<Vec<_>>(),
        vec![(&"ZOT".to_string(), &Some("QIX".to_string()))],
        "!override replaces the included environment"
    );
    assert_eq!(
        bar.init,
        Some(true),
        "what only the included file sets is kept"
    );
    assert_eq!(bar.source_file, root.join("compose.yaml"));
}

#[test]
fn i11_extends_file_in_an_included_file_resolves_against_its_project_directory() {
    let (_d, root) = tree(&[
        (
            "compose.yaml",
            "include:\n  - project_directory: .\n    path: dir/included.yaml\n",
        ),
        (
            "dir/included.yaml",
            "services:\n  inc:\n    extends: {file: dir/extended.yaml, service: extended}\n",
        ),
        (
            "dir/extended.yaml",
            "services:\n  extended: {image: alpine}\n",
        ),
    ]);
    let p = load_at(&root, "", &["compose.yaml"]).unwrap();
    assert_eq!(p.services["inc"].image.as_deref(), Some("alpine"));
}

#[test]
fn i12_without_project_directory_the_first_files_folder_is_the_base() {
    let (_d, root) = tree(&[
        ("compose.yaml", "include:\n  - path: [dir/included.yaml]\n"),
        (
            "dir/included.yaml",
            "services:\n  inc:\n    extends: {file: extended.yaml, service: extended}\n",
        ),
        (
            "dir/extended.yaml",
            "services:\n  extended: {image: alpine}\n",
        ),
    ]);
    let p = load_at(&root, "", &["compose.yaml"]).unwrap();
    assert_eq!(p.services["inc"].image.as_deref(), Some("alpine"));
}

#[test]
fn i13_an_included_name_and_extensions_are_not_imported() {
    let (_d, root) = tree(&[
        ("compose.yaml", "include: [other.yaml]\nservices:\n  web: {image: w}\n"),
        (
            "other.yaml",
            "name: other\nx-foo: {a: 1}\nservices:\n  db: {image: d}\nvolumes:\n  data: {}\nnetworks:\n  back: {}\nsecrets:\n  s: {file: ./s.txt}\n",
        ),
        ("s.txt", "secret"),
    ]);
    let p = load_at(&root, "", &["compose.yaml"]).unwrap();
    assert_eq!(p.name, "p");
    assert!(p.volumes.contains_key("data") && p.networks.contains_key("back"));
    assert_eq!(
        p.secrets["s"],
        crate::compose::model::FileObject::File(root.join("s.txt"))
    );
}

#[test]
fn an_include_out_of_the_worktree_is_refused_unless_trusted() {
    let (_d, root) = tree(&[
        (
            "wt/compose.yaml",
            "include: [../outside/c.yaml]\nservices: {web: {image: w}}\n",
        ),
        ("outside/c.yaml", "services:\n  x: {image: x}\n"),
    ]);
    let mut o = opts(&root, "wt", &["compose.yaml"]);
    o.confine_to = root.join("wt");
    let e = load(&o).unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.code(), Code::Unsafe, "{msg}");
    assert!(
        msg.contains("include")
            && msg.contains("outside the preview's worktree")
            && msg.contains("branchyard repo trust"),
        "{msg}"
    );
    o.trusted = true;
    assert!(load(&o).unwrap().services.contains_key("x"));
}

#[test]
fn a_symlink_or_env_file_out_of_the_worktree_is_refused() {
    let (_d, root) = tree(&[
        ("wt/compose.yaml", "include: [link/c.yaml]\n"),
        ("outside/c.yaml", "services:\n  x: {image: x}\n"),
        ("secret.env", "TOKEN=1\n"),
    ]);
    std::os::unix::fs::symlink(root.join("outside"), root.join("wt/link")).unwrap();
    let mut o = opts(&root, "wt", &["compose.yaml"]);
    o.confine_to = root.join("wt");
    let e = load(&o).unwrap_err();
    assert_eq!(e.code(), Code::Unsafe, "{e}");
    assert!(
        e.to_string()
            .contains(&root.join("outside/c.yaml").display().to_string()),
        "{e}"
    );
    write(
        &root,
        &[
            (
                "wt/compose.yaml",
                "include:\n  - path: c.yaml\n    env_file: ../secret.env\n",
            ),
            ("wt/c.yaml", "services:\n  x: {image: x}\n"),
        ],
    );
    let e = load(&o).unwrap_err();
    assert!(e.to_string().contains("env_file"), "{e}");
}

#[test]
fn a_missing_file_or_a_remote_include_is_a_clear_error() {
    let (_d, root) = tree(&[
        ("compose.yaml", "include: [a.yaml]\n"),
        (
            "a.yaml",
            "include: [nope.yaml]\nservices: {x: {image: x}}\n",
        ),
    ]);
    let msg = load_at(&root, "", &["compose.yaml"])
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with(&format!("{}: include: ", root.join("a.yaml").display()))
            && msg.contains("nope.yaml does not exist")
            && msg.contains(&format!(
                "{} → {} → {}",
                root.join("compose.yaml").display(),
                root.join("a.yaml").display(),
                root.join("nope.yaml").display()
            )),
        "{msg}"
    );
    write(
        &root,
        &[("compose.yaml", "include: ['oci://docker.io/x/y:latest']\n")],
    );
    let msg = load_at(&root, "", &["compose.yaml"])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("remote include"), "{msg}");
    write(
        &root,
        &[("compose.yaml", "include: [{path: a.yaml, file: x}]\n")],
    );
    let msg = load_at(&root, "", &["compose.yaml"])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("include[0].file"), "{msg}");
}

#[test]
fn the_including_file_may_extend_and_depend_on_included_services() {
    let (_d, root) = tree(&[
        (
            "compose.yaml",
            "include: [lib/db.yaml]\nservices:\n  web: {extends: db, image: web, depends_on: [db]}\n",
        ),
        ("lib/db.yaml", "services:\n  db: {image: postgres, volumes: ['./data:/d']}\n"),
    ]);
    let p = load_at(&root, "", &["compose.yaml"]).unwrap();
    assert_eq!(p.services["web"].image.as_deref(), Some("web"));
    assert_eq!(
        bind_source(&p, "web"),
        root.join("lib/data"),
        "the included service's paths were made absolute before it was extended"
    );
}
