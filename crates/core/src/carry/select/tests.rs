use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;
use crate::git::fixture::git;

/// A repo whose `.gitignore` keeps `.env`, `*.local.yml`, `secrets/` and
/// `node_modules/` out of git, with those files present in the main working
/// directory, `.env` private (0600).
pub(in crate::carry) struct Fixture {
    pub dir: tempfile::TempDir,
    pub main: PathBuf,
}

impl Fixture {
    pub fn new(committed: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main");
        std::fs::create_dir(&main).unwrap();
        git(&main, "init -q -b main");
        let mut files: Vec<(&str, &str)> = vec![
            (
                ".gitignore",
                ".env\n*.local.yml\nsecrets/\nnode_modules/\nlinked.txt\n",
            ),
            ("README.md", "readme\n"),
            ("config/app.yml", "app: 1\n"),
        ];
        files.extend_from_slice(committed);
        write(&main, &files);
        git(&main, "add -A");
        git(&main, "commit -q -m first");
        write(
            &main,
            &[
                (".env", "SECRET=main\n"),
                ("config/db.local.yml", "db: local\n"),
                ("secrets/key", "k\n"),
                ("node_modules/pkg/index.js", "x\n"),
                ("notes.txt", "untracked, not ignored\n"),
            ],
        );
        std::fs::set_permissions(main.join(".env"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        Fixture { dir, main }
    }

    pub fn head(&self) -> String {
        git(&self.main, "rev-parse HEAD")
    }

    pub fn input(&self, trusted: bool) -> Input {
        Input {
            repo: self.main.clone(),
            sha: self.head(),
            trusted,
            manifest: self.dir.path().join("state/carried.json"),
        }
    }

    pub fn plan(&self, trusted: bool) -> Result<Plan, CarryError> {
        plan(&self.input(trusted))
    }
}

pub(in crate::carry) fn write(dir: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
}

fn paths(plan: &Plan) -> Vec<(&str, CarryMode)> {
    plan.items
        .iter()
        .map(|i| (i.rel.as_str(), i.mode))
        .collect()
}

#[test]
fn a_committed_worktreeinclude_selects_only_what_git_ignores() {
    let f = Fixture::new(&[(".worktreeinclude", ".env\n*.md\n*.local.yml\nnotes.txt\n")]);
    let plan = f.plan(false).unwrap();
    assert_eq!(
        paths(&plan),
        vec![
            (".env", CarryMode::Copy),
            ("config/db.local.yml", CarryMode::Copy)
        ],
        "README.md is tracked and notes.txt is not ignored: neither is carried"
    );
    assert_eq!(
        plan.items[0].source,
        f.main.canonicalize().unwrap().join(".env")
    );
    assert!(plan.items[0]
        .origin
        .contains(".worktreeinclude line 1: .env"));
}

#[test]
fn the_main_checkouts_own_worktreeinclude_counts_even_uncommitted() {
    let f = Fixture::new(&[]);
    assert!(
        f.plan(false).unwrap().items.is_empty(),
        "no patterns, nothing carried"
    );
    write(&f.main, &[(".worktreeinclude", "/secrets/\n")]);
    let plan = f.plan(false).unwrap();
    assert_eq!(paths(&plan), vec![("secrets/key", CarryMode::Copy)]);
}

#[test]
fn a_walk_never_enters_git_data_or_nested_repositories() {
    let f = Fixture::new(&[(".worktreeinclude", "*\n")]);
    std::fs::create_dir_all(f.main.join("vendor/other")).unwrap();
    git(&f.main.join("vendor/other"), "init -q");
    write(&f.main, &[("vendor/other/.env", "NESTED=1\n")]);
    std::fs::write(
        f.main.join(".gitignore"),
        ".env\n*.local.yml\nsecrets/\nnode_modules/\nvendor/\n",
    )
    .unwrap();
    let plan = f.plan(false).unwrap();
    let got: Vec<&str> = plan.items.iter().map(|i| i.rel.as_str()).collect();
    assert!(
        got.iter()
            .all(|p| !p.starts_with(".git") && !p.starts_with("vendor/")),
        "{got:?}"
    );
    assert!(
        got.contains(&".env") && got.contains(&"node_modules/pkg/index.js"),
        "{got:?}"
    );
}

#[test]
fn patterns_naming_git_data_or_climbing_out_are_refused() {
    for (line, needle) in [
        (".git/config", ".git"),
        ("/.git/", ".git"),
        ("../outside/.env", ".."),
    ] {
        let f = Fixture::new(&[(".worktreeinclude", &format!("# ok\n{line}\n"))]);
        let e = f.plan(false).unwrap_err();
        assert_eq!(e.code(), crate::error::Code::Config);
        let msg = e.to_string();
        assert!(
            msg.contains(".worktreeinclude")
                && msg.contains("line 2")
                && msg.contains(needle)
                && msg.contains(super::super::GUIDE),
            "{line}: {msg}"
        );
    }
    let f = Fixture::new(&[(".worktreeinclude", "!.git\n.*\n")]);
    assert!(
        f.plan(false).is_ok(),
        "a negation or a glob names nothing dangerous"
    );
}

#[test]
fn files_entries_must_be_relative_ignored_files() {
    for (toml, needle) in [
        ("[files]\ncopy = [\"/etc/passwd\"]\n", "absolute"),
        ("[files]\ncopy = [\"~/.ssh/id_rsa\"]\n", "absolute"),
        ("[files]\ncopy = [\"../x\"]\n", ".."),
        ("[files]\nlink = [\".git/config\"]\n", ".git"),
        ("[files]\ncopy = [\"!x\"]\n", "negation"),
        ("[files]\ncopy = [\"notes.txt\"]\n", "does not ignore"),
        ("[files]\ncopy = [\"README.md\"]\n", "does not ignore"),
        ("[files]\ncpy = []\n", "cpy"),
    ] {
        let f = Fixture::new(&[("branchyard.toml", toml)]);
        let msg = f.plan(true).unwrap_err().to_string();
        assert!(
            msg.contains("branchyard.toml") && msg.contains(needle),
            "{toml}: {msg}"
        );
    }
}

#[test]
fn a_file_the_branch_tracks_is_never_carried_over() {
    let f = Fixture::new(&[(".worktreeinclude", ".env\n")]);
    git(&f.main, "checkout -q -b feature");
    write(&f.main, &[(".env", "COMMITTED=1\n")]);
    git(&f.main, "add -f .env");
    git(&f.main, "commit -q -m 'track .env'");
    let sha = f.head();
    git(&f.main, "checkout -q main");
    write(&f.main, &[(".env", "SECRET=main\n")]);
    let e = plan(&Input {
        sha,
        ..f.input(false)
    })
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, CarryError::Tracked { .. }), "{msg}");
    assert!(
        msg.contains("branch tracks") && msg.contains("`!/.env`"),
        "{msg}"
    );
}

