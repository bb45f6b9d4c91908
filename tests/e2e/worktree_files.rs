//! Gitignored files carried into a preview's worktree (`.worktreeinclude`,
//! `[files]`), the error that names the fix when they are not, refusals that
//! leave nothing behind, and git working inside a container that mounts the
//! worktree, without write access to the repository.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fixture::{commit_on, repo, write};
use crate::support::{
    docker_names, eventually, get, git_image, sh, text, Env, BASE_IMAGE, GIT_IMAGE,
};

/// A service printing `$SECRET` (from its env file) at `/`.
fn env_compose() -> String {
    format!(
        "services:\n  web:\n    image: {BASE_IMAGE}\n    init: true\n    env_file: .env\n    expose: [\"8080\"]\n    command: [\"sh\", \"-c\", \"mkdir -p /www && echo \\\"secret=$$SECRET\\\" > /www/index.html && exec httpd -f -p 8080 -h /www\"]\n"
    )
}

/// Waits until `host` answers `/` with `want`.
fn serves(host: &str, want: &str) {
    eventually(
        Duration::from_secs(30),
        &format!("{host} to serve {want:?}"),
        || {
            let (s, b) = get(host, "/");
            (s == 200 && b.trim() == want).then_some(())
        },
    );
}

/// The worktree of `<repo>`'s `main` preview.
fn worktree(env: &Env, repo: &str) -> PathBuf {
    env.home.path().join("worktrees").join(repo).join("main")
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_gitignored_env_named_in_worktreeinclude_reaches_the_service_and_is_refreshed_unless_edited() {
    let env = Env::shared();
    let dir = repo(
        env,
        "dotenv",
        &[
            ("compose.yaml", &env_compose()),
            (".gitignore", ".env\n"),
            (".worktreeinclude", "# local files previews need\n.env\n"),
        ],
    );
    write(&dir, &[(".env", "SECRET=one\n")]);
    std::fs::set_permissions(dir.join(".env"), std::fs::Permissions::from_mode(0o600)).unwrap();
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    let out = env.ok(&["up", "dotenv", "main"]);
    assert!(
        out.contains("1 carried file"),
        "the worktree step says so:\n{out}"
    );
    serves("main.dotenv.localhost", "secret=one");
    let wt = worktree(env, "dotenv");
    assert_eq!(
        mode(&wt.join(".env")),
        0o600,
        "a secret stays private in the worktree"
    );
    let status = env.json(&["status", "main.dotenv"]);
    assert_eq!(
        status["carried"],
        serde_json::json!([{"path": ".env", "mode": "copy", "origin": ".worktreeinclude line 2: .env", "kept": false}]),
        "status lists what was carried"
    );
    let human = env.ok(&["status", "main.dotenv"]);
    assert!(human.contains(".env") && human.contains("copy"), "{human}");

    // The main checkout's .env changed: the next up refreshes the copy.
    write(&dir, &[(".env", "SECRET=two\n")]);
    env.ok(&["up", "dotenv", "main"]);
    serves("main.dotenv.localhost", "secret=two");

    // The worktree's copy was edited: it is kept, and said so.
    write(&wt, &[(".env", "SECRET=mine\n")]);
    write(&dir, &[(".env", "SECRET=three\n")]);
    let up = env.by(&["up", "dotenv", "main"]);
    assert!(up.status.success(), "{}", text(&up));
    assert!(
        text(&up).contains("kept as it is"),
        "the kept copy is reported:\n{}",
        text(&up)
    );
    serves("main.dotenv.localhost", "secret=mine");
    let status = env.json(&["status", "main.dotenv"]);
    assert_eq!(status["carried"][0]["kept"], true, "{status}");

    env.ok(&["down", "main.dotenv"]);
    assert!(
        !wt.exists(),
        "a carried file is no uncommitted work: down removes the worktree"
    );
    env.ok(&["repo", "rm", "dotenv"]);
}

#[test]
fn without_worktreeinclude_a_missing_env_file_names_the_line_to_add() {
    let env = Env::shared();
    let dir = repo(
        env,
        "noinclude",
        &[("compose.yaml", &env_compose()), (".gitignore", ".env\n")],
    );
    write(&dir, &[(".env", "SECRET=local\n")]);
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    let out = env.by(&["up", "noinclude", "main"]);
    let all = text(&out);
    assert!(!out.status.success(), "up must fail:\n{all}");
    for needle in [
        "compose.yaml",
        "service \"web\"",
        "env_file",
        "git ignores it",
        "`/.env`",
        ".worktreeinclude",
        "docs/guide/worktrees.md",
    ] {
        assert!(all.contains(needle), "the error names {needle:?}:\n{all}");
    }
    assert!(
        docker_names("container", "dev.branchyard.repo=noinclude").is_empty(),
        "nothing was started"
    );
    // The fix, exactly as the message puts it, works without a commit.
    write(&dir, &[(".worktreeinclude", "/.env\n")]);
    env.ok(&["up", "noinclude", "main"]);
    serves("main.noinclude.localhost", "secret=local");
    env.ok(&["down", "main.noinclude"]);
    env.ok(&["repo", "rm", "noinclude"]);
}

#[test]
fn a_linked_file_stays_live_inside_the_container() {
    let env = Env::shared();
    let compose = format!(
        "services:\n  web:\n    image: {BASE_IMAGE}\n    init: true\n    expose: [\"8080\"]\n    volumes: [\".:/app:ro\"]\n    command: [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/app\"]\n"
    );
    let dir = repo(
        env,
        "linked",
        &[
            ("compose.yaml", &compose),
            (".gitignore", "settings.local\n"),
            ("branchyard.toml", "[files]\nlink = [\"settings.local\"]\n"),
        ],
    );
    write(&dir, &[("settings.local", "v1\n")]);
    env.ok(&["repo", "add", "--trusted", dir.to_str().unwrap()]);
    env.ok(&["up", "linked", "main"]);
    let wt = worktree(env, "linked");
    assert_eq!(
        std::fs::read_link(wt.join("settings.local")).unwrap(),
        dir.canonicalize().unwrap().join("settings.local")
    );
    let body = || get("main.linked.localhost", "/settings.local");
    eventually(Duration::from_secs(30), "the linked file served", || {
        (body() == (200, "v1\n".into())).then_some(())
    });
    write(&dir, &[("settings.local", "v2\n")]);
    assert_eq!(
        body(),
        (200, "v2\n".into()),
        "the container reads the main checkout's file through the link, no up needed"
    );
    let status = env.json(&["status", "main.linked"]);
    assert_eq!(status["carried"][0]["mode"], "link", "{status}");
    env.ok(&["down", "main.linked"]);
    assert!(
        dir.join("settings.local").exists(),
        "removing the link leaves the file"
    );
    env.ok(&["repo", "rm", "linked"]);
}

/// `up` of `name` fails naming every `needle`, and leaves no worktree and no container.
fn refused(env: &Env, name: &str, dir: &Path, needles: &[&str]) {
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    let out = env.by(&["up", name, "main"]);
    let all = text(&out);
    assert!(!out.status.success(), "up must be refused:\n{all}");
    for n in needles {
        assert!(all.contains(n), "the refusal names {n:?}:\n{all}");
    }
    assert!(!worktree(env, name).exists(), "no worktree was made");
    assert!(docker_names("container", &format!("dev.branchyard.repo={name}")).is_empty());
    env.ok(&["down", &format!("main.{name}")]);
    env.ok(&["repo", "rm", name]);
}

#[test]
fn patterns_that_would_carry_git_data_tracked_files_or_files_outside_are_refused_before_anything_is_made(
) {
    let env = Env::shared();
    let compose = format!("services:\n  web:\n    image: {BASE_IMAGE}\n");
    let dir = repo(
        env,
        "badgit",
        &[
            ("compose.yaml", &compose),
            (".worktreeinclude", ".env\n.git/config\n"),
        ],
    );
    refused(
        env,
        "badgit",
        &dir,
        &[".worktreeinclude", "line 2", ".git/config", "names .git"],
    );

    let dir = repo(
        env,
        "badclimb",
        &[
            ("compose.yaml", &compose),
            (
                "branchyard.toml",
                "[files]\ncopy = [\"../../.ssh/id_rsa\"]\n",
            ),
        ],
    );
    refused(
        env,
        "badclimb",
        &dir,
        &["branchyard.toml", "[files] copy", "climbs"],
    );

    let dir = repo(
        env,
        "badabs",
        &[
            ("compose.yaml", &compose),
            ("branchyard.toml", "[files]\nlink = [\"/etc/passwd\"]\n"),
        ],
    );
    refused(env, "badabs", &dir, &["[files] link", "absolute"]);

    // The main checkout ignores config.yml, but the previewed branch tracks it.
    let dir = repo(
        env,
        "badtracked",
        &[
            ("compose.yaml", &compose),
            (".gitignore", "config.yml\n"),
            (".worktreeinclude", "config.yml\n"),
        ],
    );
    sh(
        &dir,
        "echo 'from: branch' > config.yml && git add -f config.yml && git commit -q -m track \
         && git checkout -q -b local && git rm -q --cached config.yml && git commit -q -m untrack \
         && echo 'from: main checkout' > config.yml",
    );
    refused(
        env,
        "badtracked",
        &dir,
        &["config.yml", "branch tracks", "!/config.yml"],
    );
}

#[test]
fn git_in_a_container_sees_the_previews_commit_and_cannot_write_the_repository() {
    let env = Env::shared();
    git_image();
    let compose = format!(
        "services:\n  tools:\n    image: {GIT_IMAGE}\n    init: true\n    volumes: [\".:/src\"]\n    working_dir: /src\n    command: [\"sleep\", \"3600\"]\n"
    );
    let dir = repo(env, "gitinside", &[("compose.yaml", &compose)]);
    sh(
        &dir,
        "git tag v1.0 && git config remote.origin.url https://user:s3cr3t-token@example.com/r.git",
    );
    commit_on(&dir, "feature/x", &[("feature.txt", "x\n")], "feature work");
    env.ok(&["repo", "add", dir.to_str().unwrap()]);
    env.ok(&["up", "gitinside", "feature/x"]);
    let want = sh(&dir, "git rev-parse feature/x").trim().to_string();
    let run = |cmd: &[&str]| {
        let mut args = vec!["exec", "feature-x.gitinside", "tools", "--"];
        args.extend_from_slice(cmd);
        env.by(&args)
    };
    let ok = |cmd: &[&str]| {
        let out = run(cmd);
        assert!(
            out.status.success(),
            "{cmd:?} in the container:\n{}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(
        ok(&["git", "rev-parse", "HEAD"]),
        want,
        "git finds the preview's commit"
    );
    assert_eq!(
        ok(&["git", "describe", "--tags"]),
        format!("v1.0-1-g{}", &want[..7]),
        "describe reads tags and history"
    );
    assert_eq!(
        ok(&["git", "status", "--porcelain"]),
        "",
        "status works and sees a clean checkout"
    );

    // Nothing of the repository is writable from the container.
    let git_dir = dir.canonicalize().unwrap().join(".git");
    let gd = git_dir.display().to_string();
    for cmd in [
        vec!["sh", "-c", &format!("echo x > {gd}/objects/evil")],
        vec!["sh", "-c", &format!("echo x > {gd}/hooks/post-checkout")],
        vec!["git", "update-ref", "refs/heads/evil", "HEAD"],
        vec![
            "git",
            "-c",
            "user.name=x",
            "-c",
            "user.email=x@x",
            "commit",
            "--allow-empty",
            "-m",
            "evil",
        ],
        vec!["git", "config", "core.hooksPath", "/tmp"],
    ] {
        let out = run(&cmd);
        assert!(!out.status.success(), "{cmd:?} must fail:\n{}", text(&out));
    }
    assert!(
        !git_dir.join("objects/evil").exists() && !git_dir.join("hooks/post-checkout").exists()
    );
    assert!(
        sh(&dir, "git branch --list evil").trim().is_empty(),
        "no ref was written"
    );
    assert!(!sh(&dir, "git config --get core.hooksPath || true").contains("/tmp"));
    assert_eq!(
        sh(&dir, "git rev-parse feature/x").trim(),
        want,
        "the branch did not move"
    );

    // An untrusted repo's config reaches the container without its credentials.
    let seen = ok(&["cat", &format!("{gd}/config")]);
    assert!(
        !seen.contains("s3cr3t"),
        "no credential in the container's view:\n{seen}"
    );
    assert!(
        std::fs::read_to_string(git_dir.join("config"))
            .unwrap()
            .contains("s3cr3t"),
        "the repo's own config is untouched"
    );

    // Files owned by another user (the usual host user vs. a root container):
    // git works through safe.directory, which the container gets by environment.
    let wt = env.home.path().join("worktrees/gitinside/feature-x");
    sh(
        Path::new("/"),
        &format!("chown -R 1000:1000 {} {}", wt.display(), gd),
    );
    let with = run(&["git", "rev-parse", "HEAD"]);
    let without = run(&["env", "-u", "GIT_CONFIG_COUNT", "git", "rev-parse", "HEAD"]);
    sh(
        Path::new("/"),
        &format!("chown -R 0:0 {} {}", wt.display(), gd),
    );
    assert!(with.status.success(), "{}", text(&with));
    assert!(
        !without.status.success() && text(&without).contains("dubious ownership"),
        "without the variable git refuses, so the variable is what makes it work:\n{}",
        text(&without)
    );

    env.ok(&["down", "feature-x.gitinside"]);
    env.ok(&["repo", "rm", "gitinside"]);
}
