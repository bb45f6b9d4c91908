use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::carry::select::tests::{write, Fixture};
use crate::carry::{carried, carried_paths, links, plan, Input};

/// The fixture with a worktree directory to carry into.
fn setup(committed: &[(&str, &str)]) -> (Fixture, PathBuf) {
    let f = Fixture::new(committed);
    let wt = f.dir.path().join("wt");
    std::fs::create_dir(&wt).unwrap();
    (f, wt)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn a_copy_keeps_its_mode_and_is_recorded() {
    let (f, wt) = setup(&[(".worktreeinclude", ".env\n*.local.yml\n")]);
    let report = apply(&f.plan(false).unwrap(), &wt).unwrap();
    assert_eq!(report.written, 2);
    assert_eq!(read(&wt.join(".env")), "SECRET=main\n");
    let mode = std::fs::metadata(wt.join(".env"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "a secret stays private");
    assert_eq!(read(&wt.join("config/db.local.yml")), "db: local\n");
    let manifest = f.input(false).manifest;
    let listed = carried(&manifest);
    assert_eq!(
        listed.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
        vec![".env", "config/db.local.yml"]
    );
    assert!(listed.iter().all(|c| c.mode == CarryMode::Copy && !c.kept));
    assert_eq!(report.summary(), "2 carried files, 2 written");
    let again = apply(&f.plan(false).unwrap(), &wt).unwrap();
    assert_eq!(again.written, 0, "nothing changed, nothing written");
}

#[test]
fn a_changed_source_is_refreshed_and_a_changed_copy_is_kept() {
    let (f, wt) = setup(&[(".worktreeinclude", ".env\n*.local.yml\n")]);
    apply(&f.plan(false).unwrap(), &wt).unwrap();
    std::fs::write(f.main.join(".env"), "SECRET=rotated\n").unwrap();
    std::fs::write(wt.join("config/db.local.yml"), "db: my edit\n").unwrap();
    std::fs::write(f.main.join("config/db.local.yml"), "db: new main\n").unwrap();
    let report = apply(&f.plan(false).unwrap(), &wt).unwrap();
    assert_eq!(
        read(&wt.join(".env")),
        "SECRET=rotated\n",
        "refreshed from the main checkout"
    );
    assert_eq!(
        read(&wt.join("config/db.local.yml")),
        "db: my edit\n",
        "the worktree's edit is never overwritten"
    );
    assert_eq!(report.kept, vec!["config/db.local.yml".to_string()]);
    let listed = carried(&f.input(false).manifest);
    assert!(listed
        .iter()
        .any(|c| c.path == "config/db.local.yml" && c.kept));
    assert!(listed.iter().any(|c| c.path == ".env" && !c.kept));
    let still = apply(&f.plan(false).unwrap(), &wt).unwrap();
    assert_eq!(
        still.kept,
        vec!["config/db.local.yml".to_string()],
        "kept stays kept"
    );
}

#[test]
fn a_file_already_there_is_adopted_only_when_identical() {
    let (f, wt) = setup(&[(".worktreeinclude", ".env\n*.local.yml\n")]);
    write(
        &wt,
        &[
            (".env", "SECRET=main\n"),
            ("config/db.local.yml", "db: mine\n"),
        ],
    );
    let report = apply(&f.plan(false).unwrap(), &wt).unwrap();
    assert_eq!(report.kept, vec!["config/db.local.yml".to_string()]);
    assert_eq!(read(&wt.join("config/db.local.yml")), "db: mine\n");
    std::fs::write(f.main.join(".env"), "SECRET=rotated\n").unwrap();
    apply(&f.plan(false).unwrap(), &wt).unwrap();
    assert_eq!(
        read(&wt.join(".env")),
        "SECRET=rotated\n",
        "adopted, so refreshed"
    );
}

#[test]
fn a_link_points_at_the_main_checkouts_file() {
    let (f, wt) = setup(&[(
        "branchyard.toml",
        "[files]\nlink = [\".env\", \"node_modules\"]\n",
    )]);
    apply(&f.plan(true).unwrap(), &wt).unwrap();
    let main = f.main.canonicalize().unwrap();
    assert_eq!(
        std::fs::read_link(wt.join(".env")).unwrap(),
        main.join(".env")
    );
    assert_eq!(
        std::fs::read_link(wt.join("node_modules")).unwrap(),
        main.join("node_modules")
    );
    std::fs::write(f.main.join(".env"), "SECRET=live\n").unwrap();
    assert_eq!(
        read(&wt.join(".env")),
        "SECRET=live\n",
        "a link never goes stale"
    );
    let targets = links(&f.input(true).manifest);
    assert!(
        targets.contains(&(PathBuf::from(".env"), main.join(".env"))),
        "{targets:?}"
    );
    // Untrusted: the same entries become copies, replacing the links Branchyard made.
    apply(&f.plan(false).unwrap(), &wt).unwrap();
    assert!(std::fs::symlink_metadata(wt.join(".env"))
        .unwrap()
        .is_file());
    assert_eq!(read(&wt.join("node_modules/pkg/index.js")), "x\n");
}

#[test]
fn a_symlinked_directory_in_the_worktree_is_never_written_through() {
    let (f, wt) = setup(&[(".worktreeinclude", "*.local.yml\n")]);
    let elsewhere = f.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, wt.join("config")).unwrap();
    let e = apply(&f.plan(false).unwrap(), &wt).unwrap_err();
    assert_eq!(e.code(), crate::error::Code::Unsafe);
    assert!(e.to_string().contains("never writes through"), "{e}");
    assert!(
        std::fs::read_dir(&elsewhere).unwrap().next().is_none(),
        "nothing was written where the link leads"
    );
}

#[test]
fn a_carried_file_nothing_selects_any_more_goes_when_unchanged() {
    let (f, wt) = setup(&[]);
    write(&f.main, &[(".worktreeinclude", ".env\n*.local.yml\n")]);
    apply(&f.plan(false).unwrap(), &wt).unwrap();
    std::fs::write(wt.join("config/db.local.yml"), "db: edited\n").unwrap();
    write(&f.main, &[(".worktreeinclude", "# nothing\n")]);
    let report = apply(&f.plan(false).unwrap(), &wt).unwrap();
    assert_eq!(report.removed, 1);
    assert!(
        !wt.join(".env").exists(),
        "Branchyard's own copy is removed"
    );
    assert_eq!(
        read(&wt.join("config/db.local.yml")),
        "db: edited\n",
        "an edited one is left"
    );
    assert!(carried_paths(&f.input(false).manifest).is_empty());
}

#[test]
fn before_checkout_clears_an_unchanged_copy_the_new_commit_tracks() {
    let (f, wt) = setup(&[]);
    write(&f.main, &[(".worktreeinclude", ".env\n*.local.yml\n")]);
    apply(&f.plan(false).unwrap(), &wt).unwrap();
    std::fs::write(wt.join("config/db.local.yml"), "db: edited\n").unwrap();
    // A branch that tracks both files, while the main checkout stays on main.
    let git = |args: &str| crate::git::fixture::git(&f.main, args);
    git("checkout -q -b feature");
    git("add -f .env config/db.local.yml");
    git("commit -q -m tracked");
    let sha = f.head();
    git("checkout -q main");
    write(
        &f.main,
        &[
            (".env", "SECRET=main\n"),
            ("config/db.local.yml", "db: local\n"),
        ],
    );
    let input = Input {
        sha,
        ..f.input(false)
    };
    assert!(
        matches!(plan(&input), Err(super::super::CarryError::Tracked { .. })),
        "the branch's own files win over carried ones"
    );
    // Once nothing selects them, Branchyard's own copies make way for the checkout.
    write(&f.main, &[(".worktreeinclude", "# nothing\n")]);
    let p = plan(&input).unwrap();
    before_checkout(&p, &wt).unwrap();
    assert!(!wt.join(".env").exists());
    assert!(
        wt.join("config/db.local.yml").exists(),
        "an edit is the user's: left for the checkout to report"
    );
}
