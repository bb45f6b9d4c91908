use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;
use crate::git::fixture::{git, repo_with_commit};

fn head(repo: &Path) -> String {
    git(repo, "rev-parse HEAD")
}

#[test]
fn a_detached_worktree_is_made_outside_the_repo_while_the_branch_is_checked_out() {
    let (d, repo) = repo_with_commit();
    let sha = head(&repo);
    let wt = d.path().join("home/worktrees/repo/main");
    let out = checkout(&repo, &wt, "branchyard-repo-main", &sha, false).unwrap();
    assert!(out.created);
    assert_eq!(out.files_changed, 2);
    assert_eq!(std::fs::read_to_string(wt.join("a.txt")).unwrap(), "a1");
    assert_eq!(head(&wt), sha);
    assert_eq!(
        git(&wt, "status --porcelain"),
        "",
        "a fresh worktree is clean"
    );
    assert!(
        git(&repo, "worktree list").contains("detached"),
        "git sees a detached worktree"
    );
    assert!(
        !repo
            .join(".git/worktrees/branchyard-repo-main/locked")
            .exists(),
        "the initializing lock is gone once complete"
    );
    assert_eq!(
        git(&repo, "branch --show-current"),
        "main",
        "the user's checkout is untouched"
    );
    git(&repo, "worktree prune");
    assert_eq!(
        list_worktrees(&repo).unwrap().len(),
        1,
        "git prune keeps it"
    );
}

#[test]
fn a_big_tree_is_written_in_parallel_with_modes_symlinks_and_a_clean_index() {
    let (d, repo) = repo_with_commit();
    for i in 0..700 {
        let dir = repo.join(format!("src/d{}", i % 7));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}.txt")), format!("{i}\n")).unwrap();
    }
    std::fs::write(repo.join("run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(repo.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("src/d0/f0.txt", repo.join("link")).unwrap();
    git(&repo, "add -A");
    git(&repo, "commit -q -m big");
    let wt = d.path().join("wt");
    let out = checkout(&repo, &wt, "w", &head(&repo), false).unwrap();
    assert_eq!(out.files_changed, 704);
    assert_eq!(
        git(&wt, "ls-files -s"),
        git(&repo, "ls-files -s"),
        "the index records the commit's tree"
    );
    assert_eq!(
        git(&wt, "status --porcelain"),
        "",
        "stat data in the index matches the files"
    );
    let mode = std::fs::metadata(wt.join("run.sh")).unwrap().mode();
    assert!(mode & 0o111 != 0, "executables stay executable: {mode:o}");
    assert_eq!(
        std::fs::read_link(wt.join("link")).unwrap(),
        Path::new("src/d0/f0.txt")
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("src/d3/f360.txt")).unwrap(),
        "360\n"
    );
}

#[test]
fn trees_with_attributes_or_submodules_go_through_libgit2_with_filters() {
    let (d, repo) = repo_with_commit();
    std::fs::write(repo.join(".gitattributes"), "*.txt eol=crlf\n").unwrap();
    std::fs::write(repo.join("b.txt"), "one\ntwo\n").unwrap();
    git(&repo, "add -A");
    let sub = head(&repo);
    git(
        &repo,
        &format!("update-index --add --cacheinfo 160000,{sub},vendor/sub"),
    );
    git(&repo, "commit -q -m attrs");
    let wt = d.path().join("wt");
    let out = checkout(&repo, &wt, "w", &head(&repo), false).unwrap();
    assert!(out.created);
    assert_eq!(
        std::fs::read_to_string(wt.join("b.txt")).unwrap(),
        "one\r\ntwo\r\n",
        "the eol filter ran"
    );
    assert!(
        wt.join("vendor/sub").is_dir(),
        "a submodule gets its directory"
    );
    assert!(!uses_lfs(&wt), "eol attributes are not LFS");
}

#[test]
fn an_update_rewrites_only_changed_files() {
    let (d, repo) = repo_with_commit();
    std::fs::create_dir(repo.join("old")).unwrap();
    std::fs::write(repo.join("old/gone.txt"), "bye").unwrap();
    git(&repo, "add -A");
    git(&repo, "commit -q -m dir");
    let wt = d.path().join("wt");
    let sha1 = head(&repo);
    checkout(&repo, &wt, "w", &sha1, false).unwrap();
    let before = std::fs::metadata(wt.join("keep.txt")).unwrap();
    std::fs::write(repo.join("a.txt"), "a2").unwrap();
    std::fs::write(repo.join("new.txt"), "new").unwrap();
    git(&repo, "rm -q -r old");
    git(&repo, "add -A");
    git(&repo, "commit -q -m second");
    let sha2 = head(&repo);
    let out = checkout(&repo, &wt, "w", &sha2, false).unwrap();
    assert!(!out.created);
    assert_eq!(out.from.as_deref(), Some(sha1.as_str()));
    assert_eq!(out.to, sha2);
    assert_eq!(
        out.files_changed, 3,
        "a.txt changed, new.txt added, old/gone.txt removed"
    );
    assert_eq!(std::fs::read_to_string(wt.join("a.txt")).unwrap(), "a2");
    assert_eq!(std::fs::read_to_string(wt.join("new.txt")).unwrap(), "new");
    assert!(!wt.join("old").exists(), "emptied directories go too");
    let after = std::fs::metadata(wt.join("keep.txt")).unwrap();
    assert_eq!(
        after.ino(),
        before.ino(),
        "an untouched file is not rewritten"
    );
    assert_eq!(after.mtime_nsec(), before.mtime_nsec());
    assert_eq!(head(&wt), sha2);
    assert_eq!(git(&wt, "status --porcelain"), "");
    let again = checkout(&repo, &wt, "w", &sha2, false).unwrap();
    assert_eq!(again.files_changed, 0, "already there: nothing to do");
}

