#!/usr/bin/env bash
# Benchmark: the gateway against nginx and Caddy in one run, on loopback.
#
# One small upstream (1 KB body, crates/gateway/examples/bench-upstream.rs) is
# reached directly, through branchyard-gateway on the host, through the same
# gateway in its FROM-scratch container (built as the engine builds it), through
# nginx (1 worker per core, upstream keepalive) and through Caddy (reverse_proxy),
# each routing by Host. wrk drives 32 connections for 10 s, ROUNDS rounds (5;
# the issue asks for 3) of every target, plain and TLS, each round in a new
# random order; the gateway/nginx ratios are also taken round by round. Also:
# the CPU each proxy spends per request, the gateway's peak RSS (VmHWM) and
# route push -> first 200 for a new host. Figures: target/bench/gateway.json.
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
PUSHES=${PUSHES:-20}
cd "$ROOT"

need=()
for p in wrk nginx caddy jq openssl curl; do command -v "$p" >/dev/null || need+=("$p"); done
command -v pgrep >/dev/null || need+=(procps)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need[@]}" >/dev/null
fi
ensure_rust_target
ensure_docker

log "building the gateway (host and musl) and the bench upstream, profile gateway (as shipped)"
cargo build -q -p branchyard-gateway --profile gateway --bin branchyard-gateway --example bench-upstream
cargo build -q -p branchyard-gateway --profile gateway --target "$MUSL_TARGET" --bin branchyard-gateway --example bench-upstream
TD="${CARGO_TARGET_DIR:-$ROOT/target}"
# GATEWAY_BIN= benchmarks another build of the gateway (an older commit's) on the host.
GW_BIN="${GATEWAY_BIN:-$TD/gateway/branchyard-gateway}"
UP_BIN="$TD/gateway/examples/bench-upstream"
MUSL_BIN="$TD/$MUSL_TARGET/gateway/branchyard-gateway"
MUSL_UP_BIN="$TD/$MUSL_TARGET/gateway/examples/bench-upstream"
OUT="${CARGO_TARGET_DIR:-$ROOT/target}/bench"
mkdir -p "$OUT"

WORK=$(mktemp -d)
TOKEN=benchbenchbenchbenchbenchbench00
NAME=branchyard-gateway-bench-$$
IMAGE=branchyard-gateway-bench:$$
UP_NAME=branchyard-bench-upstream-$$
UP_IMAGE=branchyard-bench-upstream:$$
NET=branchyard-bench-$$
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  docker rm -f "$NAME" "$UP_NAME" >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  docker rmi "$IMAGE" "$UP_IMAGE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || shuf -i 20000-60000 -n 1; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing listens on $1" >&2; return 1; }

UP=$(free_port); GW=$(free_port); GWT=$(free_port); GWA=$(free_port)
NG=$(free_port); NGT=$(free_port); CA=$(free_port); CAT=$(free_port)
CGW=$(free_port); CGWA=$(free_port)
HOST=bench.localhost
# TLS clients need a name that resolves: wrk's SNI is its URL's host.
THOST=localhost

log "certificates (openssl: a CA and a leaf for $THOST)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
  -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$THOST" \
  -keyout "$WORK/leaf.key" -out "$WORK/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s\n' "$THOST" > "$WORK/ext"
openssl x509 -req -in "$WORK/leaf.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
  -days 2 -extfile "$WORK/ext" -out "$WORK/leaf.pem" 2>/dev/null
cat "$WORK/leaf.pem" "$WORK/ca.pem" > "$WORK/chain.pem"

