#!/usr/bin/env bash
# Benchmark: `up` to all-running and `down` to all-gone of a 6-service busybox
# project (images prebuilt, `init: true`), Branchyard against Debian's
# docker-compose 1.29 on the same compose file, 5 rounds each, in one run.
# Figures go to target/bench/compose.json; the summary line is printed.
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-5}
cd "$ROOT"
ensure_docker
cargo build -q -p branchyard-cli --release
BY="$ROOT/target/release/branchyard"
OUT="$ROOT/target/bench"
mkdir -p "$OUT"
WORK=$(mktemp -d)
export BRANCHYARD_HOME="$WORK/home"
export BRANCHYARD_EXTRA_LABELS="dev.branchyard.test=1"
export BRANCHYARD_GATEWAY_NAME=branchyard-gateway-bench
trap 'cd /; docker-compose -p bybench -f "$WORK/repo/compose.yaml" down -t 1 >/dev/null 2>&1; "$BY" down bench main >/dev/null 2>&1; rm -rf "$WORK"' EXIT

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
running() { [ "$(docker ps -q --filter "label=com.docker.compose.project=$1" | wc -l)" -eq 6 ]; }
gone() { [ "$(docker ps -aq --filter "label=com.docker.compose.project=$1" | wc -l)" -eq 0 ]; }

# "up" is the time until all six containers run, observed from outside while the
# command works (both tools); Branchyard's command also waits a settle window to
# catch services that exit at once, so its return time is recorded separately.
declare -a BY_UP BY_RET BY_DOWN DC_UP DC_DOWN
for r in $(seq 1 "$ROUNDS"); do
  t0=$(now); "$BY" up bench main >/dev/null & pid=$!
  until running bench--main; do sleep 0.005; done; t1=$(now)
  wait $pid; t1r=$(now)
  "$BY" down bench main >/dev/null; until gone bench--main; do sleep 0.005; done; t2=$(now)
  BY_UP+=("$(echo "$t1 - $t0" | bc)"); BY_RET+=("$(echo "$t1r - $t0" | bc)"); BY_DOWN+=("$(echo "$t2 - $t1r" | bc)")
  t0=$(now); docker-compose -p bybench up -d >/dev/null 2>&1 & pid=$!
  until running bybench; do sleep 0.005; done; t1=$(now); wait $pid
  t1r=$(now)
  docker-compose -p bybench down >/dev/null 2>&1; until gone bybench; do sleep 0.005; done; t2=$(now)
  DC_UP+=("$(echo "$t1 - $t0" | bc)"); DC_DOWN+=("$(echo "$t2 - $t1r" | bc)")
done

# The floor: six `docker run -d` in parallel on one network, no orchestration at all.
declare -a RAW_UP
for r in $(seq 1 "$ROUNDS"); do
  docker network create --label dev.branchyard.test=1 bybench-raw >/dev/null
  t0=$(now)
  for i in 1 2 3 4 5 6; do
    docker run -d --init --network bybench-raw --label dev.branchyard.test=1 --name "bybench-raw-$i" branchyard-bench-busybox:1 sleep 3600 >/dev/null &
  done
  wait; t1=$(now)
  RAW_UP+=("$(echo "$t1 - $t0" | bc)")
  docker rm -f bybench-raw-1 bybench-raw-2 bybench-raw-3 bybench-raw-4 bybench-raw-5 bybench-raw-6 >/dev/null
  docker network rm bybench-raw >/dev/null
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
raw=$(median "${RAW_UP[@]}"); br=$(median "${BY_RET[@]}"); bu=$(median "${BY_UP[@]}"); bd=$(median "${BY_DOWN[@]}"); du=$(median "${DC_UP[@]}"); dd=$(median "${DC_DOWN[@]}")
ru=$(echo "scale=3; $bu / $du" | bc); rd=$(echo "scale=3; $bd / $dd" | bc)
cat > "$OUT/compose.json" <<JSON
{
  "rounds": $ROUNDS,
  "services": 6,
  "branchyard": { "up_median_s": $bu, "up_command_returned_median_s": $br, "down_median_s": $bd, "up_s": [$(IFS=,; echo "${BY_UP[*]}")], "down_s": [$(IFS=,; echo "${BY_DOWN[*]}")] },
  "docker_compose_1_29": { "up_median_s": $du, "down_median_s": $dd, "up_s": [$(IFS=,; echo "${DC_UP[*]}")], "down_s": [$(IFS=,; echo "${DC_DOWN[*]}")] },
  "raw_docker_run_x6_parallel_median_s": $raw,
  "ratio_up_vs_raw_docker": $(echo "scale=3; $bu / $raw" | bc),
  "load_average_at_end": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "ratio_up": $ru, "target_up": 0.6,
  "ratio_down": $rd, "target_down": 0.5
}
JSON
echo "compose bench: raw parallel docker run ${raw}s; up (all running) ${bu}s vs ${du}s; branchyard's command returned after ${br}s (ratio $ru, target ≤ 0.6); down ${bd}s vs ${dd}s (ratio $rd, target ≤ 0.5) → $OUT/compose.json"
