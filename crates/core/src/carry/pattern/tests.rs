use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::*;

/// git's own wildmatch table (t/t3070-wildmatch.sh): (with WM_PATHNAME,
/// without it, text, pattern).
const WILDMATCH_CASES: &[(bool, bool, &str, &str)] = &[
    (true, true, "foo", "foo"),
    (false, false, "foo", "bar"),
    (true, true, "", ""),
    (true, true, "foo", "???"),
    (false, false, "foo", "??"),
    (true, true, "foo", "*"),
    (true, true, "foo", "f*"),
    (false, false, "foo", "*f"),
    (true, true, "foo", "*foo*"),
    (true, true, "foobar", "*ob*a*r*"),
    (true, true, "aaaaaaabababab", "*ab"),
    (true, true, "foo*", "foo\\*"),
    (false, false, "foobar", "foo\\*bar"),
    (true, true, "f\\oo", "f\\\\oo"),
    (false, false, "foo\\", "foo\\"),
    (true, true, "ball", "*[al]?"),
    (false, false, "ten", "[ten]"),
    (true, true, "ten", "**[!te]"),
    (false, false, "ten", "**[!ten]"),
    (true, true, "ten", "t[a-g]n"),
    (false, false, "ten", "t[!a-g]n"),
    (true, true, "ton", "t[!a-g]n"),
    (true, true, "ton", "t[^a-g]n"),
    (true, true, "a]b", "a[]]b"),
    (true, true, "a-b", "a[]-]b"),
    (true, true, "a]b", "a[]-]b"),
    (false, false, "aab", "a[]-]b"),
    (true, true, "aab", "a[]a-]b"),
    (true, true, "]", "]"),
    (false, true, "foo/baz/bar", "foo*bar"),
    (false, true, "foo/baz/bar", "foo**bar"),
    (true, true, "foobazbar", "foo**bar"),
    (true, true, "foo/baz/bar", "foo/**/bar"),
    (true, false, "foo/baz/bar", "foo/**/**/bar"),
    (true, true, "foo/b/a/z/bar", "foo/**/bar"),
    (true, true, "foo/b/a/z/bar", "foo/**/**/bar"),
    (true, false, "foo/bar", "foo/**/bar"),
    (true, false, "foo/bar", "foo/**/**/bar"),
    (false, true, "foo/bar", "foo?bar"),
    (false, true, "foo/bar", "foo[/]bar"),
    (false, true, "foo/bar", "foo[^a-z]bar"),
    (false, true, "foo/bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r"),
    (true, true, "foo-bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r"),
    (true, false, "foo", "**/foo"),
    (true, true, "XXX/foo", "**/foo"),
    (true, true, "bar/baz/foo", "**/foo"),
    (false, true, "bar/baz/foo", "*/foo"),
    (false, true, "foo/bar/baz", "**/bar*"),
    (true, true, "deep/foo/bar/baz", "**/bar/*"),
    (false, true, "deep/foo/bar/baz/", "**/bar/*"),
    (true, true, "deep/foo/bar/baz/", "**/bar/**"),
    (false, false, "deep/foo/bar", "**/bar/*"),
    (true, true, "deep/foo/bar/", "**/bar/**"),
    (false, true, "foo/bar/baz", "**/bar**"),
    (true, true, "foo/bar/baz/x", "*/bar/**"),
    (false, true, "deep/foo/bar/baz/x", "*/bar/**"),
    (true, true, "deep/foo/bar/baz/x", "**/bar/*/*"),
    (false, false, "acrt", "a[c-c]st"),
    (true, true, "acrt", "a[c-c]rt"),
    (false, false, "]", "[!]-]"),
    (true, true, "a", "[!]-]"),
    (false, false, "", "\\"),
    (false, false, "\\", "\\"),
    (false, false, "XXX/\\", "*/\\"),
    (true, true, "XXX/\\", "*/\\\\"),
    (true, true, "foo", "foo"),
    (true, true, "@foo", "@foo"),
    (false, false, "foo", "@foo"),
    (true, true, "[ab]", "\\[ab]"),
    (true, true, "[ab]", "[[]ab]"),
    (true, true, "[ab]", "[[:]ab]"),
    (false, false, "[ab]", "[[::]ab]"),
    (true, true, "[ab]", "[[:digit]ab]"),
    (true, true, "[ab]", "[\\[:]ab]"),
    (true, true, "?a?b", "\\??\\?b"),
    (true, true, "abc", "\\a\\b\\c"),
    (false, false, "foo", ""),
    (true, true, "foo/bar/baz/to", "**/t[o]"),
    (true, true, "a1B", "[[:alpha:]][[:digit:]][[:upper:]]"),
    (false, false, "a", "[[:digit:][:upper:][:space:]]"),
    (true, true, "A", "[[:digit:][:upper:][:space:]]"),
    (true, true, "1", "[[:digit:][:upper:][:space:]]"),
    (false, false, "1", "[[:digit:][:upper:][:spaci:]]"),
    (true, true, " ", "[[:digit:][:upper:][:space:]]"),
    (false, false, ".", "[[:digit:][:upper:][:space:]]"),
    (true, true, ".", "[[:digit:][:punct:][:space:]]"),
    (true, true, "5", "[[:xdigit:]]"),
    (true, true, "f", "[[:xdigit:]]"),
    (true, true, "D", "[[:xdigit:]]"),
    (true, true, "_", "[[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:graph:][:lower:][:print:][:punct:][:space:][:upper:][:xdigit:]]"),
    (true, true, ".", "[^[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:lower:][:space:][:upper:][:xdigit:]]"),
    (true, true, "5", "[a-c[:digit:]x-z]"),
    (true, true, "b", "[a-c[:digit:]x-z]"),
    (true, true, "y", "[a-c[:digit:]x-z]"),
    (false, false, "q", "[a-c[:digit:]x-z]"),
    (true, true, "]", "[\\\\-^]"),
    (false, false, "[", "[\\\\-^]"),
    (true, true, "-", "[\\-_]"),
    (true, true, "]", "[\\]]"),
    (false, false, "\\]", "[\\]]"),
    (false, false, "\\", "[\\]]"),
    (false, false, "ab", "a[]b"),
    (false, false, "a[]b", "a[]b"),
    (false, false, "ab[", "ab["),
    (false, false, "ab", "[!"),
    (false, false, "ab", "[-"),
    (true, true, "-", "[-]"),
    (false, false, "-", "[a-"),
    (false, false, "-", "[!a-"),
    (true, true, "-", "[--A]"),
    (true, true, "5", "[--A]"),
    (true, true, " ", "[ --]"),
    (true, true, "$", "[ --]"),
    (true, true, "-", "[ --]"),
    (false, false, "0", "[ --]"),
    (true, true, "-", "[---]"),
    (true, true, "-", "[------]"),
    (false, false, "j", "[a-e-n]"),
    (true, true, "-", "[a-e-n]"),
    (true, true, "a", "[!------]"),
    (false, false, "[", "[]-a]"),
    (true, true, "^", "[]-a]"),
    (false, false, "^", "[!]-a]"),
    (true, true, "[", "[!]-a]"),
    (true, true, "^", "[a^bc]"),
    (true, true, "-b]", "[a-]b]"),
    (false, false, "\\", "[\\]"),
    (true, true, "\\", "[\\\\]"),
    (false, false, "\\", "[!\\\\]"),
    (true, true, "G", "[A-\\\\]"),
    (false, false, "aaabbb", "b*a"),
    (false, false, "aabcaa", "*ba*"),
    (true, true, ",", "[,]"),
    (true, true, ",", "[\\\\,]"),
    (true, true, "\\", "[\\\\,]"),
    (true, true, "-", "[,-.]"),
    (false, false, "+", "[,-.]"),
    (false, false, "-.]", "[,-.]"),
    (true, true, "2", "[\\1-\\3]"),
    (true, true, "3", "[\\1-\\3]"),
    (false, false, "4", "[\\1-\\3]"),
    (true, true, "\\", "[[-\\]]"),
    (true, true, "[", "[[-\\]]"),
    (true, true, "]", "[[-\\]]"),
    (false, false, "-", "[[-\\]]"),
    (true, true, "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*"),
    (false, false, "-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*"),
    (false, false, "-adobe-courier-bold-o-normal--12-120-75-75-/-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*"),
    (true, true, "XXX/adobe/courier/bold/o/normal//12/120/75/75/m/70/iso8859/1", "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*"),
    (false, false, "XXX/adobe/courier/bold/o/normal//12/120/75/75/X/70/iso8859/1", "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*"),
    (true, true, "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txt", "**/*a*b*g*n*t"),
    (false, false, "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txtz", "**/*a*b*g*n*t"),
    (false, false, "foo", "*/*/*"),
    (false, false, "foo/bar", "*/*/*"),
    (true, true, "foo/bba/arr", "*/*/*"),
    (false, true, "foo/bb/aa/rr", "*/*/*"),
    (true, true, "foo/bb/aa/rr", "**/**/**"),
    (true, true, "abcXdefXghi", "*X*i"),
    (false, true, "ab/cXd/efXg/hi", "*X*i"),
    (true, true, "ab/cXd/efXg/hi", "*/*X*/*/*i"),
    (true, true, "ab/cXd/efXg/hi", "**/*X*/**/*i"),
    (false, false, "foo", "fo"),
    (true, true, "foo/bar", "foo/bar"),
    (true, true, "foo/bar", "foo/*"),
    (false, true, "foo/bba/arr", "foo/*"),
    (true, true, "foo/bba/arr", "foo/**"),
    (false, true, "foo/bba/arr", "foo*"),
    (false, true, "foo/bba/arr", "foo**"),
    (false, true, "foo/bba/arr", "foo/*arr"),
    (false, true, "foo/bba/arr", "foo/**arr"),
    (false, false, "foo/bba/arr", "foo/*z"),
    (false, false, "foo/bba/arr", "foo/**z"),
    (false, true, "foo/bar", "foo?bar"),
    (false, true, "foo/bar", "foo[/]bar"),
    (false, true, "foo/bar", "foo[^a-z]bar"),
    (false, true, "ab/cXd/efXg/hi", "*Xg*i"),
    (false, false, "a", "[A-Z]"),
    (true, true, "A", "[A-Z]"),
    (false, false, "A", "[a-z]"),
    (true, true, "a", "[a-z]"),
    (false, false, "a", "[[:upper:]]"),
    (true, true, "A", "[[:upper:]]"),
    (false, false, "A", "[[:lower:]]"),
    (true, true, "a", "[[:lower:]]"),
    (false, false, "A", "[B-Za]"),
    (true, true, "a", "[B-Za]"),
    (false, false, "A", "[B-a]"),
    (true, true, "a", "[B-a]"),
    (false, false, "z", "[Z-y]"),
    (true, true, "Z", "[Z-y]"),
];