"$UP_BIN" serve "127.0.0.1:$UP" 2>/dev/null & UP_PID=$!; PIDS+=("$UP_PID")
route_json() { # host upstream [tls]
  if [ "${3:-}" = tls ]; then
    jq -n --arg h "$1" --arg u "$2" --rawfile c "$WORK/chain.pem" --rawfile k "$WORK/leaf.key" \
      '{host:$h, upstream:$u, preview:"bench.bench", repo:"bench", branch:"bench", tls:{cert_pem:$c, key_pem:$k}}'
  else
    jq -n --arg h "$1" --arg u "$2" '{host:$h, upstream:$u, preview:"bench.bench", repo:"bench", branch:"bench"}'
  fi
}
push_routes() { # admin-port upstream
  jq -s . <(route_json "$HOST" "$2") <(route_json "$THOST" "$2" tls) > "$WORK/routes.json"
  curl -sf -X PUT -H "authorization: Bearer $TOKEN" --data-binary @"$WORK/routes.json" \
    "http://127.0.0.1:$1/routes" >/dev/null
}

log "branchyard-gateway on the host"
mkdir -p "$WORK/gw"
BRANCHYARD_GATEWAY_TOKEN=$TOKEN BRANCHYARD_GATEWAY_LISTEN=127.0.0.1:$GW \
  BRANCHYARD_GATEWAY_TLS_LISTEN=127.0.0.1:$GWT BRANCHYARD_GATEWAY_ADMIN_LISTEN=127.0.0.1:$GWA \
  BRANCHYARD_GATEWAY_STATE="$WORK/gw/routes.json" RUST_LOG=warn "$GW_BIN" 2>"$WORK/gw.log" & GW_PID=$!
PIDS+=("$GW_PID")
wait_port "$GWA"
push_routes "$GWA" "127.0.0.1:$UP"

# As the engine runs it: FROM scratch, HTTP published on 127.0.0.1, the upstream
# (the same program, static too) a container on a network the gateway joins.
log "branchyard-gateway in its container (FROM scratch, as the engine builds it)"
mkdir -p "$WORK/img" "$WORK/upimg"
cp "$MUSL_BIN" "$WORK/img/branchyard-gateway"
printf 'FROM scratch\nCOPY branchyard-gateway /branchyard-gateway\nEXPOSE 80 443 2019\nLABEL dev.branchyard.test=1\nENTRYPOINT ["/branchyard-gateway"]\n' > "$WORK/img/Dockerfile"
cp "$MUSL_UP_BIN" "$WORK/upimg/bench-upstream"
printf 'FROM scratch\nCOPY bench-upstream /bench-upstream\nLABEL dev.branchyard.test=1\nENTRYPOINT ["/bench-upstream", "serve", "0.0.0.0:8080"]\n' > "$WORK/upimg/Dockerfile"
docker build -q -t "$IMAGE" "$WORK/img" >/dev/null 2>&1
docker build -q -t "$UP_IMAGE" "$WORK/upimg" >/dev/null 2>&1
docker network create --label dev.branchyard.test=1 "$NET" >/dev/null
docker run -d --name "$UP_NAME" --label dev.branchyard.test=1 --network "$NET" "$UP_IMAGE" >/dev/null
docker run -d --name "$NAME" --label dev.branchyard.test=1 --network "$NET" -e BRANCHYARD_GATEWAY_TOKEN=$TOKEN \
  -e BRANCHYARD_GATEWAY_STATE=/tmp/routes.json -p "127.0.0.1:$CGW:80" -p "127.0.0.1:$CGWA:2019" \
  "$IMAGE" >/dev/null
wait_port "$CGWA"
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$CGWA/healthz" >/dev/null && break; sleep 0.05; done
push_routes "$CGWA" "$UP_NAME:8080"

log "nginx ($(nproc) workers, upstream keepalive)"
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
user root;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body; proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fcgi; uwsgi_temp_path $WORK/nginx/uwsgi; scgi_temp_path $WORK/nginx/scgi;
  upstream app { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$NG; server_name $HOST;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host \$host; } }
  server { listen 127.0.0.1:$NGT ssl http2; server_name $THOST;
    ssl_certificate $WORK/chain.pem; ssl_certificate_key $WORK/leaf.key;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host \$host; } }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' 2>"$WORK/nginx/stderr" & NG_PID=$!; PIDS+=("$NG_PID")
