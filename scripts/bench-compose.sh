#!/usr/bin/env bash
# Benchmark: `up` to all-running and `down` to all-gone of a 6-service busybox
# project (images prebuilt, `init: true`), Branchyard against Debian's
# docker-compose 1.29 on the same compose file, 5 rounds each, in one run.
# Figures go to target/bench/compose.json; the summary line is printed.
# BRANCHYARD_BIN=path measures another build of the CLI (e.g. an older one).
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-5}
cd "$ROOT"
ensure_docker
if [ -z "${BRANCHYARD_BIN:-}" ]; then cargo build -q -p branchyard-cli --release; fi
BY="${BRANCHYARD_BIN:-$ROOT/target/release/branchyard}"
OUT="$ROOT/target/bench"
mkdir -p "$OUT"
WORK=$(mktemp -d)
export BRANCHYARD_HOME="$WORK/home"
export BRANCHYARD_EXTRA_LABELS="dev.branchyard.test=1"
export BRANCHYARD_GATEWAY_NAME=branchyard-gateway-bench
trap 'cd /; kill "$EV_PID" 2>/dev/null; docker-compose -p bybench -f "$WORK/repo/compose.yaml" down -t 1 >/dev/null 2>&1; "$BY" down bench main >/dev/null 2>&1; rm -rf "$WORK"' EXIT

# The base image: busybox FROM scratch (no registry here).
mkdir -p "$WORK/img" && cp /bin/busybox "$WORK/img/"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\nLABEL dev.branchyard.test=1\n' > "$WORK/img/Dockerfile"
docker build -q -t branchyard-bench-busybox:1 "$WORK/img" >/dev/null

mkdir -p "$WORK/repo" && cd "$WORK/repo"
{
  echo "services:"
  for i in 1 2 3 4 5 6; do
    printf '  s%s:\n    image: branchyard-bench-busybox:1\n    init: true\n    command: ["sleep", "3600"]\n' "$i"
  done
} > compose.yaml
git init -q -b main . && git add -A && git -c user.name=b -c user.email=b@b commit -qm bench
"$BY" repo add "$WORK/repo" --name bench >/dev/null

now() { date +%s.%N; }
# a - b, and a / b, as JSON numbers (bc would print .5 for 0.5).
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a - b }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
gone() { [ "$(docker ps -aq --filter "label=com.docker.compose.project=$1" | wc -l)" -eq 0 ]; }

# "up" is the time until all six containers run: Docker's own timestamp of
# the sixth `start` event, read afterwards from one `docker events` stream, so
# nothing polls Docker while the tools work (a `docker ps` loop costs a core
# on this 2-core machine, slowing what it measures). Branchyard's command
# also waits a settle window to catch services that exit at once, so its
# return time is recorded separately. "down" is each command's own time.
EVENTS="$WORK/events.txt"
docker events --filter type=container --filter event=start --filter label=com.docker.compose.project \
  --format '{{.TimeNano}} {{index .Actor.Attributes "com.docker.compose.project"}}' > "$EVENTS" &
EV_PID=$!
sleep 0.5
# all_started PROJECT T0: seconds from T0 to the sixth start of PROJECT after T0.
all_started() {
  for _ in $(seq 1 500); do
    t=$(awk -v p="$1" -v t0="$2" '$2 == p && $1 / 1e9 > t0 { n++; if ($1 > m) m = $1 } END { if (n >= 6) printf "%.6f", m / 1e9 - t0 }' "$EVENTS")
    if [ -n "$t" ]; then echo "$t"; return; fi
    sleep 0.01
  done
  echo "no six start events for $1" >&2; exit 1
}
declare -a BY_UP BY_RET BY_DOWN DC_UP DC_DOWN
for r in $(seq 1 "$ROUNDS"); do
  t0=$(now); "$BY" up bench main >/dev/null; t1r=$(now)
  BY_UP+=("$(all_started bench--main "$t0")")
  "$BY" down bench main >/dev/null; t2=$(now); gone bench--main || { echo "branchyard down left containers" >&2; exit 1; }
  BY_RET+=("$(sub "$t1r" "$t0")"); BY_DOWN+=("$(sub "$t2" "$t1r")")
  t0=$(now); docker-compose -p bybench up -d >/dev/null 2>&1; t1r=$(now)
  DC_UP+=("$(all_started bybench "$t0")")
  docker-compose -p bybench down >/dev/null 2>&1; t2=$(now); gone bybench || { echo "docker-compose down left containers" >&2; exit 1; }
  DC_DOWN+=("$(sub "$t2" "$t1r")")
done
kill "$EV_PID" 2>/dev/null || true

# The floor: six `docker run -d` in parallel on one network, no orchestration
# at all; and for down, one `docker stop` of all six (it stops them in
# parallel, gracefully), one `docker rm`, one `docker network rm`.
declare -a RAW_UP RAW_DOWN
for r in $(seq 1 "$ROUNDS"); do
  docker network create --label dev.branchyard.test=1 bybench-raw >/dev/null
  t0=$(now)
  for i in 1 2 3 4 5 6; do
    docker run -d --init --network bybench-raw --label dev.branchyard.test=1 --name "bybench-raw-$i" branchyard-bench-busybox:1 sleep 3600 >/dev/null &
  done
  wait; t1=$(now)
  RAW_UP+=("$(sub "$t1" "$t0")")
  t1=$(now)
  docker stop bybench-raw-1 bybench-raw-2 bybench-raw-3 bybench-raw-4 bybench-raw-5 bybench-raw-6 >/dev/null
  docker rm bybench-raw-1 bybench-raw-2 bybench-raw-3 bybench-raw-4 bybench-raw-5 bybench-raw-6 >/dev/null
  docker network rm bybench-raw >/dev/null
  t2=$(now)
  RAW_DOWN+=("$(sub "$t2" "$t1")")
done

raw=$(median "${RAW_UP[@]}"); rawd=$(median "${RAW_DOWN[@]}"); br=$(median "${BY_RET[@]}"); bu=$(median "${BY_UP[@]}"); bd=$(median "${BY_DOWN[@]}"); du=$(median "${DC_UP[@]}"); dd=$(median "${DC_DOWN[@]}")
ru=$(div "$bu" "$du"); rd=$(div "$bd" "$dd")
cat > "$OUT/compose.json" <<JSON
{
  "rounds": $ROUNDS,
  "services": 6,
  "branchyard": { "up_median_s": $bu, "up_command_returned_median_s": $br, "down_median_s": $bd, "up_s": [$(IFS=,; echo "${BY_UP[*]}")], "down_s": [$(IFS=,; echo "${BY_DOWN[*]}")] },
  "docker_compose_1_29": { "up_median_s": $du, "down_median_s": $dd, "up_s": [$(IFS=,; echo "${DC_UP[*]}")], "down_s": [$(IFS=,; echo "${DC_DOWN[*]}")] },
  "raw_docker_run_x6_parallel_median_s": $raw,
  "raw_docker_stop_rm_network_rm_median_s": $rawd,
  "ratio_down_vs_raw_docker": $(div "$bd" "$rawd"),
  "ratio_up_vs_raw_docker": $(div "$bu" "$raw"),
  "load_average_at_end": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "ratio_up": $ru, "target_up": 0.6,
  "ratio_down": $rd, "target_down": 0.5
}
JSON
echo "compose bench: floor (docker CLI) up ${raw}s, down ${rawd}s; up (all running) ${bu}s vs ${du}s; branchyard's command returned after ${br}s (ratio $ru, target ≤ 0.6); down ${bd}s vs ${dd}s (ratio $rd, target ≤ 0.5) → $OUT/compose.json"