#[test]
fn an_update_never_overwrites_the_users_changes() {
    let (d, repo) = repo_with_commit();
    let wt = d.path().join("wt");
    checkout(&repo, &wt, "w", &head(&repo), false).unwrap();
    std::fs::write(wt.join("a.txt"), "my edit").unwrap();
    std::fs::write(repo.join("a.txt"), "a2").unwrap();
    git(&repo, "commit -q -am second");
    let sha2 = head(&repo);
    let err = checkout(&repo, &wt, "w", &sha2, false).unwrap_err();
    match &err {
        GitError::Dirty { files, .. } => assert_eq!(files, &["a.txt"], "names the file"),
        other => panic!("expected Dirty, got {other:?}"),
    }
    assert_eq!(err.code(), crate::error::Code::Dirty);
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(wt.join("a.txt")).unwrap(),
        "my edit",
        "the edit survives"
    );
    checkout(&repo, &wt, "w", &sha2, true).unwrap();
    assert_eq!(
        std::fs::read_to_string(wt.join("a.txt")).unwrap(),
        "a2",
        "--force takes the branch's version"
    );
}

#[test]
fn an_untracked_file_in_the_way_of_a_new_one_is_not_overwritten() {
    let (d, repo) = repo_with_commit();
    let wt = d.path().join("wt");
    checkout(&repo, &wt, "w", &head(&repo), false).unwrap();
    std::fs::write(wt.join("new.txt"), "mine").unwrap();
    std::fs::write(repo.join("new.txt"), "theirs").unwrap();
    git(&repo, "add new.txt");
    git(&repo, "commit -q -m new");
    let r = checkout(&repo, &wt, "w", &head(&repo), false);
    assert!(matches!(r, Err(GitError::Dirty { .. })), "{r:?}");
    assert_eq!(std::fs::read_to_string(wt.join("new.txt")).unwrap(), "mine");
}

#[test]
fn an_edit_to_a_file_the_update_does_not_touch_is_carried_along() {
    let (d, repo) = repo_with_commit();
    let wt = d.path().join("wt");
    checkout(&repo, &wt, "w", &head(&repo), false).unwrap();
    std::fs::write(wt.join("keep.txt"), "my edit").unwrap();
    std::fs::write(repo.join("a.txt"), "a2").unwrap();
    git(&repo, "commit -q -am second");
    checkout(&repo, &wt, "w", &head(&repo), false).unwrap();
    assert_eq!(std::fs::read_to_string(wt.join("a.txt")).unwrap(), "a2");
    assert_eq!(
        std::fs::read_to_string(wt.join("keep.txt")).unwrap(),
        "my edit",
        "no work is lost"
    );
}

#[test]
fn a_dirty_worktree_is_kept_unless_forced_and_removal_prunes_gits_record() {
    let (d, repo) = repo_with_commit();
    let wt = d.path().join("wt");
    checkout(&repo, &wt, "w", &head(&repo), false).unwrap();
    assert!(!is_dirty(&wt, &[]).unwrap());
    std::fs::write(wt.join("a.txt"), "my work").unwrap();
    assert!(is_dirty(&wt, &[]).unwrap());
    let err = remove_worktree(&repo, &wt, "w", false, &[]).unwrap_err();
    assert!(matches!(err, GitError::Dirty { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&wt.display().to_string()),
        "names the path: {err}"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("a.txt")).unwrap(),
        "my work",
        "nothing lost"
    );
    remove_worktree(&repo, &wt, "w", true, &[]).unwrap();
    assert!(!wt.exists());
    assert!(
        !repo.join(".git/worktrees/w").exists(),
        "git's record is pruned"
    );
    assert!(list_worktrees(&repo).unwrap().is_empty());
    remove_worktree(&repo, &wt, "w", false, &[]).expect("already gone is fine");
}

#[test]
fn an_untracked_file_makes_a_worktree_dirty_but_an_ignored_one_does_not() {
    let (d, repo) = repo_with_commit();
    std::fs::write(repo.join(".gitignore"), "build/\n").unwrap();
    git(&repo, "add .gitignore");
    git(&repo, "commit -q -m ignore");
    let wt = d.path().join("wt");
    checkout(&repo, &wt, "w", &head(&repo), false).unwrap();
    std::fs::create_dir(wt.join("build")).unwrap();
    std::fs::write(wt.join("build/out"), "x").unwrap();
    assert!(!is_dirty(&wt, &[]).unwrap(), "ignored output is not work");
    std::fs::write(wt.join("notes.md"), "x").unwrap();
    assert!(is_dirty(&wt, &[]).unwrap(), "an untracked file is work");
}

