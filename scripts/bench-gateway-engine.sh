#!/usr/bin/env bash
# Benchmark: wake on request against a plain `branchyard start`, in one run.
# A one-service busybox httpd preview (`init: true`), 5 rounds of each,
# interleaved, with `branchyard serve` following the gateway's events:
#   peer: `branchyard stop`, then `branchyard start` and the first 200 through the gateway;
#   wake: `branchyard stop`, then one plain request (held by the gateway) until its 200.
# The figure is the wake's overhead beyond the peer (target ≤ 200 ms).
# Figures go to target/bench/gateway-engine.json; the summary line is printed.
# BENCH_GATEWAY / BENCH_HTTP_PORT / BENCH_HTTPS_PORT pick the gateway it makes (and removes).
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-5}
GATEWAY=${BENCH_GATEWAY:-branchyard-gateway-bench}
HTTP_PORT=${BENCH_HTTP_PORT:-18580}
HTTPS_PORT=${BENCH_HTTPS_PORT:-18543}
cd "$ROOT"
# Packages, the musl target, dockerd and the static gateway the engine runs.
setup_all
cargo build -q -p branchyard-cli --release
BY="$ROOT/target/release/branchyard"
OUT="$ROOT/target/bench"
mkdir -p "$OUT"
WORK=$(mktemp -d)
export BRANCHYARD_HOME="$WORK/home"
export BRANCHYARD_EXTRA_LABELS="dev.branchyard.test=1"
export BRANCHYARD_GATEWAY_NAME="$GATEWAY"
SERVE_PID=
cleanup() {
  cd /
  [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
  "$BY" down bench main >/dev/null 2>&1
  docker rm -f "$GATEWAY" >/dev/null 2>&1
  docker volume rm "$GATEWAY-data" >/dev/null 2>&1
  docker network rm "$GATEWAY-net" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

# The base image: busybox FROM scratch (no registry here).
mkdir -p "$WORK/img" && cp /bin/busybox "$WORK/img/"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\nLABEL dev.branchyard.test=1\n' > "$WORK/img/Dockerfile"
docker build -q -t branchyard-bench-busybox:1 "$WORK/img" >/dev/null

mkdir -p "$WORK/repo/www" && cd "$WORK/repo"
printf 'services:\n  web:\n    image: branchyard-bench-busybox:1\n    init: true\n    expose: ["8080"]\n    volumes: ["./www:/www"]\n    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]\n' > compose.yaml
echo awake > www/index.html
git init -q -b main . && git add -A && git -c user.name=b -c user.email=b@b commit -qm bench
"$BY" settings set gateway.http_port "$HTTP_PORT" >/dev/null
"$BY" settings set gateway.https_port "$HTTPS_PORT" >/dev/null
"$BY" repo add "$WORK/repo" --name bench >/dev/null
"$BY" up bench main >/dev/null
"$BY" serve >"$WORK/serve.log" 2>&1 & SERVE_PID=$!
sleep 2

now() { date +%s.%N; }
# b - a in seconds, with a leading zero (bc leaves it out, and JSON needs it).
since() { echo "$2 - $1" | bc | awk '{printf "%.4f", $1}'; }
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 70 -H 'Host: main.bench.localhost' "http://127.0.0.1:$HTTP_PORT/"; }

declare -a PEER START WAKE
for r in $(seq 1 "$ROUNDS"); do
  "$BY" stop bench main >/dev/null
  t0=$(now); "$BY" start bench main >/dev/null; t1=$(now)
  until [ "$(status)" = 200 ]; do sleep 0.005; done; t2=$(now)
  START+=("$(since "$t0" "$t1")"); PEER+=("$(since "$t0" "$t2")")

  "$BY" stop bench main >/dev/null
  t0=$(now); code=$(status); t1=$(now)
  [ "$code" = 200 ] || { echo "round $r: the woken request answered $code" >&2; tail -20 "$WORK/serve.log" >&2; exit 1; }
  WAKE+=("$(since "$t0" "$t1")")
done

p=$(median "${PEER[@]}"); s=$(median "${START[@]}"); w=$(median "${WAKE[@]}")
overhead_ms=$(echo "($w - $p) * 1000" | bc | awk '{printf "%.0f", $1}')
cat > "$OUT/gateway-engine.json" <<JSON
{
  "rounds": $ROUNDS,
  "peer_start_then_first_200_median_s": $p,
  "peer_start_command_median_s": $s,
  "wake_request_to_200_median_s": $w,
  "peer_s": [$(IFS=,; echo "${PEER[*]}")],
  "wake_s": [$(IFS=,; echo "${WAKE[*]}")],
  "wake_overhead_ms": $overhead_ms,
  "target_wake_overhead_ms": 200,
  "load_average_at_end": "$(cut -d' ' -f1-3 /proc/loadavg)"
}
JSON
echo "gateway-engine bench: start → first 200 ${p}s (the command alone ${s}s); wake request → 200 ${w}s; wake overhead ${overhead_ms} ms (target ≤ 200 ms) → $OUT/gateway-engine.json"
