#!/usr/bin/env bash
# Benchmark: choosing the gitignored files to carry into a worktree (carry::plan)
# against `git ls-files --others --ignored --exclude-from=.worktreeinclude`, in a
# main working directory with 50,000 ignored files; medians of 7 rounds.
# Figures: target/bench/carry.json. FILES=n to change the size.
# Runs from anywhere: bash scripts/bench-carry.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
command -v git >/dev/null || { echo "git is needed: apt-get install git" >&2; exit 1; }
log "building the benchmark (release)"
cargo build -q --release -p branchyard-core --example carry_bench
log "running (${FILES:-50000} ignored files, 7 rounds)"
"$ROOT/target/release/examples/carry_bench"
