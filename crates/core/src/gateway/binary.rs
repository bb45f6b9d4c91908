//! Which static gateway binary goes into the image: the one built for the
//! engine's CPU architecture, found through an override, an installed package
//! or the source tree, in that order (docs/architecture.md, "The gateway binary").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::GatewayError;

/// The override that names one binary for whatever the engine runs on; it
/// is checked to be of the engine's architecture.
pub const BIN_VAR: &str = "BRANCHYARD_GATEWAY_BIN";

/// A CPU architecture the gateway is built for (always Linux, musl, static).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// x86_64, Docker's `amd64`.
    X86_64,
    /// aarch64, Docker's `arm64` (Apple Silicon, Graviton, Raspberry Pi 4+).
    Aarch64,
}

impl Arch {
    /// Every architecture a gateway binary is built for.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The architecture for an engine, from `docker info`'s `OSType` and
    /// `Architecture` (`uname -m` on Docker, Go's GOARCH names on Podman).
    ///
    /// # Errors
    /// [`GatewayError::UnsupportedEngine`] for a non-Linux engine or another CPU.
    pub fn for_engine(os: Option<&str>, arch: Option<&str>) -> Result<Arch, GatewayError> {
        let refuse = || GatewayError::UnsupportedEngine {
            os: os.unwrap_or("").to_string(),
            arch: arch.unwrap_or("").to_string(),
        };
        // An engine that does not say its OS is taken at its word on the CPU;
        // one that says anything but linux (Windows containers) cannot run it.
        if os.is_some_and(|o| !o.eq_ignore_ascii_case("linux")) {
            return Err(refuse());
        }
        match arch.map(str::to_ascii_lowercase).as_deref() {
            Some("x86_64" | "amd64") => Ok(Arch::X86_64),
            Some("aarch64" | "arm64") => Ok(Arch::Aarch64),
            _ => Err(refuse()),
        }
    }

    /// The name used in file names and messages: `x86_64`, `aarch64`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// The Rust target the binary is built for.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-musl",
            Arch::Aarch64 => "aarch64-unknown-linux-musl",
        }
    }

    /// The image platform, as Docker names it.
    pub fn platform(self) -> &'static str {
        match self {
            Arch::X86_64 => "linux/amd64",
            Arch::Aarch64 => "linux/arm64",
        }
    }

    /// The ELF header's `e_machine` for this CPU.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 62,
            Arch::Aarch64 => 183,
        }
    }

    /// The override naming this architecture's binary, e.g.
    /// `BRANCHYARD_GATEWAY_BIN_AARCH64`.
    pub fn bin_var(self) -> &'static str {
        match self {
            Arch::X86_64 => "BRANCHYARD_GATEWAY_BIN_X86_64",
            Arch::Aarch64 => "BRANCHYARD_GATEWAY_BIN_AARCH64",
        }
    }

    /// The binary's file name in an installed layout: `branchyard-gateway-<arch>`.
    pub fn file_name(self) -> String {
        format!("branchyard-gateway-{}", self.name())
    }

    /// The command that builds this binary from the source tree.
    pub fn build_command(self) -> String {
        // x86_64 uses Debian's musl-gcc; aarch64 needs a cross C compiler for
        // ring and mimalloc, which zig provides (docs/decisions/0001-gateway-cross-toolchain.md).
        let cargo = match self {
            Arch::X86_64 => "cargo build",
            Arch::Aarch64 => "cargo zigbuild",
        };
        format!(
            "{cargo} -p branchyard-gateway --profile gateway --target {}",
            self.rust_target()
        )
    }

    fn from_elf_machine(machine: u16) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.elf_machine() == machine)
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where gateway binaries are looked for: the overrides that are set, the
/// running executable's folder and the source tree's `target/`.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// Override variables that are set (and not empty), by name.
    overrides: BTreeMap<&'static str, PathBuf>,
    /// The folder of the running executable, symlinks resolved.
    exe_dir: Option<PathBuf>,
    /// The workspace's `target/` (a development build).
    target_dir: PathBuf,
}

impl Lookup {
    /// The running process's view: its environment, its executable and the
    /// source tree this crate was compiled in.
    pub fn from_process() -> Lookup {
        let exe_dir = std::env::current_exe()
            .ok()
            .map(|e| std::fs::canonicalize(&e).unwrap_or(e))
            .and_then(|e| e.parent().map(Path::to_path_buf));
        Lookup::new(
            |name| std::env::var_os(name).map(PathBuf::from),
            exe_dir,
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        )
    }

    /// A lookup over `var` (the environment), an executable's folder and a
    /// `target/` directory.
    pub fn new(
        var: impl Fn(&str) -> Option<PathBuf>,
        exe_dir: Option<PathBuf>,
        target_dir: PathBuf,
    ) -> Lookup {
        let overrides = std::iter::once(BIN_VAR)
            .chain(Arch::ALL.iter().map(|a| a.bin_var()))
            .filter_map(|name| {
                var(name)
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(|p| (name, p))
            })
            .collect();
        Lookup {
            overrides,
            exe_dir,
            target_dir,
        }
    }