wait_port "$NG"

log "Caddy (reverse_proxy)"
mkdir -p "$WORK/caddy"
cat > "$WORK/caddy/Caddyfile" <<EOF
{
  admin off
  auto_https off
}
http://$HOST:$CA {
  bind 127.0.0.1
  reverse_proxy 127.0.0.1:$UP
}
https://$THOST:$CAT {
  bind 127.0.0.1
  tls $WORK/chain.pem $WORK/leaf.key
  reverse_proxy 127.0.0.1:$UP
}
EOF
HOME="$WORK/caddy" XDG_DATA_HOME="$WORK/caddy" XDG_CONFIG_HOME="$WORK/caddy" \
  caddy run --config "$WORK/caddy/Caddyfile" --adapter caddyfile >"$WORK/caddy/log" 2>&1 & CA_PID=$!; PIDS+=("$CA_PID")
wait_port "$CA"

# Every target answers 200 with the 1 KB body before anything is measured.
check() { # name url host
  local got
  got=$(curl -sk --cacert "$WORK/ca.pem" -H "host: $3" -o /dev/null -w '%{http_code}:%{size_download}' "$2")
  [ "$got" = "200:1024" ] || { echo "$1 answers $got at $2 (host $3)" >&2; exit 1; }
}
check direct "http://127.0.0.1:$UP/" "$HOST"
check gateway "http://127.0.0.1:$GW/" "$HOST"
check gateway-container "http://127.0.0.1:$CGW/" "$HOST"
check nginx "http://127.0.0.1:$NG/" "$HOST"
check caddy "http://127.0.0.1:$CA/" "$HOST"
for pair in "gateway:$GWT" "nginx:$NGT" "caddy:$CAT"; do
  curl -sf --cacert "$WORK/ca.pem" -o /dev/null "https://$THOST:${pair#*:}/" || { echo "${pair%%:*} fails over TLS" >&2; exit 1; }
done

