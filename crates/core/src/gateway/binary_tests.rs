//! The choice of binary by the engine's architecture, and the lookup order
//! over overrides, an installed layout and the source tree, on files in a
//! temporary folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{elf_machine, Arch, Lookup, Source, BIN_VAR};
use crate::gateway::GatewayError;

#[test]
fn docker_and_podman_names_for_each_cpu_choose_its_binary() {
    for (name, want) in [
        ("x86_64", Arch::X86_64),
        ("amd64", Arch::X86_64),
        ("aarch64", Arch::Aarch64),
        ("arm64", Arch::Aarch64),
        ("AArch64", Arch::Aarch64),
    ] {
        assert_eq!(
            Arch::for_engine(Some("linux"), Some(name)).unwrap(),
            want,
            "{name}"
        );
    }
    // An engine that does not report its OS is judged by its CPU alone.
    assert_eq!(
        Arch::for_engine(None, Some("arm64")).unwrap(),
        Arch::Aarch64
    );
}

#[test]
fn another_cpu_or_a_windows_engine_is_refused_by_name() {
    for (os, arch) in [
        (Some("linux"), Some("armv7l")),
        (Some("linux"), Some("s390x")),
        (Some("linux"), Some("riscv64")),
        (Some("windows"), Some("x86_64")),
    ] {
        let e = Arch::for_engine(os, arch).unwrap_err();
        assert!(matches!(e, GatewayError::UnsupportedEngine { .. }));
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("{:?}", arch.unwrap())) && msg.contains(os.unwrap()),
            "the message names what the engine reported: {msg}"
        );
        assert!(msg.contains("aarch64 (arm64)"), "and what would do: {msg}");
    }
    let e = Arch::for_engine(Some("linux"), None).unwrap_err();
    assert!(
        e.to_string().contains("Architecture \"\""),
        "an unreported CPU is shown as such: {e}"
    );
}

#[test]
fn each_architecture_has_its_own_target_platform_and_elf_machine() {
    assert_eq!(Arch::X86_64.rust_target(), "x86_64-unknown-linux-musl");
    assert_eq!(Arch::Aarch64.rust_target(), "aarch64-unknown-linux-musl");
    assert_eq!(Arch::X86_64.platform(), "linux/amd64");
    assert_eq!(Arch::Aarch64.platform(), "linux/arm64");
    assert_eq!(Arch::X86_64.elf_machine(), 62);
    assert_eq!(Arch::Aarch64.elf_machine(), 183);
    assert_eq!(Arch::Aarch64.file_name(), "branchyard-gateway-aarch64");
    assert_eq!(Arch::Aarch64.bin_var(), "BRANCHYARD_GATEWAY_BIN_AARCH64");
}

/// An installed layout (`prefix/bin`, `prefix/lib/branchyard`) and a source
/// tree's `target/`, in one temporary folder.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("prefix/bin")).unwrap();
        Tree { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a minimal ELF header for `arch` at `rel`.
    fn binary(&self, rel: &str, arch: Arch) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, elf_header(arch.elf_machine())).unwrap();
        p
    }

    fn lookup(&self, vars: &[(&str, PathBuf)]) -> Lookup {
        let vars: HashMap<String, PathBuf> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Lookup::new(
            |name| vars.get(name).cloned(),
            Some(self.path("prefix/bin")),
            self.path("src/target"),
        )
    }
}

fn elf_header(machine: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // ELFCLASS64
    h[5] = 1; // little-endian
    h[18..20].copy_from_slice(&machine.to_le_bytes());
    h
}

fn same(a: &Path, b: &Path) -> bool {
    std::fs::canonicalize(a).unwrap() == std::fs::canonicalize(b).unwrap()
}

/// A file to add, the overrides then set (variable, file), and the source
/// that must then be found.
type Step<'a> = (&'a str, &'a [(&'a str, &'a str)], Source);

