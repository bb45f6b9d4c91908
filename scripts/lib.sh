#!/usr/bin/env bash
# Shared by scripts/setup, scripts/run and scripts/test: make a bare Debian machine ready.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MUSL_TARGET=x86_64-unknown-linux-musl
# The gateway also ships for arm64 engines (Apple Silicon, Graviton): see build_gateway.
ARM64_MUSL_TARGET=aarch64-unknown-linux-musl

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: Docker, musl for the static gateway, busybox for test images,
# docker-compose 1.29 as the benchmark's peer, Tauri's system libraries, python3-venv
# for the aarch64 cross toolchain (ensure_zigbuild) and qemu-user-static to run that
# build in a test (no binfmt registration: the test calls qemu-aarch64-static itself),
# and for the engine tests iproute2 (a second dockerd in a network namespace) and
# podman (its Docker-compatible socket; about 10 s to install with what it pulls in).
APT_PACKAGES=(docker.io docker-compose musl-tools busybox-static git pkg-config libssl-dev
  libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev libsoup-3.0-dev
  xvfb xauth dbus-x11 dbus-daemon webkit2gtk-driver curl bc python3-venv qemu-user-static
  iproute2 podman)

ensure_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ensure_rust_target() {
  local installed
  installed="$(rustup target list --installed 2>/dev/null)"
  for t in "$MUSL_TARGET" "$ARM64_MUSL_TARGET"; do
    grep -qx "$t" <<<"$installed" || {
      log "adding rust target $t"
      rustup target add "$t"
    }
  done
}

# The aarch64 gateway is cross-built with cargo-zigbuild: zig's clang, with the musl
# headers and libc it carries for every CPU, compiles ring's and mimalloc's C and links
# (docs/decisions/0001-gateway-cross-toolchain.md). Both come from PyPI as wheels, into
# a virtualenv of their own, shared by every checkout and named by the pinned versions.
ZIGBUILD_VERSION=0.24.1
ZIGLANG_VERSION=0.17.1
ZIG_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/branchyard/zigbuild-$ZIGBUILD_VERSION-zig-$ZIGLANG_VERSION"

ensure_zigbuild() {
  [ -f "$ZIG_VENV/.complete" ] && return 0
  log "installing cargo-zigbuild $ZIGBUILD_VERSION and zig $ZIGLANG_VERSION (PyPI) into $ZIG_VENV"
  rm -rf "$ZIG_VENV"
  python3 -m venv "$ZIG_VENV" || {
    echo "python3 -m venv failed: install python3-venv (Debian) and run scripts/setup again" >&2
    return 1
  }
  "$ZIG_VENV/bin/pip" install -q --disable-pip-version-check \
    "cargo-zigbuild==$ZIGBUILD_VERSION" "ziglang==$ZIGLANG_VERSION"
  touch "$ZIG_VENV/.complete"
}

# No systemd on these machines: start dockerd ourselves when nothing answers.
ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  log "starting dockerd"
  as_root sh -c 'nohup dockerd >/tmp/dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "dockerd did not come up; see /tmp/dockerd.log" >&2
  tail -20 /tmp/dockerd.log >&2 || true
  return 1
}

# The gateway runs FROM scratch, so it must be a static musl binary; the engine picks
# the one for its CPU. x86_64 is built with Debian's musl-gcc (the benchmarked build),
# aarch64 with cargo-zigbuild, both with the gateway profile (fat LTO: on two cores it
# costs less CPU than a build without LTO, since dependencies then skip codegen).
build_gateway() {
  log "building the gateway (static musl binaries for x86_64 and aarch64)"
  (cd "$ROOT" && cargo build -q -p branchyard-gateway --profile gateway --target "$MUSL_TARGET")
  # The venv's python3 first: cargo-zigbuild runs zig as `python3 -m ziglang`.
  (cd "$ROOT" && PATH="$ZIG_VENV/bin:$PATH" cargo zigbuild -q -p branchyard-gateway \
    --profile gateway --target "$ARM64_MUSL_TARGET")
}

# Figures for the benchmarks. LC_ALL=C: sort -n reads the decimal point by locale.
median() { printf '%s\n' "$@" | LC_ALL=C sort -n | awk '{a[NR]=$1} END {print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
min() { printf '%s\n' "$@" | LC_ALL=C sort -n | head -1; }
max() { printf '%s\n' "$@" | LC_ALL=C sort -n | tail -1; }
# a/b to 3 places; 0 when b is missing or 0 (a failed run), so one bad round does not abort the rest.
ratio() { awk -v a="$1" -v b="${2:-0}" 'BEGIN { printf "%.3f", (b>0)? a/b : 0 }'; }
# Words as a JSON array's insides: 1 2 3 -> 1,2,3
list() { echo "$*" | tr ' ' ','; }

setup_all() {
  ensure_packages
  ensure_rust_target
  ensure_zigbuild
  ensure_docker
  build_gateway
}