#[test]
fn wildmatch_agrees_with_gits_own_table() {
    for (pathname, plain, text, pattern) in WILDMATCH_CASES {
        assert_eq!(
            wildmatch(pattern.as_bytes(), text.as_bytes(), true),
            *pathname,
            "wildmatch({pattern:?}, {text:?}, WM_PATHNAME)"
        );
        assert_eq!(
            wildmatch(pattern.as_bytes(), text.as_bytes(), false),
            *plain,
            "wildmatch({pattern:?}, {text:?}, 0)"
        );
    }
}

/// Paths of the tree the patterns are judged on; a trailing `/` makes a directory.
const TREE: &[&str] = &[
    ".env",
    ".env.local",
    ".env.example",
    "x.env",
    "a/.env",
    "a/b/.env",
    "a/b/c/deep.txt",
    "a/b/",
    "build/out.o",
    "build/keep",
    "config/app.yml",
    "config/local.yml",
    "config/sub/local.yml",
    "config/sub/other.yml",
    "sub/",
    "other/sub",
    "docs/x.md",
    "docs/sub/y.md",
    "r.md",
    "#hash",
    "!bang",
    "trail ",
    "trail",
    "src/main.c",
    "src/util.h",
    "src/util.o",
    "b1.txt",
    "d9.txt",
    "secrets/prod/key.pem",
    "deep/x/y/secrets/key.pem",
    "node_modules/pkg/.env",
    "node_modules/pkg/index.js",
];