#[test]
fn the_lookup_prefers_the_arch_override_then_the_generic_one_then_installed_beside_and_source() {
    let t = Tree::new();
    let arch_var = "BRANCHYARD_GATEWAY_BIN_AARCH64";
    let (any, arm) = ("elsewhere/any", "elsewhere/arm");
    // Each step adds a file (and the overrides set) that must win over every
    // file added before it.
    let steps: [Step; 5] = [
        (
            "src/target/aarch64-unknown-linux-musl/gateway/branchyard-gateway",
            &[],
            Source::SourceTree,
        ),
        (
            "prefix/bin/branchyard-gateway-aarch64",
            &[],
            Source::BesideExe,
        ),
        (
            "prefix/lib/branchyard/branchyard-gateway-aarch64",
            &[],
            Source::Installed,
        ),
        (any, &[(BIN_VAR, any)], Source::Var(BIN_VAR)),
        (
            arm,
            &[(BIN_VAR, any), (arch_var, arm)],
            Source::Var(arch_var),
        ),
    ];
    for (rel, set, want) in steps {
        let file = t.binary(rel, Arch::Aarch64);
        let vars: Vec<(&str, PathBuf)> = set.iter().map(|(v, r)| (*v, t.path(r))).collect();
        let found = t.lookup(&vars).locate(Arch::Aarch64).unwrap();
        assert_eq!(found.source, want, "after adding {rel}");
        assert!(same(&found.path, &file), "after adding {rel}: {found}");
    }
}

#[test]
fn each_architecture_finds_its_own_file_in_the_same_layout() {
    let t = Tree::new();
    t.binary(
        "prefix/lib/branchyard/branchyard-gateway-x86_64",
        Arch::X86_64,
    );
    t.binary(
        "prefix/lib/branchyard/branchyard-gateway-aarch64",
        Arch::Aarch64,
    );
    let arm_only = t.path("elsewhere/arm");
    let l = t.lookup(&[("BRANCHYARD_GATEWAY_BIN_AARCH64", arm_only)]);
    let x86 = l.load(Arch::X86_64).unwrap();
    assert_eq!(x86.arch, Arch::X86_64);
    assert!(x86.place.path.ends_with("branchyard-gateway-x86_64"));
    assert_eq!(x86.sha.len(), 64);
    // The aarch64 override does not hide the x86_64 binary, and is the only
    // place for aarch64: its file is missing, so nothing else is tried.
    let e = l.load(Arch::Aarch64).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, GatewayError::BinaryMissing { .. }), "{msg}");
    assert!(msg.contains("$BRANCHYARD_GATEWAY_BIN_AARCH64"), "{msg}");
    assert!(!msg.contains("installed package"), "{msg}");
}

#[test]
fn a_missing_binary_names_every_place_looked_at_and_how_to_build_it() {
    let t = Tree::new();
    let e = t.lookup(&[]).locate(Arch::Aarch64).unwrap_err();
    let msg = e.to_string();
    for needle in [
        "no gateway binary for aarch64",
        "lib/branchyard/branchyard-gateway-aarch64 (installed package)",
        "bin/branchyard-gateway-aarch64 (beside the executable)",
        "target/aarch64-unknown-linux-musl/gateway/branchyard-gateway (source tree)",
        "scripts/setup",
        "cargo zigbuild -p branchyard-gateway --profile gateway --target aarch64-unknown-linux-musl",
        "BRANCHYARD_GATEWAY_BIN_AARCH64",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in: {msg}");
    }
}

#[test]
fn a_binary_for_another_cpu_is_refused_before_any_image_is_built() {
    let t = Tree::new();
    let x86 = t.binary("elsewhere/x86", Arch::X86_64);
    let e = t.lookup(&[(BIN_VAR, x86)]).load(Arch::Aarch64).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, GatewayError::BinaryWrongArch { .. }), "{msg}");
    assert!(
        msg.contains("is an x86_64 binary, but the Docker engine is aarch64"),
        "{msg}"
    );
    assert!(msg.contains("BRANCHYARD_GATEWAY_BIN_AARCH64"), "{msg}");

    let text = t.path("elsewhere/script");
    std::fs::write(&text, "#!/bin/sh\n").unwrap();
    let e = t
        .lookup(&[("BRANCHYARD_GATEWAY_BIN_X86_64", text)])
        .load(Arch::X86_64)
        .unwrap_err();
    assert!(e.to_string().contains("not a 64-bit ELF"), "{e}");
}

#[test]
fn only_a_little_endian_64_bit_elf_has_a_machine() {
    assert_eq!(elf_machine(&elf_header(183)), Some(183));
    let mut be = elf_header(183);
    be[5] = 2;
    assert_eq!(elf_machine(&be), None);
    let mut elf32 = elf_header(62);
    elf32[4] = 1;
    assert_eq!(elf_machine(&elf32), None);
    assert_eq!(elf_machine(b"\x7fELF"), None);
}