#[test]
fn a_symlink_out_of_the_main_checkout_is_refused_unless_trusted() {
    let f = Fixture::new(&[(".worktreeinclude", ".env\n")]);
    let outside = f.dir.path().join("outside-secret");
    std::fs::write(&outside, "TOKEN=x\n").unwrap();
    std::fs::remove_file(f.main.join(".env")).unwrap();
    std::os::unix::fs::symlink(&outside, f.main.join(".env")).unwrap();
    let e = f.plan(false).unwrap_err();
    assert_eq!(e.code(), crate::error::Code::Unsafe);
    assert!(
        e.to_string()
            .contains("outside the repo's main working directory"),
        "{e}"
    );
    let plan = f.plan(true).unwrap();
    assert_eq!(
        plan.items[0].source,
        outside.canonicalize().unwrap(),
        "trusted: the user's own link is followed"
    );
}

#[test]
fn links_are_links_when_trusted_and_copies_otherwise() {
    let f = Fixture::new(&[(
        "branchyard.toml",
        "[files]\nlink = [\"node_modules\", \"config/*.local.yml\"]\ncopy = [\".env\", \"missing.txt\"]\n",
    )]);
    let plan = f.plan(true).unwrap();
    assert_eq!(
        paths(&plan),
        vec![
            (".env", CarryMode::Copy),
            ("config/db.local.yml", CarryMode::Link),
            ("node_modules", CarryMode::Link)
        ],
        "a linked directory is one link"
    );
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("missing.txt") && w.contains("selects no")),
        "{:?}",
        plan.warnings
    );
    let plan = f.plan(false).unwrap();
    assert!(plan.items.iter().all(|i| i.mode == CarryMode::Copy));
    assert!(
        plan.items
            .iter()
            .any(|i| i.rel == "node_modules/pkg/index.js"),
        "a linked directory is copied file by file"
    );
    assert!(
        plan.warnings.iter().any(|w| w.contains("untrusted")),
        "{:?}",
        plan.warnings
    );
}