/// Pattern files (gitignore syntax) to compare with git.
const PATTERN_FILES: &[&str] = &[
    ".env\n",
    "/.env\n",
    "*.env\n",
    ".env*\n!.env.example\n",
    "config/\n",
    "config/*.yml\n",
    "config/**/local.yml\n",
    "**/secrets/*\n",
    "secrets/\n",
    "a/**/b\n",
    "a/**\n",
    "**/deep.txt\n",
    "build\n!build/keep\n",
    "build/*\n!build/keep\n",
    "\\#hash\n\\!bang\n",
    "trail\\ \n",
    "trail   \n",
    "[a-c]*.txt\n?.md\n*.[ch]\n",
    "docs/*.md\n",
    "sub/\n",
    "sub\n",
    "/sub\n",
    "*/sub\n",
    "**/pkg/\n",
    "node_modules\n!node_modules/pkg/.env\n",
    "# a comment\n\n   \n*.o\n",
    "a/b/\n",
    "**\n!**/*.yml\n",
    "*\n!*/\n!*.md\n",
];

fn make_tree(root: &Path) {
    for p in TREE {
        let path = root.join(p.trim_end_matches('/'));
        if p.ends_with('/') {
            std::fs::create_dir_all(&path).unwrap();
        } else {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "x").unwrap();
        }
    }
}