    /// The places a binary for `arch` is looked for, in order. A set override
    /// is the only place: a wrong path there is an error, not a fallback.
    pub fn places(&self, arch: Arch) -> Vec<Place> {
        for var in [arch.bin_var(), BIN_VAR] {
            if let Some(p) = self.overrides.get(var) {
                return vec![Place {
                    path: p.clone(),
                    source: Source::Var(var),
                }];
            }
        }
        let mut places = Vec::new();
        if let Some(dir) = &self.exe_dir {
            // `/usr/bin/branchyard` → `/usr/lib/branchyard/branchyard-gateway-<arch>`.
            if let Some(prefix) = dir.parent() {
                places.push(Place {
                    path: prefix.join("lib/branchyard").join(arch.file_name()),
                    source: Source::Installed,
                });
            }
            places.push(Place {
                path: dir.join(arch.file_name()),
                source: Source::BesideExe,
            });
        }
        places.push(Place {
            path: self
                .target_dir
                .join(arch.rust_target())
                .join("gateway/branchyard-gateway"),
            source: Source::SourceTree,
        });
        places
    }

    /// The first place holding a binary for `arch`.
    ///
    /// # Errors
    /// [`GatewayError::BinaryMissing`] naming every place looked at.
    pub fn locate(&self, arch: Arch) -> Result<Place, GatewayError> {
        let places = self.places(arch);
        if let Some(found) = places.iter().find(|p| p.path.is_file()) {
            return Ok(found.clone());
        }
        Err(GatewayError::BinaryMissing {
            arch,
            looked: places.iter().map(Place::to_string).collect(),
            build: arch.build_command(),
            var: arch.bin_var(),
        })
    }

    /// The binary for `arch`, read and checked to be an ELF for that CPU.
    ///
    /// # Errors
    /// Missing, unreadable, or built for another CPU.
    pub fn load(&self, arch: Arch) -> Result<GatewayBinary, GatewayError> {
        let place = self.locate(arch)?;
        let bytes = std::fs::read(&place.path).map_err(|e| GatewayError::Io {
            path: place.path.display().to_string(),
            message: e.to_string(),
        })?;
        let machine = elf_machine(&bytes);
        if machine != Some(arch.elf_machine()) {
            return Err(GatewayError::BinaryWrongArch {
                path: place.to_string(),
                found: match machine {
                    None => "not a 64-bit ELF executable".to_string(),
                    Some(m) => match Arch::from_elf_machine(m) {
                        Some(a) => format!("an {a} binary"),
                        None => format!("an ELF binary for machine {m}"),
                    },
                },
                arch,
                var: arch.bin_var(),
                build: arch.build_command(),
            });
        }
        let sha = hex::encode(Sha256::digest(&bytes));
        Ok(GatewayBinary {
            arch,
            place,
            bytes,
            sha,
        })
    }
}

/// How a place came to be looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An override variable.
    Var(&'static str),
    /// An installed package: `<exe dir>/../lib/branchyard/`.
    Installed,
    /// Beside the executable (an unpacked archive, an app bundle's sidecar).
    BesideExe,
    /// The source tree's `target/` (development).
    SourceTree,
}

/// One place a gateway binary may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file.
    pub path: PathBuf,
    /// Why it is looked at.
    pub source: Source,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.path.display();
        match self.source {
            Source::Var(v) => write!(f, "{p} (from ${v})"),
            Source::Installed => write!(f, "{p} (installed package)"),
            Source::BesideExe => write!(f, "{p} (beside the executable)"),
            Source::SourceTree => write!(f, "{p} (source tree)"),
        }
    }
}

/// A gateway binary read from disk.
#[derive(Debug, Clone)]
pub struct GatewayBinary {
    /// The CPU it is built for.
    pub arch: Arch,
    /// Where it was found.
    pub place: Place,
    /// Its contents.
    pub bytes: Vec<u8>,
    /// Its sha256, hex.
    pub sha: String,
}

/// `e_machine` of a little-endian 64-bit ELF file; `None` for anything else.
/// Only the CPU is checked here: static linking is the build's business and
/// is tested on the built files.
fn elf_machine(bytes: &[u8]) -> Option<u16> {
    const ELFCLASS64: u8 = 2;
    const ELFDATA2LSB: u8 = 1;
    let head = bytes.get(..20)?;
    if head[..4] != *b"\x7fELF" || head[4] != ELFCLASS64 || head[5] != ELFDATA2LSB {
        return None;
    }
    Some(u16::from_le_bytes([head[18], head[19]]))
}

#[cfg(test)]
#[path = "binary_tests.rs"]
mod tests;