#[test]
fn a_stale_record_is_replaced() {
    let (d, repo) = repo_with_commit();
    let wt = d.path().join("wt");
    let sha = head(&repo);
    checkout(&repo, &wt, "w", &sha, false).unwrap();
    std::fs::remove_dir_all(&wt).unwrap();
    let out = checkout(&repo, &wt, "w", &sha, false).unwrap();
    assert!(out.created);
    assert_eq!(list_worktrees(&repo).unwrap().len(), 1);
    assert_eq!(git(&wt, "status --porcelain"), "");
}

#[test]
fn a_worktree_left_half_made_by_a_crash_is_made_again() {
    let (d, repo) = repo_with_commit();
    let wt = d.path().join("wt");
    let sha = head(&repo);
    checkout(&repo, &wt, "w", &sha, false).unwrap();
    // What a crash during the checkout leaves: the lock, some files missing.
    std::fs::write(repo.join(".git/worktrees/w/locked"), "initializing\n").unwrap();
    std::fs::remove_file(wt.join("keep.txt")).unwrap();
    let out = checkout(&repo, &wt, "w", &sha, false).unwrap();
    assert!(out.created, "made again rather than trusted");
    assert_eq!(
        std::fs::read_to_string(wt.join("keep.txt")).unwrap(),
        "same"
    );
    assert!(!repo.join(".git/worktrees/w/locked").exists());
}

#[test]
fn a_foreign_directory_in_the_way_is_left_alone() {
    let (d, repo) = repo_with_commit();
    let wt = d.path().join("wt");
    std::fs::create_dir(&wt).unwrap();
    std::fs::write(wt.join("precious"), "x").unwrap();
    let err = checkout(&repo, &wt, "w", &head(&repo), false).unwrap_err();
    assert!(err.to_string().contains("move it away"), "{err}");
    assert!(wt.join("precious").exists());
    assert!(!repo.join(".git/worktrees/w").exists(), "no record left");
}

#[test]
fn unusable_worktree_names_are_refused() {
    let (d, repo) = repo_with_commit();
    let sha = head(&repo);
    for name in ["", "a/b", ".hidden", "x.lock"] {
        let r = checkout(&repo, &d.path().join("wt"), name, &sha, false);
        assert!(matches!(r, Err(GitError::Git { .. })), "{name:?}: {r:?}");
    }
}

#[test]
fn lfs_is_detected_from_gitattributes() {
    let d = tempfile::tempdir().unwrap();
    assert!(!uses_lfs(d.path()));
    std::fs::write(
        d.path().join(".gitattributes"),
        "*.psd filter=lfs diff=lfs merge=lfs -text\n",
    )
    .unwrap();
    assert!(uses_lfs(d.path()));
}

#[test]
fn carried_files_never_make_a_worktree_dirty() {
    let (d, repo) = repo_with_commit();
    let wt = d.path().join("wt");
    checkout(&repo, &wt, "w", &head(&repo), false).unwrap();
    std::fs::write(wt.join(".env"), "A=1").unwrap();
    std::fs::create_dir(wt.join("odd [dir]")).unwrap();
    std::fs::write(wt.join("odd [dir]/x*.yml"), "x").unwrap();
    let carried = [".env".to_string(), "odd [dir]/x*.yml".to_string()];
    assert!(
        is_dirty(&wt, &[]).unwrap(),
        "untracked, so work, unless carried"
    );
    assert!(
        !is_dirty(&wt, &carried).unwrap(),
        "carried files are not the user's work"
    );
    std::fs::write(wt.join("notes.md"), "x").unwrap();
    assert!(is_dirty(&wt, &carried).unwrap(), "other files still are");
    std::fs::remove_file(wt.join("notes.md")).unwrap();
    remove_worktree(&repo, &wt, "w", false, &carried).expect("nothing of the user's is lost");
}

#[test]
fn a_rewritten_git_link_is_restored_before_an_update() {
    let (d, repo) = repo_with_commit();
    let wt = d.path().join("wt");
    let sha1 = head(&repo);
    checkout(&repo, &wt, "w", &sha1, false).unwrap();
    // What a container that can write the worktree could do: aim the link at the main repo.
    std::fs::write(
        wt.join(".git"),
        format!("gitdir: {}\n", repo.join(".git").display()),
    )
    .unwrap();
    std::fs::write(repo.join("a.txt"), "a2").unwrap();
    git(&repo, "commit -q -am second");
    let sha2 = head(&repo);
    checkout(&repo, &wt, "w", &sha2, false).unwrap();
    assert_eq!(
        git(&repo, "branch --show-current"),
        "main",
        "the main repo's HEAD is untouched"
    );
    assert_eq!(head(&repo), sha2);
    assert_eq!(
        head(&wt),
        sha2,
        "the worktree moved, through its own record"
    );
    assert_eq!(
        git(&repo, "status --porcelain"),
        "",
        "the main checkout's index is untouched"
    );
}