/// The paths of [`TREE`] that `git check-ignore --no-index` says `patterns` ignore.
fn git_selected(root: &Path, patterns: &str) -> Vec<String> {
    std::fs::write(root.join(".gitignore"), patterns).unwrap();
    let mut child = Command::new("git")
        .args([
            "-c",
            "core.excludesFile=/dev/null",
            "check-ignore",
            "--no-index",
            "--stdin",
        ])
        .current_dir(root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("git runs");
    let input: String = TREE
        .iter()
        .map(|p| format!("{}\n", p.trim_end_matches('/')))
        .collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    got.sort();
    got
}

#[test]
fn selection_agrees_with_git_check_ignore() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    crate::git::fixture::git(root, "init -q");
    make_tree(root);
    let mut selected_somewhere = 0;
    for patterns in PATTERN_FILES {
        let list = PatternList::parse(patterns, ".worktreeinclude");
        let mut ours: Vec<String> = TREE
            .iter()
            .filter(|p| {
                let is_dir = p.ends_with('/');
                list.selects(p.trim_end_matches('/'), is_dir).is_some()
            })
            .map(|p| p.trim_end_matches('/').to_string())
            .collect();
        ours.sort();
        let git = git_selected(root, patterns);
        selected_somewhere += usize::from(!git.is_empty() && git.len() < TREE.len());
        assert_eq!(ours, git, "patterns {patterns:?}");
    }
    assert!(
        selected_somewhere > PATTERN_FILES.len() / 2,
        "most pattern files select some paths but not all: the comparison is not vacuous"
    );
}

#[test]
fn a_walk_is_told_where_matches_can_still_be() {
    let list = PatternList::parse("config/*/local.yml\n/secrets/**\n", "f");
    assert!(list.may_select_below("config"));
    assert!(list.may_select_below("config/sub"));
    assert!(
        !list.may_select_below("config/sub/deeper"),
        "`*` stays in one component"
    );
    assert!(list.may_select_below("secrets/a/b"));
    assert!(!list.may_select_below("node_modules"));
    let floating = PatternList::parse(".env\n", "f");
    assert!(
        floating.may_select_below("node_modules/x"),
        "a pattern without a slash matches at any depth"
    );
    let negative = PatternList::parse("!keep\n", "f");
    assert!(
        !negative.may_select_below("a"),
        "a negation selects nothing"
    );
}

#[test]
fn the_matching_pattern_and_its_origin_are_reported() {
    let list = PatternList::parse("# c\n\n.env*\n!.env.example\n", ".worktreeinclude");
    let p = list.selects(".env.local", false).unwrap();
    assert_eq!(p.raw, ".env*");
    assert_eq!(p.origin.line, 3);
    assert!(list.selects(".env.example", false).is_none());
    assert_eq!(list.patterns().len(), 2);
}

#[test]
fn literal_components_and_climbing_are_seen() {
    let p = Pattern::parse(
        "/.git/config",
        Origin {
            file: "f".into(),
            line: 1,
        },
    )
    .unwrap();
    assert_eq!(p.literal_components(), vec![".git", "config"]);
    let p = Pattern::parse(
        "../secret",
        Origin {
            file: "f".into(),
            line: 1,
        },
    )
    .unwrap();
    assert!(p.climbs());
    let p = Pattern::parse(
        ".*",
        Origin {
            file: "f".into(),
            line: 1,
        },
    )
    .unwrap();
    assert!(p.literal_components().is_empty(), "a glob names nothing");
}
