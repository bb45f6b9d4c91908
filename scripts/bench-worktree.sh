#!/usr/bin/env bash
# Benchmark: fresh worktree of a 20,000-file repo (Branchyard vs `git worktree add
# --detach`) and an update touching 10 files; medians of 5 rounds.
# Figures: target/bench/worktree.json. FILES=n to change the repo size;
# BENCH_DIR=/dev/shm to measure on tmpfs (no ext4 inode-allocation noise).
# Runs from anywhere: bash scripts/bench-worktree.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
command -v git >/dev/null || { echo "git is needed: apt-get install git" >&2; exit 1; }
log "building the benchmark (release)"
cargo build -q --release -p branchyard-core --example worktree_bench
log "running (${FILES:-20000} files, 5 rounds)"
"$ROOT/target/release/examples/worktree_bench"
