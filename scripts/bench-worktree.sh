#!/usr/bin/env bash
# Benchmark: fresh worktree of a 20,000-file repo (Branchyard vs `git worktree add`)
# and an update touching 10 files. Figures: target/bench/worktree.json.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
cargo run -q --release -p branchyard-core --example worktree_bench