# wrk --latency: requests/s, p50 and p99 in ms.
to_ms() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.3f", n }'; }
run_wrk() { # url host -> "rps p50 p99 requests"
  local out rps p50 p99 n
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "Host: $2" "$1")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers from $1" >&2; grep Non-2xx <<<"$out" >&2; fi
  echo "$rps $p50 $p99 $n"
}
# CPU the serving processes used (user + system, clock ticks): less noisy than
# latency on a shared machine, and what a proxy costs the developer's laptop.
cpu_ticks() { for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{t+=$1} END {print t+0}'; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

declare -A RPS P50 P99
PLAIN=(direct gateway gateway_container nginx caddy)
TLS=(gateway_tls nginx_tls caddy_tls)
url_of() {
  case $1 in
    direct) echo "http://127.0.0.1:$UP/ $HOST" ;;
    gateway) echo "http://127.0.0.1:$GW/ $HOST" ;;
    gateway_container) echo "http://127.0.0.1:$CGW/ $HOST" ;;
    nginx) echo "http://127.0.0.1:$NG/ $HOST" ;;
    caddy) echo "http://127.0.0.1:$CA/ $HOST" ;;
    gateway_tls) echo "https://$THOST:$GWT/ $THOST" ;;
    nginx_tls) echo "https://$THOST:$NGT/ $THOST" ;;
    caddy_tls) echo "https://$THOST:$CAT/ $THOST" ;;
  esac
}
pids_of() { # the processes that serve target $1
  case $1 in
    direct) echo "$UP_PID" ;;
    gateway|gateway_tls) echo "$GW_PID" ;;
    # Docker's userland port proxy in front of it is not counted (see the README).
    gateway_container) docker inspect -f '{{.State.Pid}}' "$NAME" ;;
    nginx|nginx_tls) pgrep -P "$NG_PID" | tr '\n' ' ' ;;
    caddy|caddy_tls) echo "$CA_PID" ;;
  esac
}
declare -A CPU PAIR_RPS PAIR_P99
# Each round runs every target once, in a new random order: the machine's
# speed drifts, and a fixed order handed the drift to whoever ran last. The
# gateway is compared with nginx round by round (paired ratios) as well as
# by medians.
for r in $(seq 1 "$ROUNDS"); do
  declare -A ROUND_RPS ROUND_P99
  for t in $(shuf -e "${PLAIN[@]}" "${TLS[@]}"); do
    log "round $r/$ROUNDS: $t"
    read -r url host <<<"$(url_of "$t")"
    # shellcheck disable=SC2046
    pids=$(pids_of "$t"); before=$(cpu_ticks $pids)
    read -r rps p50 p99 n <<<"$(run_wrk "$url" "$host")"
    # shellcheck disable=SC2046
    after=$(cpu_ticks $pids)
    RPS[$t]+="$rps "; P50[$t]+="$p50 "; P99[$t]+="$p99 "
    CPU[$t]+="$(awk -v a="$before" -v b="$after" -v n="$n" -v u="$TICK_US" 'BEGIN { printf "%.2f", (n>0)? (b-a)*u/n : 0 }') "
    ROUND_RPS[$t]=$rps; ROUND_P99[$t]=$p99
  done
  for pair in gateway:nginx gateway_tls:nginx_tls; do
    a=${pair%%:*}; b=${pair#*:}
    PAIR_RPS[$a]+="$(ratio "${ROUND_RPS[$a]}" "${ROUND_RPS[$b]}") "
    PAIR_P99[$a]+="$(ratio "${ROUND_P99[$a]}" "${ROUND_P99[$b]}") "
  done
done

rss_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
GW_HWM=$(rss_kb "$GW_PID")
CPID=$(docker inspect -f '{{.State.Pid}}' "$NAME" 2>/dev/null || echo 0)
CGW_HWM=$(rss_kb "$CPID")

log "route push -> first 200 ($PUSHES new hosts)"
PUSH_MS=()
for i in $(seq 1 "$PUSHES"); do
  PUSH_MS+=("$("$UP_BIN" push "127.0.0.1:$GWA" "$TOKEN" "127.0.0.1:$GW" "new$i.bench.localhost" "127.0.0.1:$UP")")
done

declare -A MR MP50 MP99 MCPU
for t in "${PLAIN[@]}" "${TLS[@]}"; do
  # shellcheck disable=SC2086
  MR[$t]=$(median ${RPS[$t]}); MP50[$t]=$(median ${P50[$t]}); MP99[$t]=$(median ${P99[$t]}); MCPU[$t]=$(median ${CPU[$t]})
done
paired() { # name values... -> JSON object: median, min, max, all
  local name=$1; shift
  echo "\"$name\": { \"median\": $(median "$@"), \"min\": $(min "$@"), \"max\": $(max "$@"), \"all\": [$(list "$@")] }"
}
push_med=$(median "${PUSH_MS[@]}"); push_max=$(max "${PUSH_MS[@]}")

{
  echo "{"
  echo "  \"rounds\": $ROUNDS, \"duration\": \"$DURATION\", \"connections\": $CONNS, \"wrk_threads\": $THREADS, \"body_bytes\": 1024, \"cores\": $(nproc),"
  for t in "${PLAIN[@]}" "${TLS[@]}"; do
    # shellcheck disable=SC2086
    echo "  \"$t\": { \"rps_median\": ${MR[$t]}, \"p50_ms_median\": ${MP50[$t]}, \"p99_ms_median\": ${MP99[$t]}, \"cpu_us_per_request_median\": ${MCPU[$t]}, \"rps\": [$(list ${RPS[$t]})], \"p99_ms\": [$(list ${P99[$t]})], \"cpu_us_per_request\": [$(list ${CPU[$t]})] },"
  done
  echo "  \"ratios\": {"
  echo "    \"gateway_vs_nginx_rps\": $(ratio "${MR[gateway]}" "${MR[nginx]}"), \"gateway_vs_caddy_rps\": $(ratio "${MR[gateway]}" "${MR[caddy]}"),"
  echo "    \"gateway_vs_direct_rps\": $(ratio "${MR[gateway]}" "${MR[direct]}"), \"gateway_p99_vs_nginx_p99\": $(ratio "${MP99[gateway]}" "${MP99[nginx]}"),"
  echo "    \"gateway_container_vs_nginx_rps\": $(ratio "${MR[gateway_container]}" "${MR[nginx]}"),"
  echo "    \"gateway_tls_vs_nginx_tls_rps\": $(ratio "${MR[gateway_tls]}" "${MR[nginx_tls]}"), \"gateway_tls_vs_caddy_tls_rps\": $(ratio "${MR[gateway_tls]}" "${MR[caddy_tls]}"),"
  echo "    \"gateway_tls_p99_vs_nginx_tls_p99\": $(ratio "${MP99[gateway_tls]}" "${MP99[nginx_tls]}"),"
  echo "    \"gateway_vs_nginx_cpu_per_request\": $(ratio "${MCPU[gateway]}" "${MCPU[nginx]}"), \"gateway_tls_vs_nginx_tls_cpu_per_request\": $(ratio "${MCPU[gateway_tls]}" "${MCPU[nginx_tls]}")"
  echo "  },"
  echo "  \"paired_by_round\": {"
  # shellcheck disable=SC2086
  echo "    $(paired gateway_vs_nginx_rps ${PAIR_RPS[gateway]}), $(paired gateway_vs_nginx_p99 ${PAIR_P99[gateway]}),"
  # shellcheck disable=SC2086
  echo "    $(paired gateway_tls_vs_nginx_tls_rps ${PAIR_RPS[gateway_tls]}), $(paired gateway_tls_vs_nginx_tls_p99 ${PAIR_P99[gateway_tls]})"
  echo "  },"
  echo "  \"gateway_rss_peak_kb\": $GW_HWM, \"gateway_container_rss_peak_kb\": $CGW_HWM,"
  echo "  \"route_push_to_first_200_ms\": { \"median\": $push_med, \"max\": $push_max, \"all\": [$(list "${PUSH_MS[@]}")] }"
  echo "}"
} > "$OUT/gateway.json"
jq . "$OUT/gateway.json" >/dev/null

printf '\n%-20s %10s %9s %9s %12s\n' target "req/s" "p50 ms" "p99 ms" "CPU us/req"
for t in "${PLAIN[@]}" "${TLS[@]}"; do printf '%-20s %10.0f %9.2f %9.2f %12.2f\n' "$t" "${MR[$t]}" "${MP50[$t]}" "${MP99[$t]}" "${MCPU[$t]}"; done
# shellcheck disable=SC2086
echo "paired by round, gateway/nginx: req/s median $(median ${PAIR_RPS[gateway]}) ($(min ${PAIR_RPS[gateway]})-$(max ${PAIR_RPS[gateway]})), p99 median $(median ${PAIR_P99[gateway]}) ($(min ${PAIR_P99[gateway]})-$(max ${PAIR_P99[gateway]})); TLS req/s $(median ${PAIR_RPS[gateway_tls]}), p99 $(median ${PAIR_P99[gateway_tls]})"
echo "gateway/nginx $(ratio "${MR[gateway]}" "${MR[nginx]}")x, gateway/caddy $(ratio "${MR[gateway]}" "${MR[caddy]}")x, TLS gateway/nginx $(ratio "${MR[gateway_tls]}" "${MR[nginx_tls]}")x, TLS gateway/caddy $(ratio "${MR[gateway_tls]}" "${MR[caddy_tls]}")x"
echo "gateway peak RSS $((GW_HWM / 1024)) MB (host), $((CGW_HWM / 1024)) MB (container); route push -> first 200: median $push_med ms, max $push_max ms"
echo "figures: $OUT/gateway.json"
